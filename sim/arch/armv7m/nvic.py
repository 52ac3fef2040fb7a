"""ARMv7-M exception state: NVIC lines plus the system exceptions' pending/active bits.

Not a bus device by itself (``scs.py`` maps its registers); the machine asks it
which exception to take next and tells it when one is entered or returns.
Priorities follow the architecture: lower number wins, only the *group* part
(above AIRCR.PRIGROUP) preempts, ties go to the lower exception number.
Reset/NMI/HardFault have fixed priorities -3/-2/-1. All 8 priority bits are
stored, as QEMU 7.2 does for the mps2 boards.

External interrupt lines are level-sensitive: a line that is still high when its
handler returns becomes pending again (QEMU's armv7m_nvic does the same).
"""

from __future__ import annotations

from typing import Any, Callable

NMI, HARDFAULT, MEMMANAGE, BUSFAULT, USAGEFAULT = 2, 3, 4, 5, 6
SVCALL, DEBUGMON, PENDSV, SYSTICK = 11, 12, 14, 15
FIRST_IRQ = 16
NO_PRIORITY = 0x100          # execution priority of Thread mode with nothing active


class Nvic:
    def __init__(self, num_irq: int):
        self.num_irq = num_irq
        self.on_pending: Callable[[], None] = lambda: None
        self.reset()

    def reset(self) -> None:
        n = FIRST_IRQ + self.num_irq
        self.priority = [0] * n
        self.priority[1], self.priority[NMI], self.priority[HARDFAULT] = -3, -2, -1
        self.enabled = [False] * n
        for e in (NMI, HARDFAULT, SVCALL, PENDSV, SYSTICK, DEBUGMON):
            self.enabled[e] = True   # system exceptions other than the 3 faults are always enabled
        self.pending = [False] * n
        self.active: list[int] = []      # activation order, innermost last
        self.level = [0] * n             # external line levels (bitmask of sources)
        self.prigroup = 0

    # -- lines and pending ----------------------------------------------------
    def set_line(self, irq: int, source_bit: int, high: bool) -> None:
        """Drive external interrupt ``irq`` from one of possibly several sources."""
        exc = FIRST_IRQ + irq
        old = self.level[exc]
        new = (old | source_bit) if high else (old & ~source_bit)
        self.level[exc] = new
        if new and not old:
            self.set_pending(exc)

    def set_pending(self, exc: int) -> None:
        if not self.pending[exc]:
            self.pending[exc] = True
            self.on_pending()

    def clear_pending(self, exc: int) -> None:
        self.pending[exc] = False

    @property
    def any_pending(self) -> bool:
        return True in self.pending

    # -- priority arithmetic -------------------------------------------------------
    def group(self, prio: int) -> int:
        if prio < 0:
            return prio
        return prio & ~((2 << self.prigroup) - 1) & 0xFF

    def execution_priority(self, primask: int = 0, basepri: int = 0, faultmask: int = 0) -> int:
        prio = NO_PRIORITY
        for e in self.active:
            prio = min(prio, self.group(self.priority[e]))
        if basepri & 0xFF:
            prio = min(prio, self.group(basepri & 0xFF))
        if primask & 1:
            prio = min(prio, 0)
        if faultmask & 1:
            prio = min(prio, -1)
        return prio

    def best_pending(self) -> int | None:
        """The enabled pending exception that would be taken first, if any."""
        pending = self.pending
        if True not in pending:
            return None
        first = pending.index(True)
        if True not in pending[first + 1:]:          # the usual case: one pending (e.g. SysTick)
            return first if self.enabled[first] and first not in self.active else None
        best, best_key = None, None
        for e in range(first, len(pending)):
            if pending[e] and self.enabled[e] and e not in self.active:
                key = (self.group(self.priority[e]), self.priority[e], e)
                if best_key is None or key < best_key:
                    best, best_key = e, key
        return best

    def should_take(self, primask: int = 0, basepri: int = 0, faultmask: int = 0) -> int | None:
        e = self.best_pending()
        if e is None:
            return None
        if self.group(self.priority[e]) < self.execution_priority(primask, basepri, faultmask):
            return e
        return None

    # -- entry / return ------------------------------------------------------
    def acknowledge(self, exc: int) -> None:
        self.pending[exc] = False
        self.active.append(exc)

    def complete(self, exc: int) -> None:
        if exc in self.active:
            self.active.remove(exc)
        if exc >= FIRST_IRQ and self.level[exc]:
            self.pending[exc] = True

    @property
    def current(self) -> int:
        return self.active[-1] if self.active else 0

    # -- capture ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"priority": list(self.priority), "enabled": list(self.enabled),
                "pending": list(self.pending), "active": list(self.active),
                "level": list(self.level), "prigroup": self.prigroup}

    def check_state(self, s: dict[str, Any]) -> None:
        n = FIRST_IRQ + self.num_irq
        if any(len(s[k]) != n for k in ("priority", "enabled", "pending", "level")):
            raise ValueError(f"nvic: tables must have {n} entries")
        if not all(-3 <= p <= 0xFF for p in s["priority"]) or not 0 <= s["prigroup"] <= 7:
            raise ValueError("nvic: a priority or the priority grouping is out of range")
        if len(set(s["active"])) != len(s["active"]) or not all(0 < e < n for e in s["active"]):
            raise ValueError("nvic: the active exceptions are not distinct exception numbers")
        if not all(v >= 0 for v in s["level"]):
            raise ValueError("nvic: a line level is negative")

    def load_state(self, s: dict[str, Any]) -> None:
        self.priority = list(s["priority"])
        self.enabled = list(s["enabled"])
        self.pending = list(s["pending"])
        self.active = list(s["active"])
        self.level = list(s["level"])
        self.prigroup = s["prigroup"]

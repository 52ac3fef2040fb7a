"""ARM CMSDK APB timer: 32-bit down-counter at the APB clock with reload and IRQ,
following QEMU's cmsdk-apb-timer (interrupt on the 1 -> 0 transition, counter
holds 0 for one clock then reloads; RELOAD == 0 means no further interrupts).

Like SysTick it is computed from virtual time rather than stepped; ``tick``
reports the next expiry so the machine stops the CPU exactly there.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Peripheral, register

NS = 1_000_000_000
CTRL, VALUE, RELOAD, INTSTATUS = 0x0, 0x4, 0x8, 0xC
EN, IRQEN = 1, 8
_ID = (0x04, 0x00, 0x00, 0x00, 0x22, 0xB8, 0x1B, 0x00, 0x0D, 0xF0, 0x05, 0xB1)


@register
class CmsdkTimer(Peripheral):
    type_name = "cmsdk_timer"
    clock_regs = frozenset({VALUE, INTSTATUS})

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.clock: Callable[[], int] = lambda: 0
        self.hz = int(spec.settings.get("pclk_hz", board.clock_hz))
        self.reset()

    def reset(self) -> None:
        self.ctrl = 0
        self.reload = 0
        self.intstatus = 0
        self.count = 0          # value while stopped
        self.t0 = 0
        self.v0 = 0
        self.expiries = 0
        self.set_irq("timer", False)

    def _running(self) -> bool:
        return bool(self.ctrl & EN) and (self.v0 > 0 or self.reload > 0)

    def _ticks(self, now: int) -> int:
        return (now - self.t0) * self.hz // NS

    def _expiries_by(self, e: int) -> int:
        if self.v0 == 0:
            return 0 if self.reload == 0 else (e // (self.reload + 1))
        if e < self.v0:
            return 0
        if self.reload == 0:
            return 1
        return 1 + (e - self.v0) // (self.reload + 1)

    def value(self, now: int) -> int:
        if not self._running():
            return self.count
        e = self._ticks(now)
        if self.v0 and e < self.v0:
            return self.v0 - e
        if self.reload == 0:
            return 0
        k = (e - self.v0) % (self.reload + 1)
        return 0 if k == 0 else self.reload + 1 - k

    def tick(self, now_ns: int) -> int | None:
        if not self._running():
            return None
        x = self._expiries_by(self._ticks(now_ns))
        if x > self.expiries:
            self.expiries = x
            if self.ctrl & IRQEN:
                self.intstatus = 1
                self.set_irq("timer", True)
        if self.reload == 0:
            if self.expiries or self.v0 == 0:
                self.count = 0
                return None
            nxt = self.v0
        else:
            nxt = self.v0 + self.expiries * (self.reload + 1) if self.v0 else (self.expiries + 1) * (self.reload + 1)
        return self.t0 + -(-nxt * NS // self.hz)

    def _restart(self, now: int, value: int) -> None:
        self.t0, self.v0, self.expiries = now, value, 0

    def read(self, offset: int, size: int) -> int:
        now = self.clock()
        if offset == CTRL:
            return self.ctrl
        if offset == VALUE:
            return self.value(now)
        if offset == RELOAD:
            return self.reload
        if offset == INTSTATUS:
            self.tick(now)
            return self.intstatus
        if 0xFD0 <= offset <= 0xFFC:
            return _ID[(offset - 0xFD0) // 4]
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        now = self.clock()
        if offset == CTRL:
            self.tick(now)
            cur = self.value(now)
            self.ctrl = value & 0xF
            self.count = cur
            if self.ctrl & EN:
                self._restart(now, cur)
        elif offset == RELOAD:
            self.tick(now)
            self.reload = value
            self.count = value
            if self.ctrl & EN:
                self._restart(now, value)
        elif offset == VALUE:
            self.tick(now)
            self.count = value
            if self.ctrl & EN:
                self._restart(now, value)
        elif offset == INTSTATUS:
            self.intstatus &= ~(value & 1)
            self.set_irq("timer", bool(self.intstatus))

    def state(self) -> dict[str, Any]:
        now = self.clock()
        return {"ctrl": self.ctrl, "reload": self.reload, "intstatus": self.intstatus,
                "value": self.value(now)}

    def load_state(self, s: dict[str, Any]) -> None:
        now = self.clock()
        self.ctrl, self.reload, self.intstatus = s["ctrl"], s["reload"], s["intstatus"]
        self.count = s["value"]
        self._restart(now, self.count)
        self.set_irq("timer", bool(self.intstatus))

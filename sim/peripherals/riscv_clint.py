"""RISC-V CLINT (SiFive core-local interruptor) for one hart, as QEMU's ``-M virt``
maps it (hw/intc/riscv_aclint.c: MSWI at +0x0, MTIMER at +0x4000 / mtime at +0xbff8).

``msip`` (+0x0, 32-bit, bit 0) drives the hart's machine software interrupt;
``mtimecmp`` (+0x4000, 64-bit) and ``mtime`` (+0xbff8, 64-bit) drive the machine
timer interrupt: MTIP is the level ``mtime >= mtimecmp``, re-evaluated on every
write and at the deadline this device reports to the run loop, so a tickless
firmware that programs mtimecmp far ahead costs nothing while it sleeps. mtime
counts at the board's ``refclk_hz`` (virt: 10 MHz) from virtual time; writing it
moves its origin, as QEMU does. 32-bit halves and 64-bit accesses both work.

The hart's interrupt inputs are read by the core (sim/arch/riscv) through
``mtip``/``msip``; ``on_change`` tells it when one moved.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Peripheral, register

MSIP, MTIMECMP, MTIME = 0x0, 0x4000, 0xBFF8
_NS = 1_000_000_000
_MASK64 = (1 << 64) - 1
_NEVER_NS = 1 << 62           # ~146 years away (e.g. mtimecmp = all ones): no deadline


@register
class RiscvClint(Peripheral):
    type_name = "riscv_clint"
    clock_regs = frozenset({MTIME, MTIME + 4})

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.clock: Callable[[], int] = lambda: 0
        self.on_change: Callable[[], None] = lambda: None
        self.hz = board.refclk_hz
        self.reset()

    # -- time ---------------------------------------------------------------------
    def mtime(self, now_ns: int | None = None) -> int:
        now = self.clock() if now_ns is None else now_ns
        return (now * self.hz // _NS + self.offset) & _MASK64

    def tick(self, now_ns: int) -> int | None:
        """Update MTIP; the next deadline is when mtime reaches mtimecmp."""
        t = self.mtime(now_ns)
        self._set_mtip(t >= self.mtimecmp)
        if self.mtip:
            return None
        ticks = self.mtimecmp - self.offset                   # mtime == mtimecmp at ticks / hz
        deadline = -(-ticks * _NS // self.hz)
        return deadline if deadline - now_ns < _NEVER_NS else None

    def _set_mtip(self, level: bool) -> None:
        if level != self.mtip:
            self.mtip = level
            self.on_change()

    # -- bus ------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset == MSIP:
            return int(self.msip)
        if MTIMECMP <= offset < MTIMECMP + 8:
            return (self.mtimecmp >> (8 * (offset - MTIMECMP))) & ((1 << 8 * size) - 1)
        if MTIME <= offset < MTIME + 8:
            return (self.mtime() >> (8 * (offset - MTIME))) & ((1 << 8 * size) - 1)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == MSIP:
            level = bool(value & 1)
            if level != self.msip:
                self.msip = level
                self.on_change()
        elif MTIMECMP <= offset < MTIMECMP + 8:
            self.mtimecmp = _merge(self.mtimecmp, offset - MTIMECMP, size, value)
            self.tick(self.clock())
        elif MTIME <= offset < MTIME + 8:
            now = self.clock()
            new = _merge(self.mtime(now), offset - MTIME, size, value)
            self.offset = new - now * self.hz // _NS
            self.tick(now)

    # -- life cycle -------------------------------------------------------------------
    def reset(self) -> None:
        self.msip = False
        self.mtip = False
        self.mtimecmp = 0                # QEMU 7.2: 0, and the reset's mtime write raises MTIP
        self.offset = -(self.clock() * self.hz // _NS)   # mtime = 0 at reset

    def state(self) -> dict[str, Any]:
        return {"msip": self.msip, "mtimecmp": self.mtimecmp, "offset": self.offset}

    def load_state(self, state: dict[str, Any]) -> None:
        self.msip, self.mtimecmp, self.offset = state["msip"], state["mtimecmp"], state["offset"]
        self.tick(self.clock())
        self.on_change()


def _merge(old: int, at: int, size: int, value: int) -> int:
    """Write ``size`` bytes of ``value`` at byte ``at`` of a 64-bit register."""
    shift, mask = 8 * at, ((1 << 8 * size) - 1) << 8 * at
    return (old & ~mask | (value << shift) & mask) & _MASK64

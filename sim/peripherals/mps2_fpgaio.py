"""MPS2 FPGA I/O block (AN385): LEDs, buttons, free-running 1 Hz / 100 Hz
counters and a prescaled counter, as QEMU's mps2-fpgaio models them.

Counters are derived from virtual time (``self.clock()``), never stepped, so they
cost nothing while the CPU runs. Buttons read as the host sets ``buttons``.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Peripheral, register

NS = 1_000_000_000
LED0, BUTTON, CLK1HZ, CLK100HZ, COUNTER, PRESCALE, PSCNTR, MISC = 0x0, 0x8, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x4C


@register
class Mps2FpgaIo(Peripheral):
    type_name = "mps2_fpgaio"
    clock_regs = frozenset({CLK1HZ, CLK100HZ, COUNTER, PSCNTR})

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.clock: Callable[[], int] = lambda: 0
        self.num_leds = int(spec.settings.get("num_leds", 2))
        self.prescale_clk = int(spec.settings.get("prescale_clk", board.clock_hz))
        self.on_leds: Callable[[int], None] | None = None
        self.buttons = 0
        self.reset()

    def reset(self) -> None:
        now = self.clock()
        self.led0 = 0
        self.prescale = 0
        self.misc = 0
        self.clk1hz_off = now
        self.clk100hz_off = now
        self.counter = 0
        self.pscntr = 0
        self.sync = now

    def _resync(self) -> None:
        now = self.clock()
        ticks = (now - self.sync) * self.prescale_clk // NS
        if ticks == 0:
            return
        if ticks < self.pscntr:
            self.pscntr -= ticks
        elif self.prescale == 0:
            self.counter = (self.counter + ticks - self.pscntr) & 0xFFFFFFFF
            self.pscntr = 0
        else:
            y = ticks - self.pscntr + self.prescale
            self.pscntr = self.prescale - y % (self.prescale + 1)
            self.counter = (self.counter + y // (self.prescale + 1)) & 0xFFFFFFFF
        self.sync += ticks * NS // self.prescale_clk

    def read(self, offset: int, size: int) -> int:
        if offset == LED0:
            return self.led0
        if offset == BUTTON:
            return self.buttons & 3
        if offset == CLK1HZ:
            return ((self.clock() - self.clk1hz_off) // NS) & 0xFFFFFFFF
        if offset == CLK100HZ:
            return ((self.clock() - self.clk100hz_off) * 100 // NS) & 0xFFFFFFFF
        if offset == COUNTER:
            self._resync()
            return self.counter
        if offset == PRESCALE:
            return self.prescale
        if offset == PSCNTR:
            self._resync()
            return self.pscntr
        if offset == MISC:
            return self.misc
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == LED0:
            self.led0 = value & ((1 << self.num_leds) - 1)
            if self.on_leds:
                self.on_leds(self.led0)
        elif offset == PRESCALE:
            self._resync()
            self.prescale = value
        elif offset == MISC:
            self.misc = value
        elif offset == CLK1HZ:
            self.clk1hz_off = self.clock() - value * NS
        elif offset == CLK100HZ:
            self.clk100hz_off = self.clock() - value * NS // 100
        elif offset == COUNTER:
            self._resync()
            self.counter = value
        elif offset == PSCNTR:
            self._resync()
            self.pscntr = value

    def state(self) -> dict[str, Any]:
        now = self.clock()
        self._resync()
        return {"led0": self.led0, "prescale": self.prescale, "misc": self.misc,
                "clk1hz": (now - self.clk1hz_off) // NS, "clk100hz": (now - self.clk100hz_off) * 100 // NS,
                "counter": self.counter, "pscntr": self.pscntr, "buttons": self.buttons}

    def load_state(self, s: dict[str, Any]) -> None:
        now = self.clock()
        self.led0, self.prescale, self.misc = s["led0"], s["prescale"], s["misc"]
        self.clk1hz_off = now - s["clk1hz"] * NS
        self.clk100hz_off = now - s["clk100hz"] * NS // 100
        self.counter, self.pscntr, self.sync = s["counter"], s["pscntr"], now
        self.buttons = s.get("buttons", 0)

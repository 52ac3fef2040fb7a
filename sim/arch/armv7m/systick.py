"""ARMv7-M SysTick: a 24-bit down-counter clocked by the core clock (CLKSOURCE=1)
or the board's reference clock (CLKSOURCE=0).

The counter is never stepped: it is computed from the virtual time at which it
was last loaded, so reading CVR is exact at any moment and the machine only has
to stop the CPU at the next wrap (``tick`` returns it). A wrap is the 1 -> 0
transition; the next clock reloads RVR, so one period is RVR+1 clocks, as on
hardware and in QEMU.
"""

from __future__ import annotations

from typing import Any, Callable

NS = 1_000_000_000
ENABLE, TICKINT, CLKSOURCE, COUNTFLAG = 1, 2, 4, 1 << 16


class SysTick:
    def __init__(self, clock_hz: int, refclk_hz: int, now: Callable[[], int], pend: Callable[[], None]):
        self.clock_hz, self.refclk_hz = clock_hz, refclk_hz
        self.now = now
        self.pend = pend
        self.reset()

    def reset(self) -> None:
        self.csr = 0              # ENABLE/TICKINT/CLKSOURCE (COUNTFLAG kept separately)
        self.countflag = False
        self.rvr = 0
        self.cvr = 0              # value while stopped
        self.t0 = 0               # virtual ns when the running counter held `v0`
        self.v0 = 0
        self.wraps = 0            # wraps already reported since t0

    @property
    def hz(self) -> int:
        return self.clock_hz if self.csr & CLKSOURCE else self.refclk_hz

    def _ticks(self, now: int) -> int:
        return (now - self.t0) * self.hz // NS

    def _running(self) -> bool:
        return bool(self.csr & ENABLE) and self.hz > 0

    def _wraps_by(self, ticks: int) -> int:
        if ticks < self.v0:
            return 0
        if self.rvr == 0:
            return 1
        return 1 + (ticks - self.v0) // (self.rvr + 1)

    def value(self, now: int) -> int:
        if not self._running():
            return self.cvr
        e = self._ticks(now)
        if e < self.v0:
            return self.v0 - e
        if self.rvr == 0:
            return 0
        k = (e - self.v0) % (self.rvr + 1)
        return 0 if k == 0 else self.rvr + 1 - k

    def tick(self, now: int) -> int | None:
        if not self._running():
            return None
        w = self._wraps_by(self._ticks(now))
        if w > self.wraps:
            self.wraps = w
            self.countflag = True
            if self.csr & TICKINT:
                self.pend()
        if (self.rvr == 0 and self.wraps) or not self.csr & TICKINT:
            return None            # no interrupt to deliver: COUNTFLAG and CVR are computed when read
        nxt = self.v0 + self.wraps * (self.rvr + 1)  # tick index of the next wrap
        return self.t0 + -(-nxt * NS // self.hz)

    def _restart(self, now: int, value: int) -> None:
        self.t0, self.wraps = now, 0
        # A counter at 0 loads RVR on the next clock, without an interrupt.
        self.v0 = value if value else self.rvr + 1

    # -- registers (offsets within the SCS) --------------------------------------
    def read(self, offset: int) -> int:
        now = self.now()
        if offset == 0x10:
            self.tick(now)
            r = self.csr | (COUNTFLAG if self.countflag else 0)
            self.countflag = False
            return r
        if offset == 0x14:
            return self.rvr
        if offset == 0x18:
            return self.value(now) & 0xFFFFFF
        if offset == 0x1C:
            tenms = self.refclk_hz // 100 - 1 if self.refclk_hz else 0
            return (0 if self.refclk_hz else 1 << 31) | (tenms & 0xFFFFFF)
        return 0

    def write(self, offset: int, value: int) -> None:
        now = self.now()
        if offset == 0x10:
            was_running = self._running()
            cur = self.value(now)
            self.tick(now)
            self.csr = value & (ENABLE | TICKINT | CLKSOURCE)
            if self._running():
                self._restart(now, cur if was_running else self.cvr)
            else:
                self.cvr = cur
        elif offset == 0x14:
            self.rvr = value & 0xFFFFFF
        elif offset == 0x18:
            # Any write clears the counter and COUNTFLAG.
            self.countflag = False
            self.cvr = 0
            if self._running():
                self._restart(now, 0)

    def state(self) -> dict[str, Any]:
        now = self.now()
        return {"csr": self.csr, "countflag": self.countflag, "rvr": self.rvr,
                "cvr": self.value(now)}

    def load_state(self, s: dict[str, Any]) -> None:
        now = self.now()
        self.csr, self.countflag, self.rvr = s["csr"], s["countflag"], s["rvr"]
        self.cvr = s["cvr"]
        if self._running():
            self._restart(now, self.cvr)

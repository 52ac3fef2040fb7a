"""Busy-wait sleeps: a firmware that sleeps by polling clock registers (a timer's
VALUE or INTSTATUS, SysTick's CVR or COUNTFLAG, the CLINT's mtime, the FPGA
counters) instead of executing WFI.

In host-paced time such a loop costs as much host time as it sleeps. It is
recognised the way the UART's input busy-poll is, from the device accesses
alone: clock reads (a peripheral lists its clock registers in ``clock_regs``)
from at most ``MAX_SITES`` places (register and instruction: a delay loop, or a
``ticks_ms()`` that reads a count and its wrap flag), each within ``GAP_NS`` of
the one before, with no other device access in between. From the
``POLL_READS``-th such read on, each read first moves virtual time forward, by a
step that doubles from 1 us up to ``STEP_MAX_NS``: a 10 s sleep takes a few
ten thousand reads, and it ends at most one step late. A wait point (WFI), any
other device access, a pause between reads or a read from elsewhere starts the
count again, so code that reads the clock between other work, or sleeps in WFI
and checks the time on waking, runs as before.

The price: code that only reads the clock, faster than every ``GAP_NS`` and
without touching a device between reads (a micro-benchmark timing a few
instructions with ``ticks_us``), sees time jump too. Deterministic mode (time is
the instruction count) and ``--realtime`` (time locked to the wall clock) never
fast-forward.
"""

from __future__ import annotations

POLL_READS = 32                # reads in a row before the loop counts as a busy-wait
MAX_SITES = 4                  # (peripheral, register, pc) places one loop reads from
GAP_NS = 50_000                # at most this long between two reads of one loop
STEP_MIN_NS = 1_000
STEP_MAX_NS = 250_000          # bounds how late a busy-wait ends (and its host time: 4000 reads/s)


class BusyWait:
    def __init__(self):
        self.interrupted()

    def clock_read(self, site: tuple, now_ns: int) -> int:
        """A read of a clock register at ``site`` = (peripheral, offset, pc): the
        nanoseconds to move time forward before it (0: none)."""
        if now_ns - self.last_ns > GAP_NS or (site not in self.sites and len(self.sites) >= MAX_SITES):
            self.sites, self.count, self.step = {site}, 0, STEP_MIN_NS
        else:
            self.sites.add(site)
            self.count += 1
        skip = 0
        if self.count >= POLL_READS:
            skip, self.step = self.step, min(2 * self.step, STEP_MAX_NS)
        self.last_ns = now_ns + skip
        return skip

    def interrupted(self) -> None:
        """Anything else happened (another device access, a wait point): no loop now."""
        self.sites: set[tuple] = set()
        self.count = 0
        self.step = STEP_MIN_NS
        self.last_ns = -GAP_NS - 1

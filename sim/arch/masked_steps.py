"""Stock deterministic mode (no patched engine) counts instructions with a
per-instruction hook, beside which the unmask-site code hooks get too slow
(sim/arch/*/core.py). There, while an interrupt waits masked (the run loop could
not take it), the CPU is stepped one instruction at a time to find where the guest
unmasks, within a bound: a long critical section then costs latency, not time."""

from __future__ import annotations

from typing import Callable

BOUND = 256                     # single steps in a row before running a whole slice again


class MaskedStepping:
    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.steps = 0

    def slice_cycles(self, cycles: int, waiting: Callable[[], bool]) -> int:
        """``cycles``, or 1 while ``waiting()`` (an interrupt waits masked) within the bound."""
        if self.enabled:
            if not waiting():
                self.steps = 0
            elif self.steps < BOUND:
                self.steps += 1
                return 1
        return cycles

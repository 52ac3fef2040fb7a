"""Virtual time locked to the wall clock, for a person watching a sleeping board
(``mpsim repl`` on a terminal, ``serve``/``run --realtime``).

The machine fast-forwards a sleeping firmware's clock; this says how long to wait
before running it on, so that its time keeps to the wall clock. Only sleeps are
slowed: when the board waits for input or computes and falls behind, the
reference moves instead (no catching up).
"""

from __future__ import annotations

import time


class WallClockPace:
    def __init__(self, machine):
        self.machine = machine
        self._anchor()

    def _anchor(self) -> None:
        self.wall, self.board = time.monotonic(), self.machine.now_ns

    def wait_s(self) -> float:
        m = self.machine
        asleep = m.last_stop is not None and m.last_stop.kind == "idle" and not m.is_waiting_for_input()
        ahead = (m.now_ns - self.board) / 1e9 - (time.monotonic() - self.wall)
        if not asleep or ahead <= 0:
            self._anchor()
            return 0.0
        return min(ahead, 1.0)

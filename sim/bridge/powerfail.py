"""Power failures at random moments under ``mpsim serve`` (``--power-fail MEAN_MS``).

The bridge loop asks this object how far the machine may run (``deadline_ns``)
and calls ``after_slice`` after each slice; when the emulated clock has reached
the next failure, it does what the power-fail model does
(``sim.runstate.powerfail.power_fail``: warning, run-state hibernate charged the
NOR's times within the hold-up budget, power cut), then powers on again after
the off time and resumes the newest image that survived. The client stays
attached to the same endpoint throughout; it sees nothing but a pause.

Moments: exponential intervals of *busy* emulated time (mean ``mean_ms``), the
time the CPU spends executing instructions, drawn from ``random.Random(seed)``.
Time the board spends waiting (its clock jumps ahead at a WFI) is not counted:
how long a board waits for a client's next bytes depends on the host, and a
failure that came due during such a wait would fall on a different instruction
each run. So, with ``--deterministic`` (instruction-counted time), the failures
fall on the same instructions every run and a run replays from its seed as long
as the client sends the same bytes (a raw-REPL client does: it waits for each
answer). A failure never comes during a wait for input (nothing to lose there).
Not replayed exactly: a failure that falls while a client's bytes are streaming
in, since how many had arrived by then depends on the host (the busy-time moment
is the same; the program state at it may differ by the bytes received).

Bytes in flight: what the firmware has taken from the UART is in RAM and so in
the image; bytes the host fed but the UART had not yet delivered are put back in
front of the host's queue (as a host that buffers while the device is off),
never lost.

Hold-up: ``--holdup-us``, else the board's default (``sim.runstate.powerfail``:
the flash time of the firmware's largest run-state image, so every hibernate
fits). At start the slot the first failure writes is erased (power is good), as
after every resume. A hibernate that does not fit (a smaller ``--holdup-us``):
the power dies mid-write; the torn slot has no commit record, so the next
power-up resumes the newest image that was already in flash - the last failure
whose hibernate fitted, or an image saved with ``hibernate`` - and the board
goes back to that moment: a run-state image's program repeats what it did
since, output included (the client sees it twice); from a prompt-time image the
board is back at that prompt and the running program is gone; either way input
it had taken since is gone (the host does not send it again). No usable image:
a fresh boot (banner; the program is lost). Counted as ``not-fitted``, split
into ``rewound`` and fresh boots, each logged. A program whose image keeps
outgrowing the hold-up never gets past that point: each failure takes it back.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

from ..errors import ImageError
from ..image import ImageKind

NS_PER_MS = 1_000_000


@dataclass
class PowerFailCounters:
    failures: int = 0
    fitted: int = 0
    not_fitted: int = 0
    resumes: int = 0
    fresh_boots: int = 0
    rewound: int = 0             # not fitted: came back from an older image
    off_ns: int = 0
    host_s: float = 0.0          # wall time spent failing and resuming

    def line(self, seed: int, mean_ms: float, holdup: str) -> str:
        per = f", {self.host_s / self.failures * 1000:.1f} ms host time per failure" if self.failures else ""
        lost = (f" (power died mid-write: {self.rewound} came back from the newest older image, going back to "
                f"the moment it was saved; {self.not_fitted - self.rewound} booted fresh)" if self.not_fitted else "")
        return (f"power-fail seed={seed} mean={mean_ms:g}ms holdup={holdup} failures={self.failures} "
                f"fitted={self.fitted} not-fitted={self.not_fitted}{lost} resumes={self.resumes} "
                f"fresh-boots={self.fresh_boots} off={self.off_ns / 1e6:.1f}ms{per}")


@dataclass
class PowerFailSchedule:
    """Fails the power of a served board at exponential intervals of emulated time."""

    mean_ms: float
    seed: int
    off_ms: float = 0.0
    holdup_us: int | None = None
    log_file: TextIO | None = None
    log: Callable[[str], None] = lambda s: None
    counters: PowerFailCounters = field(default_factory=PowerFailCounters)

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self.next_ns: int | None = None      # busy ns of the next failure
        self.busy_ns = 0                     # instructions executed, as time
        self._clock = None
        self._waiting = False                # the last slice's clock jumped: let it report idle
        self._started = False

    def start(self, board) -> None:
        """Before the first slice: erase the slot the first failure writes (power is
        good), head the log with the replay command."""
        from ..runstate.preerase import erase_next
        from ..slots import Partition
        self._started = True
        erase_next(Partition(board.flash))
        holdup = "" if self.holdup_us is None else f" --holdup-us {self.holdup_us}"
        self._write(f"# mpsim serve --power-fail {self.mean_ms:g} --power-fail-seed {self.seed} "
                    f"--off-ms {self.off_ms:g}{holdup}")

    def deadline_ns(self, bridge) -> int | None:
        """Where the current slice must stop (emulated time): the next failure,
        counted in busy time; None for the slice after one that jumped a wait, so
        the board can report itself idle (it waits) instead of jumping again."""
        if not self._started:
            self.start(bridge.board)
        machine = bridge.machine
        if self._clock is None:
            self._count_cycles(machine.clock)
        if self.next_ns is None:
            self.next_ns = self.busy_ns + self._interval_ns()
        self._slice_start = (machine.now_ns, self.busy_ns)
        if self._waiting and not machine.console.rx_pending:
            return None
        return machine.now_ns + max(1, self.next_ns - self.busy_ns)

    def _count_cycles(self, clock) -> None:
        add = clock.add_cycles

        def counted(n: int) -> None:
            before = clock._ns
            add(n)
            self.busy_ns += clock._ns - before
        clock.add_cycles = counted
        self._clock = clock

    def _interval_ns(self) -> int:
        return max(1, int(self._rng.expovariate(1.0 / (self.mean_ms * NS_PER_MS))))

    def after_slice(self, bridge, reason) -> bool:
        """Fail the power if its moment has come. True when it did."""
        m = bridge.machine
        now0, busy0 = self._slice_start
        jumped = (m.now_ns - now0) - (self.busy_ns - busy0) > 0
        self._waiting = reason.kind != "idle" and jumped
        if self.next_ns is None or self.busy_ns < self.next_ns:
            return False
        self.fail(bridge)
        return True

    def fail(self, bridge) -> None:
        from ..runstate.powerfail import holdup_default, power_fail
        t0 = time.perf_counter()
        board, m = bridge.board, bridge.machine
        console = m.console
        with console._lock:                 # fed but not delivered: the host still has them
            unreceived = bytes(console.rx_fifo)
            console.rx_fifo.clear()
        bridge.pending_in[:0] = unreceived
        if self.holdup_us is None:          # the firmware's heap is set up by now
            self.holdup_us = holdup_default(board)
        report = power_fail(board, self.holdup_us, seed=self.seed + self.counters.failures)
        c = self.counters
        c.failures += 1
        c.fitted += report.fitted
        c.not_fitted += not report.fitted
        off_ns = int(self.off_ms * NS_PER_MS)
        c.off_ns += off_ns
        resumed = self._power_on(board, report)
        bridge._discard_console_buffer()
        m.clock.set(m.clock.now() + off_ns)   # the board was off: its clock moved on
        bridge.state = "running"
        self._write(f"{c.failures} due_busy_ns={self.next_ns} busy_ns={self.busy_ns} at_ns={report.at_ns} "
                    f"{'fitted' if report.fitted else 'not-fitted'} image={report.sequence} "
                    f"bytes={report.image_bytes} needed_us={report.needed_us} holdup_us={report.holdup_us} "
                    f"{resumed} unreceived={len(unreceived)} now_ns={m.clock.now()}")
        self.next_ns += self._interval_ns()     # from the drawn moment, not where the slice stopped
        self._waiting = False
        c.host_s += time.perf_counter() - t0

    def _power_on(self, board, report) -> str:
        """Resume what survived in flash, else boot fresh; the log's word for it.
        Fitted: the newest image is the one just written (``Board.resume`` decodes
        and checks it, once). Not fitted: the image the controller picks among the
        older ones, if any."""
        from ..runstate.control import latest_image
        c, n = self.counters, self.counters.failures
        lost = "" if report.fitted else report.line() + "; "
        image = None
        if not report.fitted:
            image = latest_image(board)[0]
        if report.fitted or image is not None:
            try:
                rr = board.resume(image)
            except ImageError as e:
                self.log(f"power fail #{n}: {lost}cannot resume ({e}); booting fresh")
            else:
                c.resumes += 1
                if not report.fitted:
                    c.rewound += 1
                    since = ("the program went back to that moment and repeats what it did since"
                             if image.kind is ImageKind.RUN_STATE else
                             "a prompt-time image: back at the prompt it was saved at, the running program gone")
                    self.log(f"power fail #{n}: {lost}resumed image #{rr.sequence}: {since}")
                return f"resumed #{rr.sequence}"
        else:
            self.log(f"power fail #{n}: {lost}no image to resume: booted fresh")
        board.boot()
        c.fresh_boots += 1
        return "fresh-boot"

    def status_fields(self) -> list[str]:
        c = self.counters
        return [f"power_fails={c.failures}", f"fitted={c.fitted}", f"not_fitted={c.not_fitted}",
                f"rewound={c.rewound}", f"resumes={c.resumes}", f"fresh_boots={c.fresh_boots}",
                f"off={c.off_ns / 1e6:.1f}ms", f"holdup={self._holdup_text()}", f"seed={self.seed}"]

    def _holdup_text(self) -> str:
        """Known once given or worked out (at the first failure: the heap must be set up)."""
        return "default" if self.holdup_us is None else f"{self.holdup_us / 1000:g}ms"

    def summary(self) -> str:
        return self.counters.line(self.seed, self.mean_ms, self._holdup_text())

    def close(self) -> None:
        self._write("# " + self.summary())
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def _write(self, text: str) -> None:
        if self.log_file is not None:
            self.log_file.write(text + "\n")
            self.log_file.flush()

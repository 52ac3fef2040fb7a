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
never lost. A hibernate that does not fit the hold-up window leaves the previous
image; the program resumes from there (it goes back and repeats what it did
since): counted and logged as ``not-fitted``. No image at all: a fresh boot.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

from ..errors import ImageError

NS_PER_MS = 1_000_000


@dataclass
class PowerFailCounters:
    failures: int = 0
    fitted: int = 0
    not_fitted: int = 0
    resumes: int = 0
    fresh_boots: int = 0
    off_ns: int = 0
    host_s: float = 0.0          # wall time spent failing and resuming

    def line(self, seed: int, mean_ms: float) -> str:
        per = f", {self.host_s / self.failures * 1000:.1f} ms host time per failure" if self.failures else ""
        return (f"power-fail seed={seed} mean={mean_ms:g}ms failures={self.failures} fitted={self.fitted} "
                f"not-fitted={self.not_fitted} resumes={self.resumes} fresh-boots={self.fresh_boots} "
                f"off={self.off_ns / 1e6:.1f}ms{per}")


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
        self._write(f"# mpsim serve --power-fail {self.mean_ms:g} --power-fail-seed {self.seed} "
                    f"--off-ms {self.off_ms:g}")

    def deadline_ns(self, machine) -> int | None:
        """Where the current slice must stop (emulated time): the next failure,
        counted in busy time; None for the slice after one that jumped a wait, so
        the board can report itself idle (it waits) instead of jumping again."""
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
        from ..runstate.control import latest_image
        from ..runstate.powerfail import power_fail
        t0 = time.perf_counter()
        board, m = bridge.board, bridge.machine
        console = m.console
        with console._lock:                 # fed but not delivered: the host still has them
            unreceived = bytes(console.rx_fifo)
            console.rx_fifo.clear()
        bridge.pending_in[:0] = unreceived
        report = power_fail(board, self.holdup_us, seed=self.seed + self.counters.failures)
        c = self.counters
        c.failures += 1
        if report.fitted:
            c.fitted += 1
        else:
            c.not_fitted += 1
            self.log(f"power fail #{c.failures}: {report.line()}")
        off_ns = int(self.off_ms * NS_PER_MS)
        c.off_ns += off_ns
        image, _skipped = latest_image(board)
        resumed = "fresh-boot"
        if image is not None:
            try:
                rr = board.resume(image)
                resumed = f"resumed #{rr.sequence}"
                c.resumes += 1
            except ImageError as e:
                self.log(f"power fail #{c.failures}: cannot resume ({e}); booting fresh")
                image = None
        if image is None:
            board.boot()
            c.fresh_boots += 1
            self.log(f"power fail #{c.failures}: no image to resume: booted fresh")
        bridge._discard_console_buffer()
        m.clock.set(m.clock.now() + off_ns)   # the board was off: its clock moved on
        bridge.state = "running"
        self._write(f"{c.failures} due_busy_ns={self.next_ns} busy_ns={self.busy_ns} at_ns={report.at_ns} {'fitted' if report.fitted else 'not-fitted'} "
                    f"image={report.sequence} bytes={report.image_bytes} needed_us={report.needed_us} "
                    f"holdup_us={report.holdup_us} {resumed} unreceived={len(unreceived)} "
                    f"now_ns={m.clock.now()}")
        self.next_ns += self._interval_ns()     # from the drawn moment, not where the slice stopped
        self._waiting = False
        c.host_s += time.perf_counter() - t0

    def status_fields(self) -> list[str]:
        c = self.counters
        return [f"power_fails={c.failures}", f"fitted={c.fitted}", f"not_fitted={c.not_fitted}",
                f"resumes={c.resumes}", f"off={c.off_ns / 1e6:.1f}ms", f"seed={self.seed}"]

    def summary(self) -> str:
        return self.counters.line(self.seed, self.mean_ms)

    def close(self) -> None:
        self._write("# " + self.summary())
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def _write(self, text: str) -> None:
        if self.log_file is not None:
            self.log_file.write(text + "\n")
            self.log_file.flush()

"""Power-fail sweep: fail the power at many moments of a program, resume, compare.

The program runs once uninterrupted (the reference: its console output and a
digest of the live state it leaves). Then, for each of N points spread evenly
over its emulated run time, the same program runs on a freshly booted board
until that moment, the power fails (``sim.runstate.powerfail``: a run-state
hibernate within the hold-up budget), the board powers on into the image and the
program runs to its end. Every case must print exactly the reference's output and
leave the same state digest. The board runs deterministically (instruction-counted
time), so any case replays alone: ``mpsim power-fail-sweep SCRIPT --at-us T``.

The program runs as the raw REPL runs a file: its output is what the board prints
from the Ctrl-D that starts it to the raw REPL's end marker.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Callable

from ..errors import SimError
from . import image as run_image
from .powerfail import PowerFailReport, power_fail
from .preerase import erase_next
from ..slots import Partition

END = b"\x04>"              # raw REPL: stdout, \x04, exception text, \x04, '>'


@dataclass
class Reference:
    output: bytes
    digest: str
    duration_ns: int


@dataclass
class Case:
    index: int
    at_us: int              # after the program started
    ok: bool
    detail: str = ""
    report: PowerFailReport | None = None


@dataclass
class SweepResult:
    reference: Reference
    cases: list[Case] = field(default_factory=list)

    @property
    def failures(self) -> list[Case]:
        return [c for c in self.cases if not c.ok]


def start(board, code: str) -> int:
    """Send ``code`` to the raw REPL and the Ctrl-D that runs it; return the
    emulated time of that Ctrl-D. Everything the board prints from then on (the raw
    REPL's "OK", the program's output, the end marker) is the run's output."""
    board.repl.enter_raw()
    board.repl.write(code.encode())
    t0 = board.machine.now_ns
    board.repl.write(b"\x04")
    return t0


def run_until(board, out: bytearray, at_ns: int | None, timeout_s: float) -> bool:
    """Run, collecting output, until ``at_ns`` (None: the program's end). True when it ended."""
    m = board.machine
    while not _ended(out):
        if at_ns is not None and m.now_ns >= at_ns:
            return False
        r = m.run(until_ns=at_ns, timeout=timeout_s, stop_on_idle=at_ns is None, stop_on_output=True)
        out += m.console.take_output()
        if r.kind == "timeout" and not _ended(out):
            raise SimError(f"the program did not finish within {timeout_s:g} s of host time")
        if r.kind == "exit":
            raise SimError(f"the firmware exited (status {m.exit_status}) while the program ran")
    return True


def _ended(out: bytearray) -> bool:
    return out.count(b"\x04") >= 2 and out.endswith(END)


def state_digest(board) -> str:
    """The live state the program leaves (statics, used stack, ctx, heap), not the
    clock or device counters: equal runs leave equal digests."""
    img = run_image.capture(board.machine)
    h = hashlib.sha256()
    for name in (run_image.SECTION_RAM, run_image.SECTION_HEAP):
        h.update(zlib.decompress(img.sections[name]))
    return h.hexdigest()[:16]


def reference(new_board: Callable, code: str, timeout_s: float) -> Reference:
    with new_board() as b:
        b.boot()
        t0 = start(b, code)
        out = bytearray()
        run_until(b, out, None, timeout_s)
        return Reference(bytes(out), state_digest(b), b.machine.now_ns - t0)


def prompt_hibernate_us(new_board: Callable) -> int:
    """Emulated flash time of a prompt-time hibernate (it erases before it programs)."""
    with new_board() as b:
        b.boot()
        return b.hibernate().flash_time_us


def one_case(new_board: Callable, code: str, ref: Reference, index: int, at_us: int, holdup_us: int | None,
             timeout_s: float) -> Case:
    """Boot, hibernate at the prompt (the previous image a failed write must not
    lose), run the program until ``at_us``, fail the power, resume, finish, compare."""
    with new_board() as b:
        b.boot()
        previous = b.hibernate().sequence
        erase_next(Partition(b.flash))          # the slot a power fail writes is kept erased
        t0 = start(b, code)
        out = bytearray()
        if run_until(b, out, t0 + at_us * 1000, timeout_s):
            return Case(index, at_us, False, "the program ended before the power failed")
        report = power_fail(b, holdup_us)
        if not report.fitted:
            kept = [info.sequence for info, _ in Partition(b.flash).images_newest_first()]
            if not kept or kept[0] != previous:
                return Case(index, at_us, False, f"{report.line()}; PREVIOUS IMAGE #{previous} LOST "
                                                 f"(valid images: {kept})", report)
            return Case(index, at_us, False, report.line(), report)
        b.resume()
        run_until(b, out, None, timeout_s)
        if bytes(out) != ref.output:
            return Case(index, at_us, False, _first_difference(bytes(out), ref.output), report)
        digest = state_digest(b)
        if digest != ref.digest:
            return Case(index, at_us, False, f"output equal, state digest {digest} != {ref.digest}", report)
        return Case(index, at_us, True, "", report)


def sweep(new_board: Callable, code: str, n: int, holdup_us: int | None = None, timeout_s: float = 30.0,
          at_us: list[int] | None = None, progress: Callable[[int], None] | None = None) -> SweepResult:
    """The reference run, then one case per point (``at_us``, default ``n`` spread evenly)."""
    ref = reference(new_board, code, timeout_s)
    result = SweepResult(ref)
    for i, at in enumerate(at_us if at_us is not None else points(ref.duration_ns, n)):
        result.cases.append(one_case(new_board, code, ref, i, at, holdup_us, timeout_s))
        if progress is not None:
            progress(i + 1)
    return result


def points(duration_ns: int, n: int) -> list[int]:
    """``n`` moments (µs after the start) spread evenly inside the run."""
    return [duration_ns * (i + 1) // (n + 1) // 1000 for i in range(n)]


def _first_difference(got: bytes, want: bytes) -> str:
    i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return (f"output differs at byte {i}: got {got[max(0, i - 20):i + 20]!r}, "
            f"expected {want[max(0, i - 20):i + 20]!r}")


def run_with_power_fail(board, code: str, at_us: int, holdup_us: int | None = None,
                        timeout_s: float = 30.0) -> tuple[bytes, PowerFailReport]:
    """On a booted ``board``: run ``code``, fail the power ``at_us`` after it starts,
    power on into what was saved and let the program finish. Returns (everything
    the program printed, across the power failure; the power-fail report). When the
    write did not fit, the board resumes whatever image survived (or boots fresh)."""
    erase_next(Partition(board.flash))
    t0 = start(board, code)
    out = bytearray()
    if run_until(board, out, t0 + at_us * 1000, timeout_s):
        raise SimError(f"the program ended before {at_us} µs: nothing to power-fail")
    report = power_fail(board, holdup_us)
    if report.fitted:
        board.resume()
        run_until(board, out, None, timeout_s)
    return bytes(out), report

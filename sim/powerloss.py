"""Power-loss sweeps: cut power at every flash operation of a hibernate and check
that what resumes is exactly the previous committed state or the new one.

Like littlefs's test runner and MCUboot's simulator: first count the flash
operations of a clean hibernate (K), then for every cut point N in 0..K and every
power-loss mode (clean: op N never happens; torn: op N half-happens), replay the
scenario from scratch on a fresh board and flash:

    boot -> state OLD -> hibernate (committed) -> state NEW -> hibernate, power cut at op N
         -> power cycle -> resume -> the device must hold exactly OLD or exactly NEW

Each case is independent and identified as ``<mode>-<N>`` so any failure replays
alone (``mpsim power-cycle --cut-at N --torn``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import SimError
from .peripherals.nor_flash import PowerLoss, PowerLossMode

# The workload: a state with a counter and a digest over varied objects, so a
# resume that mixes old and new (or corrupts anything) cannot pass as either.
SETUP = """
def _digest(x):
    if isinstance(x, (list, tuple)):
        return type(x).__name__ + '[' + ','.join(_digest(i) for i in x) + ']'
    if isinstance(x, dict):
        return '{' + ','.join(sorted(_digest(k) + ':' + _digest(v) for k, v in x.items())) + '}'
    return type(x).__name__ + repr(x)
state = {'n': 0, 'items': [], 'big': 1}
def step(n):
    state['n'] = n
    state['items'].append(str(n) * n)
    state['big'] = state['big'] * 3 + n
    state['f'] = n / 7
"""
PROBE = "(state['n'], _digest(state))"


@dataclass
class CaseResult:
    mode: str
    cut_at: int
    outcome: str            # "old", "new" or "FAIL"
    detail: str = ""

    @property
    def case_id(self) -> str:
        return f"{self.mode}-{self.cut_at}"


@dataclass
class SweepReport:
    ops: int                                   # flash operations of a clean hibernate
    results: list[CaseResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome == "FAIL"]


class Scenario:
    """One power-loss case on a fresh board whose flash lives in ``workdir``."""

    def __init__(self, make_board: Callable[[Path], object], workdir: Path):
        self.make_board = make_board
        self.workdir = workdir

    def run(self, cut_at: int | None, mode: PowerLossMode = PowerLossMode.CLEAN, seed: int = 0):
        """Returns (board after resume, expected old probe, expected new probe, ops of hibernate #2,
        whether power was cut)."""
        flash_file = self.workdir / "flash.bin"
        if flash_file.exists():
            flash_file.unlink()
        board = self.make_board(flash_file)
        board.boot()
        board.repl.exec(SETUP)
        board.repl.exec("step(1)")
        old = board.repl.eval(PROBE)
        board.hibernate()
        board.repl.exec("step(2)")
        new = board.repl.eval(PROBE)
        flash = board.flash
        ops0 = flash.ops_count
        cut = False
        if cut_at is not None:
            flash.arm_power_cut(cut_at, mode, seed=seed)
        try:
            board.hibernate()
        except PowerLoss:
            cut = True
        finally:
            flash.disarm_power_cut()
        ops = flash.ops_count - ops0
        board.store.save()            # what was on the flash when the power went
        board.power_cycle()
        return board, old, new, ops, cut


def count_ops(make_board: Callable[[Path], object]) -> int:
    with tempfile.TemporaryDirectory(prefix="mpsim-pl-") as d:
        board, _old, _new, ops, _cut = Scenario(make_board, Path(d)).run(None)
        board.close()
        return ops


def run_case(make_board: Callable[[Path], object], mode: PowerLossMode, cut_at: int) -> CaseResult:
    name = mode.name.lower()
    with tempfile.TemporaryDirectory(prefix="mpsim-pl-") as d:
        board, old, new, _ops, cut = Scenario(make_board, Path(d)).run(cut_at, mode, seed=cut_at)
        try:
            board.resume()
            got = board.repl.eval(PROBE)
        except SimError as e:
            return CaseResult(name, cut_at, "FAIL", f"resume failed: {e}")
        finally:
            board.close()
        if got == old:
            return CaseResult(name, cut_at, "old")
        if got == new:
            return CaseResult(name, cut_at, "new", "" if cut else "(cut point after the last operation)")
        return CaseResult(name, cut_at, "FAIL", f"resumed state is neither old nor new: {got!r}")


def sweep(make_board: Callable[[Path], object], modes: Iterable[PowerLossMode] = tuple(PowerLossMode),
          points: Iterable[int] | None = None,
          progress: Callable[[CaseResult], None] | None = None) -> SweepReport:
    ops = count_ops(make_board)
    report = SweepReport(ops)
    cut_points = list(points) if points is not None else list(range(ops + 1))
    for mode in modes:
        for n in cut_points:
            result = run_case(make_board, mode, n)
            report.results.append(result)
            if progress:
                progress(result)
    return report


def board_factory(board="mps2-an385", firmware=None, **board_options):
    """A ``make_board(flash_path)`` for the sweep: the board file and the ELF are loaded
    once, each case gets a fresh Board on its own flash file. ``board_options`` go to
    Board (deterministic, heap, timeout_s). ``board``/``firmware`` may be names/paths or
    already-loaded BoardSpec/Firmware objects."""
    from .board import BoardSpec, load_board
    from .device import Board
    from .firmware import Firmware
    from .paths import default_firmware
    spec = board if isinstance(board, BoardSpec) else load_board(board)
    fw = firmware if isinstance(firmware, Firmware) else Firmware.load(firmware or default_firmware(spec.name))
    return lambda flash_path: Board(spec, fw, flash_path=flash_path, **board_options)

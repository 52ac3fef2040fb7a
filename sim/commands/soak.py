"""``mpsim soak`` and ``mpsim power-loss``: the reliability runners, with progress bars.

soak: N hibernate/power-cycle/resume cycles, state checked against a host model each
cycle, heap growth reported. power-loss: cut power at every flash operation of a
hibernate (clean and torn), check old-or-new each time, report the totals.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .console import console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cli import command
from .session import board_args, boot, open_board, require_hibernatable


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console(stderr=True))


def _soak_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    p.add_argument("--cycles", type=int, default=1000, help="hibernate/power-cycle/resume cycles (default 1000)")


@command("soak", "many hibernate/power-cycle/resume cycles, state checked against a host model", _soak_args)
def soak(args: argparse.Namespace) -> int:
    from ..soak import soak as run_soak
    if args.cycles < 1:
        from ..errors import UsageError
        raise UsageError("--cycles must be at least 1")
    with tempfile.TemporaryDirectory(prefix="mpsim-soak-") as d:
        if args.flash_path is None:
            args.flash_path = str(Path(d) / "flash.bin")      # never touch the user's flash image
        with open_board(args, hibernatable=True) as board, _progress() as bar:
            boot(board)
            task = bar.add_task("soak", total=args.cycles)
            report = run_soak(board, args.cycles, progress=lambda i: bar.update(task, completed=i))
    t = Table(title="soak")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("cycles", str(report.cycles))
    t.add_row("state mismatches", str(len(report.mismatches)))
    t.add_row("heap after gc: first / last", f"{report.heap_after_gc[0]} / {report.heap_after_gc[-1]} B")
    t.add_row("heap growth after warm-up", f"{report.heap_growth} B")
    t.add_row("host time per cycle", f"{report.host_s / max(report.cycles, 1) * 1000:.1f} ms")
    console().print(t)
    for m in report.mismatches:
        console(stderr=True).print(f"[red]{m}[/]")
    ok = not report.mismatches and report.cycles == args.cycles and report.heap_growth <= 1024
    return 0 if ok else 1


def _pl_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    p.add_argument("--mode", choices=["clean", "torn", "both"], default="both", help="power-loss behaviour: a clean cut, a torn operation, or both (default: both)")


@command("power-loss", "cut power at every flash operation of a hibernate; check old-or-new each time", _pl_args)
def power_loss(args: argparse.Namespace) -> int:
    from ..board import load_board
    from ..firmware import Firmware
    from ..mpy.heap_config import heap_bounds
    from ..paths import default_firmware
    from ..peripherals.nor_flash import PowerLossMode
    from ..powerloss import board_factory, count_ops, run_case
    spec = load_board(args.board)
    fw = Firmware.load(args.firmware or default_firmware(spec.name))
    require_hibernatable(fw)
    make = board_factory(spec, fw, deterministic=args.deterministic, timeout_s=args.timeout,
                         heap=heap_bounds(fw, args.heap_base, args.heap_size))

    modes = [PowerLossMode.CLEAN, PowerLossMode.TORN] if args.mode == "both" else [PowerLossMode[args.mode.upper()]]
    ops = count_ops(make)
    results = []
    with _progress() as bar:
        task = bar.add_task(f"power-loss sweep ({ops} flash operations)", total=len(modes) * (ops + 1))
        for mode in modes:
            for n in range(ops + 1):
                results.append(run_case(make, mode, n))
                bar.advance(task)
    t = Table(title=f"power loss at every flash operation of a hibernate ({ops} operations)")
    for col in ("mode", "cases", "resumed old", "resumed new", "failures"):
        t.add_column(col, justify="right")
    for mode in modes:
        rs = [r for r in results if r.mode == mode.name.lower()]
        fails = sum(r.outcome == "FAIL" for r in rs)
        t.add_row(mode.name.lower(), str(len(rs)), str(sum(r.outcome == "old" for r in rs)),
                  str(sum(r.outcome == "new" for r in rs)), f"[red]{fails}[/]" if fails else "0")
    console().print(t)
    for r in results:
        if r.outcome == "FAIL":
            console(stderr=True).print(f"[red]{r.case_id}: {r.detail}[/]  replay: mpsim power-cycle --cut-at "
                                       f"{r.cut_at}{' --torn' if r.mode == 'torn' else ''}")
    return 1 if any(r.outcome == "FAIL" for r in results) else 0

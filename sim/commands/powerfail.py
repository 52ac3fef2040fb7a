"""``mpsim power-fail-sweep``: fail the power at many moments of a program (issue 17).

Runs the script once uninterrupted, then again with the power failing at N points
spread over its emulated run time: each time the board hibernates its run state
within the hold-up budget, powers back on into it and finishes the program. Every
run must print exactly what the uninterrupted one printed and leave the same
state digest. Deterministic time: each failure prints the command replaying it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.table import Table

from ..cli import command
from .console import console
from .session import board_args


def _args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    p.add_argument("script", help="the Python program to run on the board")
    p.add_argument("--points", type=int, default=10, help="power-fail moments spread over the run (default 10)")
    p.add_argument("--at-us", type=int, action="append", metavar="US",
                   help="fail the power at this many µs of emulated time after the program starts "
                        "(repeatable; replaces --points; replays a failure; default: none)")
    p.add_argument("--holdup-us", type=int, metavar="US",
                   help="hold-up time between the power-fail warning and the power dying "
                        "(default: the board file's holdup_us, else the flash time of the firmware's largest "
                        "run-state image)")


@command("power-fail-sweep", "fail the power at N moments of a program; each resumed run must print the same",
         _args)
def power_fail_sweep(args: argparse.Namespace) -> int:
    from ..board import load_board
    from ..device import Board
    from ..errors import UsageError
    from ..files import read_text
    from ..firmware import Firmware
    from ..mpy.heap_config import heap_bounds
    from ..numbers import check_seconds
    from ..paths import require_default_firmware
    from ..runstate.sweep import prompt_hibernate_us, sweep
    from .soak import _progress
    if args.points < 1 or (args.holdup_us is not None and args.holdup_us < 0):
        raise UsageError("--points must be at least 1 and --holdup-us not negative")
    if any(t < 0 for t in args.at_us or []):
        raise UsageError("--at-us must not be negative")
    timeout = args.timeout if args.timeout is not None else 30.0
    check_seconds(timeout, "--timeout")
    code = read_text(args.script, "script")
    spec = load_board(args.board)
    fw = Firmware.load(args.firmware or require_default_firmware(spec.name))
    heap = heap_bounds(fw, args.heap_base, args.heap_size)
    with tempfile.TemporaryDirectory(prefix="mpsim-pfsweep-") as d:
        made = [0]

        def new_board() -> Board:             # a fresh board and flash per run: cases are independent
            made[0] += 1
            return Board(spec, fw, flash_path=Path(d) / f"flash{made[0]}.bin", deterministic=True,
                         timeout_s=timeout, heap=heap)

        total = len(args.at_us) if args.at_us else args.points
        with _progress() as bar:
            task = bar.add_task(f"power-fail sweep ({total} points)", total=total)
            result = sweep(new_board, code, total, args.holdup_us, timeout, args.at_us,
                           progress=lambda i: bar.update(task, completed=i))
            prompt_us = prompt_hibernate_us(new_board)
    holdup = next((c.report.holdup_us for c in result.cases if c.report), args.holdup_us or 0)
    _print(args, result, holdup, prompt_us)
    return 1 if result.failures else 0


def _print(args, result, holdup_us: int, prompt_us: int) -> None:
    ref = result.reference
    out = console()
    t = Table(title=f"power fail at {len(result.cases)} moments of a {ref.duration_ns / 1e6:.1f} ms run "
                    f"(hold-up {holdup_us / 1000:.1f} ms)")
    for col in ("case", "at µs", "image B", "flash ms needed", "without pre-erase", "result"):
        t.add_column(col, justify="right")
    for c in result.cases:
        r = c.report
        t.add_row(str(c.index), str(c.at_us), str(r.image_bytes) if r else "",
                  f"{r.needed_us / 1000:.1f}" if r else "", f"{r.unprepared_us / 1000:.1f}" if r else "",
                  "ok" if c.ok else "[red]FAIL[/]")
    out.print(t)
    reports = [c.report for c in result.cases if c.report]
    if reports:
        out.print(f"flash time per power-fail hibernate: {min(r.needed_us for r in reports) / 1000:.1f}.."
                  f"{max(r.needed_us for r in reports) / 1000:.1f} ms with the slot pre-erased, "
                  f"{max(r.unprepared_us for r in reports) / 1000:.1f} ms if it had to erase first; "
                  f"a prompt-time hibernate: {prompt_us / 1000:.1f} ms; hold-up {holdup_us / 1000:.1f} ms")
    out.print(f"{len(result.cases) - len(result.failures)} of {len(result.cases)} resumed runs printed exactly "
              f"what the uninterrupted run printed (output {len(ref.output)} B, state digest {ref.digest})")
    err = console(stderr=True)
    for c in result.failures:
        replay = f"mpsim power-fail-sweep {args.script} --at-us {c.at_us}"
        if args.holdup_us is not None:
            replay += f" --holdup-us {args.holdup_us}"
        err.print(f"[red]case {c.index} at {c.at_us} µs: {c.detail}[/]\n  replay: {replay}", soft_wrap=True)

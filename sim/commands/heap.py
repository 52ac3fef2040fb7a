"""``mpsim heap``: what is in the GC heap, by the precise walker (sim.mpy.walk).

Boots (or --resume), runs optional code, then prints the census (objects by kind,
bytes, anything unclassified) and a map of the heap; ``--svg FILE`` also writes the
map as a picture. Useful on its own for memory debugging.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .console import console

from ..cli import command
from ..mpy.picture import census_table, svg, terminal_map
from ..mpy.walk import walk_memory
from ..errors import UsageError
from .session import board_args, boot, code_args, open_board, resume_or_boot, run_all, scripts


def _args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    code_args(p)
    p.add_argument("--resume", action="store_true", help="resume the newest hibernate image first")
    p.add_argument("--svg", metavar="FILE", help="also write the heap map as an SVG picture (default: none)")


@command("heap", "census and map of the GC heap (objects by kind, garbage, unclassified)", _args)
def heap(args: argparse.Namespace) -> int:
    out = console()
    codes = scripts(args)
    if args.svg and (Path(args.svg).is_dir() or not Path(args.svg).resolve().parent.is_dir()):
        raise UsageError(f"cannot write {args.svg}: not a file in an existing folder")
    with open_board(args, hibernatable=True) as board:
        if args.resume:
            resume_or_boot(board)
        else:
            boot(board)
        if not run_all(board, codes):
            return 1
        board.settle()
        walk = walk_memory(board.machine, board.firmware)
    out.print(census_table(walk))
    out.print(terminal_map(walk))
    if args.svg:
        try:
            Path(args.svg).write_text(svg(walk))
        except OSError as e:
            raise UsageError(f"cannot write {args.svg}: {e.strerror or e}") from None
        out.print(f"heap map written to {args.svg}")
    return 0

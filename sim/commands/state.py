"""``mpsim state export FILE``: the newest hibernate image as a state file.

The state file (sim.mpy.portable.statefile, README "The state file") carries the
interpreter to any supported board and firmware: ``mpsim resume --board B --state FILE``
loads it. Export reads the flash only (no boot, no lock): the image is walked with
the firmware that wrote it, found by fingerprint among the tree's builds or named
with ``--from-firmware``.
"""

from __future__ import annotations

import argparse

from ..cli import command
from .session import board_args, err, open_board


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    ex = sub.add_parser("export", help="write the newest hibernate image as a portable state file")
    board_args(ex)
    ex.add_argument("file", help="state file to write (replaced atomically)")
    ex.add_argument("--from-firmware", action="append", default=[], metavar="OLD.elf",
                    help="the firmware that wrote the image, when it is not --firmware or a build in this tree "
                         "(default: --firmware, else looked up by fingerprint among the tree's builds)")


@command("state", "export the newest hibernate image as a state file another board can resume", _args)
def state(args: argparse.Namespace) -> int:
    from pathlib import Path
    from ..errors import UsageError
    from ..mpy.portable import statefile
    from ..mpy.portable.fromfile import export_newest
    target = Path(args.file)
    if target.is_dir() or not target.resolve().parent.is_dir():
        raise UsageError(f"cannot write state file {args.file}: not a file in an existing folder")
    with open_board(args, writes_flash=False) as board:
        data, what = export_newest(board, args.from_firmware)
    statefile.write(args.file, data)
    err.print(f"exported {what} to {args.file} ({len(data)} B)")
    return 0

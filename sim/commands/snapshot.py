"""``mpsim snapshot save FILE`` / ``mpsim snapshot load FILE``.

save: boot (or --resume), run optional code, and snapshot the whole machine at
the prompt. load: restore a snapshot instead of booting, then run code or open
the REPL: later runs skip the boot and any set-up the snapshot already holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import command
from ..errors import UsageError
from ..snapshot import load_snapshot, save_snapshot
from .session import board_args, boot, open_board, resume_or_boot, run_all, scripts


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="snapshot_command", metavar="ACTION", required=True)
    s = sub.add_parser("save", help="boot, run code, snapshot the machine at the prompt")
    board_args(s)
    s.add_argument("--resume", action="store_true", help="resume the newest hibernate image instead of booting")
    s.add_argument("file", help="snapshot file to write")
    s.add_argument("-c", "--exec", dest="code", action="append", default=[], metavar="CODE",
                   help="Python to run before the snapshot is taken (repeatable; default: none)")
    s.set_defaults(script=None)
    ld = sub.add_parser("load", help="restore a snapshot, then run code or open the REPL")
    board_args(ld)
    ld.add_argument("file", help="snapshot file to read")
    ld.add_argument("-c", "--exec", dest="code", action="append", default=[], metavar="CODE",
                    help="Python to run after the snapshot is restored (repeatable; default: none)")
    ld.add_argument("--repl", action="store_true", help="open an interactive REPL")
    ld.add_argument("--with-flash", action="store_true",
                    help="also replace the flash image file with the snapshot's flash contents "
                         "(default: the flash image on disk is kept, hibernate images and all)")
    ld.set_defaults(script=None)


@command("snapshot", "save or load a whole-machine snapshot (RAM, CPU, peripherals, flash)", _args)
def snapshot(args: argparse.Namespace) -> int:
    if args.snapshot_command == "load":
        ignored = [flag for flag, value in (("--heap-size", args.heap_size), ("--heap-base", args.heap_base))
                   if value is not None]
        if ignored:
            raise UsageError(f"snapshot load: {' and '.join(ignored)} cannot apply: the snapshot holds the whole "
                             f"RAM, heap included (give them to 'snapshot save')")
    if args.snapshot_command == "save":
        target = Path(args.file)
        if target.is_dir() or not target.resolve().parent.is_dir():
            raise UsageError(f"cannot write snapshot {args.file}: not a file in an existing folder")
    with open_board(args) as board:
        if args.snapshot_command == "save":
            if args.resume:
                resume_or_boot(board)
            else:
                boot(board)
            if not run_all(board, scripts(args)):
                return 1
            board.settle()
            try:
                size = save_snapshot(board.machine, args.file)
            except OSError as e:
                raise UsageError(f"cannot write snapshot {args.file}: {e.strerror or e}") from None
            print(f"saved snapshot {args.file} ({size} bytes)")
            return 0
        on_disk = bytes(board.flash.backing)
        try:
            load_snapshot(board.machine, args.file)
        except (KeyError, TypeError, AttributeError, ValueError) as e:   # valid magic, malformed header
            raise UsageError(f"{args.file}: not a usable mpsim snapshot (malformed header: "
                             f"{type(e).__name__}: {e})") from None
        if not args.with_flash and bytes(board.flash.backing) != on_disk:
            # The flash is the user's persistent storage: an older snapshot must not silently
            # roll back the hibernate images saved since it was taken.
            board.flash.backing[:] = on_disk
            kept = (f"kept the flash image {board.store.path}" if board.store.path.exists()
                    else "kept the erased flash (no flash image file yet)")
            print(f"{kept}; the snapshot's flash contents were not applied (--with-flash applies them)",
                  file=sys.stderr)
        board.repl.drain(0)
        if not run_all(board, scripts(args)):
            return 1
        if args.repl:
            from .repl import interactive
            return interactive(board)
    return 0

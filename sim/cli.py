"""The ``mpsim`` command: a table of commands, each a handler plus its arguments.

``main`` catches mpsim's own errors and prints ``mpsim: <message>`` on stderr:
exit 0 ok, 1 failure, 2 bad usage or input. ``run`` exits with the script's status.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from .errors import SimError

Handler = Callable[[argparse.Namespace], int]
ENVIRONMENT = """environment:
  MPSIM_FIRMWARE   default firmware ELF (default: firmware/build/<board>/firmware.elf in the source tree)
  MPSIM_FLASH_DIR  where flash images persist (default: flash_images/ in the source tree, else
                   ~/.local/share/mpsim/flash_images)
  MPSIM_BOARDS     folder of board TOML files (default: the ones shipped with mpsim)
  MPSIM_CACHE      parsed ELF and board cache (default: ~/.cache/mpsim)
  MPSIM_ENGINE     auto | patched | stock libunicorn (default: auto)
  MPSIM_CONTROL    control socket for 'mpsim control' (default: none)"""
COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register ``fn`` as ``mpsim <name>``; ``args(parser)`` adds its options."""
    def wrap(fn):
        COMMANDS[name] = (fn, args, help)
        return fn
    return wrap


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="mps2-an385", help="board name or TOML file (default: mps2-an385)")
    p.add_argument("--firmware", default=None, help="firmware ELF (default: the built default firmware)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a command, only that command's module is
    imported and only its sub-parser built (``mpsim run`` need not load the heap
    walker and the serial bridge, nor build fourteen parsers it will not use)."""
    from . import commands
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    wanted = first if argv and "-h" not in argv[:1] and "--help" not in argv[:1] else None
    commands.load(wanted)
    from . import __version__
    parser = argparse.ArgumentParser(prog="mpsim", description="Simulated MicroPython board with hibernate-to-flash.",
                                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mpsim {__version__}")
    # prog given: argparse would otherwise build a help formatter (importing shutil) to compute it
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="mpsim")
    for name, (_fn, add_args, help_) in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            continue
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``mpsim ARGS...``; returns the exit status. Called without ``argv`` (the
    console script, ``python -m sim``) it ends the process itself (``_leave``)."""
    if argv is None:
        _leave(_main(sys.argv[1:]))
    return _main(argv)


def _leave(status: int) -> None:
    """Exit without tearing down Unicorn and the interpreter (~13 ms of a ~100 ms
    ``mpsim run``). Safe because a command has saved everything before it returns:
    flash images and other files are written, synced and renamed inside the
    command. Output is flushed and atexit handlers run as on a normal exit. With a
    non-daemon thread still running, exit normally (that waits for it)."""
    import atexit
    threading = sys.modules.get("threading")
    if threading is not None and any(t is not threading.main_thread() and not t.daemon and t.is_alive()
                                     for t in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        status = status or 1
    try:
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        status = status or 1
    os._exit(status)


def _main(argv: list[str]) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:           # argparse: bad usage is exit 2, --help is 0
        return int(e.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    handler = COMMANDS[args.command][0]
    import signal
    from . import interrupt
    signal.signal(signal.SIGINT, interrupt.handler)
    try:
        return handler(args)
    except SimError as e:
        print(f"mpsim: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mpsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())

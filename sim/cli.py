"""The ``mpsim`` command: a table of commands, each a handler plus its arguments.

``main`` catches mpsim's own errors and prints ``mpsim: <message>`` on stderr:
exit 0 ok, 1 failure, 2 bad usage or input. ``run`` exits with the script's status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from .errors import SimError

Handler = Callable[[argparse.Namespace], int]
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
    imported (``mpsim run`` need not load the heap walker and the serial bridge)."""
    from . import commands
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    commands.load(first if argv and "-h" not in argv[:1] and "--help" not in argv[:1] else None)
    parser = argparse.ArgumentParser(prog="mpsim", description="Simulated MicroPython board with hibernate-to-flash.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_fn, add_args, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:           # argparse: bad usage is exit 2, --help is 0
        return int(e.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    handler = COMMANDS[args.command][0]
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

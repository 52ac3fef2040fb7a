"""The ``--gdb PORT`` / ``--gdb-wait`` options, shared by the commands that run a board
interactively (serve, repl). Not a command module: importing it registers nothing."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..numbers import port



def gdb_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gdb", type=port, metavar="PORT",
                   help="GDB remote stub on 127.0.0.1:PORT (0: any free port; printed as gdb:HOST:PORT) (default: none)")
    p.add_argument("--gdb-wait", action="store_true",
                   help="with --gdb: hold the board at reset until GDB attaches and continues (QEMU's -S; default: no)")


def gdb_server(args: argparse.Namespace, machine, monitor):
    """The GDB stub the arguments ask for, or None."""
    if args.gdb is None:
        if args.gdb_wait:
            raise UsageError("--gdb-wait needs --gdb PORT")
        return None
    from ..gdb.server import GdbServer
    return GdbServer(machine, args.gdb, wait=args.gdb_wait, monitor=monitor)

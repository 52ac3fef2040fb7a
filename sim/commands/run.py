"""``mpsim run``: a script on the board as a CI step.

Like ``python script.py``: the console output streams as the board prints it,
and the exit status is the script's: 0 when it ends, the code of ``sys.exit(n)``
/ ``raise SystemExit(n)``, 1 for an uncaught exception, the firmware's own status
when it exits through semihosting, 1 with the crash report for a guest fault.
``--timeout`` limits the script's wall time (none by default; Ctrl-C stops it).

How the status comes back, on any MicroPython version: sim/commands/program.py.
"""

from __future__ import annotations

import argparse
import ast
import sys

from ..cli import command
from ..errors import BoardStopped, GuestFault, ReplTimeout, UsageError
from .program import STATUS_QUERY, wrap
from .session import board_args, boot, err, hibernate_with_progress, open_board, realtime_arg, save_table

BOOT_TIMEOUT_S = 30.0          # booting to the prompt: a firmware that never gets there fails


def _run_args(p: argparse.ArgumentParser) -> None:
    board_args(p, timeout=None, timeout_help="the script's wall-time limit in seconds (default: none; "
                                             "Ctrl-C stops it)")
    p.add_argument("-c", "--exec", dest="code", action="append", default=[], metavar="CODE",
                   help="Python to run on the board (repeatable; runs before the script; default: none)")
    p.add_argument("script", nargs="?", help="a Python file to run on the board; - reads it from stdin")
    p.add_argument("--hibernate", action="store_true",
                   help="hibernate to flash after the code has run (default: no); the report goes to stderr")
    realtime_arg(p)
    from ..gdb.options import gdb_args
    gdb_args(p)


@command("run", "boot the board, run Python on it, stream its output; exit with the script's status", _run_args)
def run(args: argparse.Namespace) -> int:
    codes = list(args.code)
    if args.script == "-":
        codes.append(sys.stdin.read())
    elif args.script:
        from ..files import read_text       # a regular file (no FIFO, device), size capped
        codes.append(read_text(args.script, "script"))
    if not codes:
        raise UsageError("nothing to run: give a script file, - for stdin, or -c CODE")
    from ..numbers import check_seconds
    check_seconds(args.timeout, "--timeout")   # the script's limit; the boot has its own
    limit, args.timeout = args.timeout, BOOT_TIMEOUT_S
    with open_board(args, hibernatable=args.hibernate, writes_flash=args.hibernate) as board:
        gdb = _gdb_for_run(args, board)
        status = 1
        try:
            boot(board)
            board.repl.timeout_s = None
            board.repl.link.stop_on_reset()
            for code in codes:
                status = run_program(board, code, limit)
                if status is not None:
                    return status
            if args.hibernate:
                err.print(save_table(hibernate_with_progress(board)))
            status = 0
        finally:
            if gdb is not None:
                gdb.close(exit_status=status if status is not None else 1)
    return 0


def _gdb_for_run(args: argparse.Namespace, board):
    """``run --gdb``: the stub is served from inside ``machine.run`` (Machine.debug_gate);
    a person may hold the board at a breakpoint for as long as they like."""
    from ..gdb.monitor import board_monitor
    from ..gdb.options import gdb_server
    gdb = gdb_server(args, board.machine, board_monitor(board))
    if gdb is not None:
        board.machine.debug_gate = gdb.gate
        print(f"mpsim: GDB on {gdb.label.removeprefix('gdb:')}", file=sys.stderr, flush=True)
    return gdb


def run_program(board, code: str, timeout_s: float | None) -> int | None:
    """Run ``code`` as a program, its output streamed to stdout. Returns its exit
    status when it ended the run (an exception, SystemExit, a stopped firmware),
    None when it ran to its end and the next piece may follow."""
    out = sys.stdout.buffer

    def stream(data: bytes) -> None:
        out.write(data.replace(b"\r\n", b"\n"))
        out.flush()

    program = wrap(code)
    try:
        exc = board.repl.exec_stream(program.code, stream, timeout_s)
    except GuestFault as e:                 # the firmware's crash report, then the fault's one line
        stream(e.output)
        raise
    except BoardStopped as e:
        stream(e.output.encode())
        if e.exit_status is None:
            raise
        print(f"mpsim: {e}", file=sys.stderr)
        return e.exit_status
    except ReplTimeout as e:
        stream(e.output.encode())
        raise ReplTimeout(f"the script did not finish within {timeout_s:g} s (--timeout); "
                          f"its output so far is above") from None
    if exc:
        sys.stderr.write(program.traceback(exc))
        sys.stderr.flush()
        return 1
    status = ast.literal_eval(board.repl.exec(STATUS_QUERY).strip())
    if status is None:
        return None
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)          # sys.exit("message"): the message, status 1
    return 1

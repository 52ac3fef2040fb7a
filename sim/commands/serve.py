"""``mpsim serve``: the board's console on a pty or TCP port, for stock serial tools.

    $ mpsim serve                      # prints /dev/pts/N, then control:/tmp/.../control.sock
    $ mpremote connect /dev/pts/N resume exec "x = 42"
    $ echo power-cycle | nc -U /tmp/.../control.sock     (or: mpsim control power-cycle)
    $ mpremote connect /dev/pts/N resume eval x            # 42: the state survived

Line 1 of stdout is the serial endpoint (``/dev/pts/N`` or ``tcp:127.0.0.1:PORT``),
line 2 the control socket (``control:PATH``), line 3 with ``--gdb`` the GDB stub
(``gdb:127.0.0.1:PORT``); everything else goes to stderr.
The board runs until SIGINT/SIGTERM or ``quit``; the flash image is saved on the
way out. See sim/bridge/ for how it works.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..cli import command
from ..numbers import port, seconds
from ..errors import UsageError
from ..gdb.options import gdb_args, gdb_server
from .session import board_args, open_board, realtime_arg

CONTROL_ENV = "MPSIM_CONTROL"



def _serve_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    realtime_arg(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="a pseudo-terminal, /dev/pts/N (the default)")
    where.add_argument("--tcp", type=port, metavar="PORT",
                       help="a TCP server on 127.0.0.1:PORT (0: any free port); raw bytes, one client at a time (default: a pty)")
    p.add_argument("--control", metavar="PATH",
                   help="control socket path (default: a new temporary directory, removed on exit)")
    p.add_argument("--resume", action="store_true",
                   help="resume the newest hibernate image instead of booting fresh")
    p.add_argument("--power-fail", type=_positive_ms, metavar="MEAN_MS",
                   help="fail the power at random moments, exponential intervals of this mean in emulated ms; "
                        "each failure hibernates within the hold-up budget and resumes (use --deterministic "
                        "for a replayable run; default: no power failures)")
    p.add_argument("--power-fail-seed", type=int, default=0, metavar="N",
                   help="seed of the failure moments (default: 0)")
    p.add_argument("--off-ms", type=_off_ms, default=0.0, metavar="T",
                   help="emulated time the board stays off after each power failure (default: 0)")
    p.add_argument("--holdup-us", type=_holdup_us, default=None, metavar="US",
                   help="hold-up time after the power-fail warning (default: the board file's holdup_us, else "
                        "the flash time of the firmware's largest run-state image)")
    p.add_argument("--power-fail-log", metavar="FILE", help="write each power failure (emulated time, seed) here (default: no log)")
    gdb_args(p)


def _positive_ms(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not 0 < v < 1e9:
        raise argparse.ArgumentTypeError(f"must be more than 0 ms: {text!r}")
    return v


def _off_ms(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not 0 <= v < 1e9:
        raise argparse.ArgumentTypeError(f"must be 0 ms or more: {text!r}")
    return v


def _holdup_us(text: str) -> int:
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of microseconds: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return v


def _power_fail_schedule(args, log):
    from ..bridge.powerfail import PowerFailSchedule
    if args.power_fail is None:
        if args.power_fail_log:
            raise UsageError("--power-fail-log needs --power-fail MEAN_MS")
        return None
    log_file = None
    if args.power_fail_log:
        try:
            log_file = open(args.power_fail_log, "w")
        except OSError as e:
            raise UsageError(f"cannot write the power-fail log {args.power_fail_log}: {e.strerror or e}") from None
    return PowerFailSchedule(args.power_fail, args.power_fail_seed, args.off_ms, holdup_us=args.holdup_us,
                             log_file=log_file, log=log)


@command("serve", "run the board continuously with its console on a pty or TCP port (for mpremote, picocom)",
         _serve_args)
def serve(args: argparse.Namespace) -> int:
    from ..bridge.control import ControlServer
    from ..bridge.loop import Bridge
    from ..bridge.pty import PtyEndpoint
    from ..bridge.tcp import TcpEndpoint

    def log(text: str) -> None:
        print(f"mpsim: {text}", file=sys.stderr, flush=True)

    tmpdir = None
    endpoint = control = bridge = board = gdb = schedule = None
    try:
        schedule = _power_fail_schedule(args, log)
        # Endpoints first: a busy port fails before the board boots.
        endpoint = TcpEndpoint(args.tcp) if args.tcp is not None else PtyEndpoint()
        if args.control:
            control_path = args.control
        else:
            tmpdir = tempfile.mkdtemp(prefix="mpsim-serve-")
            control_path = os.path.join(tmpdir, "control.sock")
        control = ControlServer(control_path)
        board = open_board(args)
        bridge = Bridge(board, endpoint, control, log=log)
        bridge.power_fail = schedule
        gdb = bridge.debugger = gdb_server(args, board.machine, bridge.command)
        undo = bridge.install_signals()
        try:
            if args.resume:
                report = board.resume_or_boot(report=log)
                if report:
                    log(f"resumed image #{report.sequence} in {report.host_time_s * 1000:.1f} ms")
            sys.stdout.write(f"{endpoint.label}\ncontrol:{control_path}\n" + (f"{gdb.label}\n" if gdb else ""))
            sys.stdout.flush()
            held = " (the board waits for GDB to continue)" if args.gdb_wait else ""
            via_gdb = f"GDB on {gdb.label.removeprefix('gdb:')}{held}; " if gdb else ""
            log(f"serving {board.spec.name} on {endpoint.label}; control socket {control_path}; {via_gdb}"
                "Ctrl-C or 'quit' stops")
            bridge.serve()
        finally:
            undo()
        log("stopping: flash image saved")
        return 0
    finally:
        if schedule is not None:
            log(schedule.summary())
            schedule.close()
        if gdb is not None:
            gdb.close()
        if bridge is not None:
            bridge.close()
        else:
            for part in (endpoint, control):
                if part is not None:
                    part.close()
        if board is not None:
            board.close()
            board.machine.close()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", default=os.environ.get(CONTROL_ENV),
                   help=f"the control socket that 'mpsim serve' printed, as PATH or as its 'control:PATH' line "
                        f"(default: ${CONTROL_ENV})")
    p.add_argument("request", nargs="+",
                   help="one or more of: hibernate, power-cycle, resume, reset, status, quit, help; "
                        "sent in order over one connection")
    p.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for each answer (default: 60)")


@command("control", "send requests to a running 'mpsim serve' (hibernate, power-cycle, status, quit, ...); "
         "exit 1 if one is answered with an error", _control_args)
def control(args: argparse.Namespace) -> int:
    from ..bridge.control import control_requests
    from ..bridge.loop import COMMANDS
    if not args.socket:
        raise UsageError(f"no control socket: pass --socket PATH or set {CONTROL_ENV}")
    path = args.socket.removeprefix("control:")
    unknown = [r for r in args.request if r.lower() not in COMMANDS]
    if unknown:
        raise UsageError(f"unknown request {unknown[0]!r} (requests: {', '.join(COMMANDS)}); nothing was sent")
    if not Path(path).exists():
        raise UsageError(f"no control socket at {path} (is 'mpsim serve' running?)")
    answers = control_requests(path, args.request, timeout_s=args.timeout)
    for answer in answers:
        print(answer)
    return 0 if all(a.startswith("ok") for a in answers) else 1

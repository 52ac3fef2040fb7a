"""``mpsim repl``: an interactive terminal on the board's console UART.

Raw tty when stdin is a terminal (keys go to the board as typed); line by line
when it is not (a pipe or file: each line is sent, and the session ends at EOF
once the board is idle). The escape key Ctrl-] followed by a letter controls the
board without leaving the session: h hibernate, p power-cycle (hibernate, cut
power, resume), r resume the newest image, b reboot, q quit.

On a terminal a person is on the other end, so a sleeping board keeps to the
wall clock: ``time.sleep(5)`` takes five seconds (and Ctrl-C interrupts it), a
firmware that prints once a second does so once a second. From a pipe, and in
tests, ``run`` and ``serve``, sleeps are fast-forwarded. Computing, the board
runs as fast as it can either way.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty

from ..cli import command
from ..errors import GuestFault, SimError
from ..gdb.options import gdb_args, gdb_server
from .session import board_args, open_board

ESCAPE = 0x1D          # Ctrl-]
HELP = "\r\n[mpsim] Ctrl-] then: h hibernate, p power-cycle, r resume, b reboot, q quit\r\n"


def _repl_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    p.add_argument("--resume", action="store_true", help="resume the newest hibernate image instead of booting fresh")
    gdb_args(p)


@command("repl", "interactive REPL on the simulated board (Ctrl-] q quits, Ctrl-] ? for help)", _repl_args)
def repl(args: argparse.Namespace) -> int:
    with open_board(args) as board:
        from ..gdb.monitor import board_monitor
        gdb = gdb_server(args, board.machine, board_monitor(board))
        try:
            if gdb is not None:
                print(f"mpsim: GDB on {gdb.label.removeprefix('gdb:')}", file=sys.stderr, flush=True)
            if args.resume:
                board.resume_or_boot(report=lambda line: _say(line))
            else:
                board.machine.reset()
            return interactive(board, gdb)
        finally:
            if gdb is not None:
                gdb.close()


def _say(text: str) -> None:
    sys.stdout.write(f"\r\n[mpsim] {text}\r\n")
    sys.stdout.flush()


class WallClockPace:
    """How long to wait before running a sleeping board on, so that its time keeps
    to the wall clock. Only sleeps are slowed: when the board waits for input or
    computes and falls behind, the reference moves instead (no catching up)."""

    def __init__(self, machine):
        self.machine = machine
        self._anchor()

    def _anchor(self) -> None:
        self.wall, self.board = time.monotonic(), self.machine.now_ns

    def wait_s(self) -> float:
        m = self.machine
        asleep = m.last_stop is not None and m.last_stop.kind == "idle" and not m.is_waiting_for_input()
        ahead = (m.now_ns - self.board) / 1e9 - (time.monotonic() - self.wall)
        if not asleep or ahead <= 0:
            self._anchor()
            return 0.0
        return min(ahead, 1.0)


def _control(board, key: str) -> bool:
    """Handle an escape command; False means quit."""
    try:
        if key == "q":
            return False
        if key in "hpr":
            sys.stdout.buffer.write(board.settle())     # let typed input finish first
        if key == "h":
            r = board.hibernate()
            _say(f"hibernated: image #{r.sequence}, {r.image_bytes} B, {r.host_time_s * 1000:.1f} ms")
        elif key == "p":
            r = board.hibernate()
            _say(f"hibernated image #{r.sequence}; cutting power")
            board.power_cycle()
            rr = board.resume()
            _say(f"power restored; resumed image #{rr.sequence} in {rr.host_time_s * 1000:.1f} ms")
            sys.stdout.write(board.boot_output)
        elif key == "r":
            board.power_cycle()
            rr = board.resume()
            _say(f"resumed image #{rr.sequence}")
            sys.stdout.write(board.boot_output)
        elif key == "b":
            board.machine.reset()
            _say("rebooted")
        else:
            sys.stdout.write(HELP)
    except SimError as e:
        _say(f"error: {e}")
    return True


def interactive(board, gdb=None) -> int:
    """``gdb``: a sim.gdb.server.GdbServer sharing this loop (the board does not run
    while it halts it; keys typed meanwhile wait in the UART)."""
    fd = sys.stdin.fileno()
    is_tty = os.isatty(fd)
    old = termios.tcgetattr(fd) if is_tty else None
    out = sys.stdout.buffer
    machine = board.machine
    # Anything the board already printed (e.g. the prompt consumed by boot/resume).
    pending_prompt = bytes(board.repl.drain(0))
    if pending_prompt:
        out.write(pending_prompt)
    else:
        machine.console.feed(b"\r")
    escape = False
    eof = False
    pace = WallClockPace(machine) if is_tty else None
    try:
        if is_tty:
            tty.setraw(fd)
        while True:
            idle = machine.is_waiting_for_input()
            # Waiting for input: block (0% host CPU) until a key arrives; the 1 s bound
            # only lets a sleeping firmware's timers be serviced now and then. Asleep:
            # wait until the wall clock catches up with the board's (or a key arrives).
            wait = None if gdb and gdb.halted else 1.0 if idle else (pace.wait_s() if pace else 0)
            dbg_fds = gdb.read_fds() if gdb else []
            ready, _, _ = select.select(([] if eof else [fd]) + dbg_fds, [], [], wait)
            for r in ready:
                if r in dbg_fds:
                    gdb.on_readable(r)
            if fd in ready:
                data = os.read(fd, 1024)
                if not data:
                    eof = True
                for b in data:
                    if escape:
                        escape = False
                        if not _control(board, chr(b)):
                            return 0
                    elif b == ESCAPE:
                        escape = True
                    else:
                        machine.console.feed(bytes([b if is_tty or b != 0x0A else 0x0D]))
            if gdb and gdb.halted:
                continue
            try:
                reason = machine.run(timeout_s=0.02)
            except GuestFault as e:                # the firmware's last words, then the fault
                out.write(machine.console.take_output())
                out.flush()
                if gdb is None or gdb.session is None:
                    raise
                _say(f"{e}")
                gdb.after_fault(e)                 # GDB holds the board at the fault
                continue
            if gdb:
                gdb.after_run(reason)
            chunk = machine.console.take_output()
            if chunk:
                out.write(chunk)
                out.flush()
            if machine.exit_status is not None:    # semihosting exit: the board is done
                _say(f"the firmware exited with status {machine.exit_status}")
                return machine.exit_status
            if eof and machine.is_waiting_for_input() and not machine.console.rx_pending:
                out.write(b"\r\n")
                out.flush()
                return 0
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

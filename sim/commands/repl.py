"""``mpsim repl``: an interactive terminal on the board's console UART.

Raw tty when stdin is a terminal (keys go to the board as typed); line by line
when it is not (a pipe or file: each line is sent, and the session ends at EOF
once the board is idle). The escape key Ctrl-] followed by a letter controls the
board without leaving the session: h hibernate, p power-cycle (hibernate, cut
power, resume), r resume the newest image, b reboot, q quit.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import tty

from ..cli import command
from ..errors import GuestFault, SimError
from .session import board_args, open_board

ESCAPE = 0x1D          # Ctrl-]
HELP = "\r\n[mpsim] Ctrl-] then: h hibernate, p power-cycle, r resume, b reboot, q quit\r\n"


def _repl_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    p.add_argument("--resume", action="store_true", help="resume the newest hibernate image instead of booting fresh")


@command("repl", "interactive REPL on the simulated board (Ctrl-] q quits, Ctrl-] ? for help)", _repl_args)
def repl(args: argparse.Namespace) -> int:
    with open_board(args) as board:
        if args.resume:
            board.resume_or_boot(report=lambda line: _say(line))
        else:
            board.machine.reset()
        return interactive(board)


def _say(text: str) -> None:
    sys.stdout.write(f"\r\n[mpsim] {text}\r\n")
    sys.stdout.flush()


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


def interactive(board) -> int:
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
    try:
        if is_tty:
            tty.setraw(fd)
        while True:
            idle = machine.is_waiting_for_input()
            # Waiting for input: block (0% host CPU) until a key arrives; the 1 s bound
            # only lets a sleeping firmware's timers be serviced now and then.
            ready, _, _ = select.select([] if eof else [fd], [], [], 1.0 if idle else 0)
            if ready:
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
            try:
                machine.run(timeout_s=0.02)
            except GuestFault:                     # the firmware's last words, then the fault
                out.write(machine.console.take_output())
                out.flush()
                raise
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

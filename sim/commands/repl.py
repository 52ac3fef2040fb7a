"""``mpsim repl``: an interactive terminal on the board's console UART.

Raw tty when stdin is a terminal (keys go to the board as typed); line by line
when it is not (a pipe or file: each line is sent, and the session ends at EOF
once the board is idle). The escape key Ctrl-] followed by a letter controls the
board without leaving the session: h hibernate (a program running: its run
state), p power-cycle (hibernate, cut power, resume), r resume the newest image,
b reboot, q quit.

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
import tty

from ..cli import command
from ..errors import GuestFault, SimError
from ..gdb.options import gdb_args, gdb_server
from ..machine.pace import WallClockPace
from .session import board_args, open_board

ESCAPE = 0x1D          # Ctrl-]
LEAVE = "[mpsim] Ctrl-] q quits; Ctrl-] alone shows the other keys"
MENU = "[mpsim] Ctrl-] then: h hibernate, p power-cycle, r resume, b reboot, q quit (other keys: back)"
SAVE_SETTLE_S = 0.5    # how long input typed just before Ctrl-] h may take to finish


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


class Screen:
    """The terminal side: what the board printed, and the line the cursor is on, so
    that after one of mpsim's own messages the prompt (and what was typed after it)
    can be drawn again."""

    def __init__(self, out):
        self.out = out
        self.line = bytearray()          # the board's output since its last newline

    def board(self, data: bytes) -> None:
        if not data:
            return
        self.out.write(data)
        self.out.flush()
        nl = data.rfind(b"\n")
        if nl >= 0:
            self.line = bytearray(data[nl + 1:])
        else:
            self.line += data

    def say(self, text: str, redraw: bool = True) -> None:
        """One of mpsim's own lines, then the board's current line again."""
        self.out.write(f"\r\n{text}\r\n".encode())
        if redraw:
            self.out.write(bytes(self.line))
        self.out.flush()


def _at_prompt(board, screen: Screen) -> bool:
    """Let input typed just before finish, then: is the firmware at its prompt? A running
    program is not waited for (it may never end): it is hibernated where it runs."""
    screen.board(board.settle(timeout_s=SAVE_SETTLE_S))
    return board.machine.is_waiting_for_input()


def _control(board, key: str, screen: Screen) -> bool:
    """Handle an escape command; False means quit. Nothing the user has is lost: power
    is cut only after the image it will resume from is known to be there."""
    try:
        from ..runstate.control import latest_image
        if key == "q":
            return False
        if key in ("h", "p"):
            idle = _at_prompt(board, screen)       # a program running: its run state is saved instead
            r = board.hibernate(run_state=not idle)
            kind = "" if idle else "run-state "
            if key == "h":
                screen.say(f"[mpsim] hibernated: {kind}image #{r.sequence}, {r.image_bytes} B, "
                           f"{r.host_time_s * 1000:.1f} ms")
            else:
                screen.say(f"[mpsim] hibernated {kind}image #{r.sequence}; cutting power", redraw=False)
                _power_cycle_to(board, screen, latest_image(board)[0])
        elif key == "r":
            image, skipped = latest_image(board)
            if image is None:
                why = "; ".join(skipped) or "the hibernate partition is empty"
                screen.say(f"[mpsim] no valid hibernate image to resume ({why}); the board carries on")
            else:
                _power_cycle_to(board, screen, image)
        elif key == "b":
            board.machine.reset()
            screen.say("[mpsim] rebooted", redraw=False)
            screen.line.clear()
        else:
            screen.say(MENU)
    except SimError as e:
        screen.say(f"[mpsim] error: {e}")
    return True


def _power_cycle_to(board, screen: Screen, image) -> None:
    """Cut power and resume ``image``; should that fail, the board boots fresh rather
    than stay off (the image on flash is untouched either way)."""
    board.power_cycle()
    try:
        rr = board.resume(image)
    except SimError as e:
        board.machine.reset()
        screen.line.clear()
        screen.say(f"[mpsim] resume failed ({e}); booted fresh instead, the image is still on flash", redraw=False)
        return
    screen.say(f"[mpsim] power restored; resumed image #{rr.sequence} in {rr.host_time_s * 1000:.1f} ms",
               redraw=False)
    screen.line.clear()
    screen.board(board.boot_output.encode())


def interactive(board, gdb=None) -> int:
    """``gdb``: a sim.gdb.server.GdbServer sharing this loop (the board does not run
    while it halts it; keys typed meanwhile wait in the UART)."""
    fd = sys.stdin.fileno()
    is_tty = os.isatty(fd)
    old = termios.tcgetattr(fd) if is_tty else None
    screen = Screen(sys.stdout.buffer)
    machine = board.machine
    if is_tty:
        screen.out.write(f"{LEAVE}\r\n".encode())
    # Anything the board already printed (e.g. the prompt consumed by boot/resume).
    pending_prompt = bytes(board.repl.drain(0))
    if pending_prompt:
        screen.board(pending_prompt)
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
                for i, b in enumerate(data):
                    if escape:
                        escape = False
                        if not _control(board, chr(b), screen):
                            screen.out.write(b"\r\n")
                            screen.out.flush()
                            return 0
                    elif b == ESCAPE:
                        escape = True
                        if i == len(data) - 1:       # a person pressed it: the next key is to come
                            screen.say(MENU)
                    else:
                        machine.console.feed(bytes([b if is_tty or b != 0x0A else 0x0D]))
            if gdb and gdb.halted:
                continue
            try:
                reason = machine.run(timeout_s=0.02)
            except GuestFault as e:                # the firmware's last words, then the fault
                screen.board(machine.console.take_output())
                screen.out.write(b"\r\n")
                if gdb is None or gdb.session is None:
                    raise
                screen.say(f"[mpsim] {e}", redraw=False)
                gdb.after_fault(e)                 # GDB holds the board at the fault
                continue
            if gdb:
                gdb.after_run(reason)
            screen.board(machine.console.take_output())
            if machine.exit_status is not None:    # semihosting exit: the board is done
                screen.say(f"[mpsim] the firmware exited with status {machine.exit_status}", redraw=False)
                return machine.exit_status
            if eof and machine.is_waiting_for_input() and not machine.console.rx_pending:
                screen.out.write(b"\r\n")
                screen.out.flush()
                return 0
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

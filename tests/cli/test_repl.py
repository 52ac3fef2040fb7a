"""``mpsim repl`` on a real pseudo-terminal, as a person uses it: keys in, screen out.

The user's work must survive the escape commands: Ctrl-] r with nothing saved
must not cut the power, Ctrl-] h while a program runs answers at once.
"""

from __future__ import annotations

import os
import select
import subprocess
import time

import pytest

from tests.cli.helpers import MPSIM, needs_console_script

pytestmark = needs_console_script
ESC = b"\x1d"
WAIT_S = 60          # a bound against hangs, not a speed requirement


class Terminal:
    def __init__(self, tmp_path):
        self.master, slave = os.openpty()
        env = dict(os.environ, MPSIM_FLASH_DIR=str(tmp_path / "flash_images"))
        self.proc = subprocess.Popen([str(MPSIM), "repl", "--flash", str(tmp_path / "f.bin")], stdin=slave,
                                     stdout=slave, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
        os.close(slave)
        self.screen = b""

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)
        time.sleep(0.05)       # keys of a person arrive one read at a time (not an assertion)

    def expect(self, marker: bytes, timeout_s: float = WAIT_S) -> bytes:
        """Everything up to and including ``marker`` since the last expect."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0 and self.proc.poll() is None, \
                f"no {marker!r}; exit {self.proc.poll()}; screen {self.screen[-400:]!r}; {self._stderr()}"
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:
                    pass
        i = self.screen.index(marker) + len(marker)
        got, self.screen = self.screen[:i], self.screen[i:]
        return got

    def rest(self) -> bytes:
        while True:
            try:
                if not select.select([self.master], [], [], 1.0)[0]:
                    return self.screen
                chunk = os.read(self.master, 4096)
            except OSError:
                return self.screen
            if not chunk:
                return self.screen
            self.screen += chunk

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.proc.stderr.close()
        os.close(self.master)


@pytest.fixture
def term(tmp_path, firmware_path):
    t = Terminal(tmp_path)
    yield t
    t.close()


def test_says_how_to_leave_shows_the_menu_and_ends_with_a_newline(term):
    first = term.expect(b">>> ")
    assert b"Ctrl-] q quits" in first
    term.type(ESC)
    term.expect(b"h hibernate, p power-cycle, r resume, b reboot, q quit")
    term.type(b"q")
    assert term.proc.wait(WAIT_S) == 0
    assert term.rest().endswith(b"\r\n")


def test_resume_with_no_image_keeps_the_session(term):
    term.expect(b">>> ")
    term.type(b"keep = 41\r")
    term.expect(b">>> ")
    term.type(ESC)
    term.type(b"r")
    term.expect(b"no valid hibernate image to resume")
    term.expect(b">>> ")                    # the prompt drawn again after the message
    term.type(b"print(keep + 1)\r")
    assert b"42" in term.expect(b">>> ")
    term.type(ESC + b"q")
    assert term.proc.wait(WAIT_S) == 0


def test_hibernate_while_a_program_runs_saves_its_run_state_and_ctrl_c_works_after(term):
    term.expect(b">>> ")
    term.type(b"n = 7\r")
    term.expect(b">>> ")
    term.type(b"while True: pass\r\r")
    term.type(ESC)
    term.type(b"p")                         # power-cycle mid-program: the program comes back running
    term.expect(b"hibernated run-state image #1")
    term.expect(b"resumed image #1")
    term.type(b"\x03")
    term.expect(b"KeyboardInterrupt")
    term.expect(b">>> ")
    term.type(b"ab")                        # typed, not entered: drawn again after the message
    term.type(ESC)
    term.type(b"h")
    term.expect(b"hibernated: image #2")
    term.expect(b"\r\n>>> ab")
    term.type(b"\x7f\x7f")
    term.type(ESC)
    term.type(b"p")
    term.expect(b"resumed image #3")
    term.expect(b">>> ")
    term.type(b"print(n * 6)\r")
    assert b"42" in term.expect(b">>> ")

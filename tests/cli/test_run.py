"""``mpsim run`` as a CI step: exit status, streamed output, time limits, stopped firmware.

Real ``mpsim`` processes on the real firmware. The status cases run on every
firmware version built (see helpers.firmwares), since how a version's raw REPL
treats SystemExit differs and mpsim must not depend on it.
"""

from __future__ import annotations

import functools
import select
import signal
import subprocess
import time

import pytest

from tests.cli.helpers import MPSIM, env, firmwares, mpsim, needs_console_script, one_error_line  # noqa: F401
from tests.conftest import require_firmware

pytestmark = needs_console_script

VIPER = ("import micropython\n"
         "@micropython.viper\n"
         "def poke(a: int, v: int):\n"
         "    ptr32(a)[0] = v\n"
         "@micropython.viper\n"
         "def peek(a: int) -> int:\n"
         "    return ptr32(a)[0]\n"
         "@micropython.viper\n"
         "def addr(b) -> int:\n"
         "    return int(ptr32(b))\n")
PENDSV_VECTOR = "peek(0xE000ED08) + 0x38"          # VTOR + 4 * 14
PEND_PENDSV = "poke(0xE000ED04, 1 << 28)\n"         # ICSR.PENDSVSET: the handler runs at once
# Thumb: movs r0,#0x20 (SYS_EXIT_EXTENDED); add r1,pc,#4; bkpt 0xab; b .;
# then the block {ADP_Stopped_ApplicationExit, 7}: the firmware exits with status 7.
EXIT_7 = "b'\\x20\\x20\\x01\\xa1\\xab\\xbe\\xfe\\xe7\\x26\\x00\\x02\\x00\\x07\\x00\\x00\\x00'"


@pytest.mark.parametrize("fw", firmwares(), ids=lambda p: p.parent.name)
@pytest.mark.parametrize("code, status, stdout, stderr_has", [
    ("print('fine')", 0, "fine\n", None),
    ("import sys\nprint('a')\nsys.exit(3)\nprint('b')", 3, "a\n", None),
    ("raise SystemExit(5)", 5, "", None),
    ("import sys\nsys.exit()", 0, "", None),
    ("raise SystemExit", 0, "", None),
    ("import sys\nsys.exit('bye now')", 1, "", "bye now"),
    ("def f():\n    1/0\nprint('x')\nf()", 1, "x\n",
     ('line 4, in <module>\n  File "<stdin>", line 2, in f\nZeroDivisionError',)),
    ("s = \"\"\"a\n b\"\"\"\nif s != 'a\\n b':\n    raise ValueError(s)", 0, "", None),
    ("try:\n    raise SystemExit(4)\nexcept SystemExit as e:\n    print('caught', e.args[0])", 0, "caught 4\n", None),
], ids=["ok", "sys.exit(3)", "SystemExit(5)", "sys.exit()", "bare-SystemExit", "exit-message", "exception",
        "multi-line-string", "caught"])
def test_exit_status_is_the_scripts(mpsim, tmp_path, fw, code, status, stdout, stderr_has):
    if not fw.exists():
        require_firmware()
    if "import sys" in code and not _has_sys(str(fw)):
        pytest.skip(f"{fw.parent.name}: this firmware has no sys module")
    script = tmp_path / "s.py"
    script.write_text(code)
    r = mpsim("run", "--firmware", fw, script)
    assert r.returncode == status, f"exit {r.returncode}, want {status}; stderr {r.stderr!r}"
    assert r.stdout == stdout
    if isinstance(stderr_has, tuple):    # the device's traceback, in the script's own line numbers
        assert r.stderr.startswith("Traceback") and stderr_has[0] in r.stderr, r.stderr
        assert r.stderr.count('File "<stdin>"') == 2, r.stderr    # the wrapper's frames are gone
    else:
        assert r.stderr.strip() == (stderr_has or ""), r.stderr


@functools.cache
def _has_sys(fw: str) -> bool:
    r = subprocess.run([str(MPSIM), "run", "--firmware", fw, "-c", "import sys"], capture_output=True, timeout=120)
    return r.returncode == 0


def test_status_of_each_c_in_turn(mpsim, firmware_path):
    r = mpsim("run", "-c", "x = 1", "-c", "import sys; sys.exit(x + 1)", "-c", "print('never')")
    assert (r.returncode, r.stdout) == (2, "")


def test_script_from_stdin(mpsim, firmware_path):
    r = mpsim("run", "-", stdin="import sys\nprint('from stdin', 6 * 7)\nsys.exit(9)\n")
    assert (r.returncode, r.stdout) == (9, "from stdin 42\n"), r.stderr


def test_a_script_as_large_as_before_the_wrapper_still_fits(mpsim, tmp_path, firmware_path):
    """~23 KB ran before exit statuses were read and must still run: the board holds the
    source once, not twice (the limit on the 1.9.2 heap is between 23 and 31 KB)."""
    script = tmp_path / "big.py"
    script.write_text("".join(f"v{i} = {i} * 2\n" for i in range(1500)) + "print('done')\n")
    r = mpsim("run", script)
    assert (r.returncode, r.stdout) == (0, "done\n"), r.stderr


def test_syntax_error_is_the_boards(mpsim, firmware_path):
    r = mpsim("run", "-c", "x = (1 +")
    assert r.returncode == 1 and "SyntaxError" in r.stderr, r.stderr


def test_control_characters_reach_the_board_intact(mpsim, firmware_path):
    r = mpsim("run", "-c", "s = '\x01\x04'\nprint(len(s), ord(s[1]))")
    assert (r.returncode, r.stdout) == (0, "2 4\n"), r.stderr


def test_firmware_exit_is_the_status_at_once(mpsim, firmware_path):
    """A semihosting exit while the script runs: exit with the firmware's status, now
    (before: the run waited for its 30 s timeout and exited 1)."""
    code = VIPER + f"code = bytearray({EXIT_7})\nprint('before')\npoke({PENDSV_VECTOR}, addr(code) | 1)\n" \
        + PEND_PENDSV + "print('after')\n"
    r = mpsim("run", "-c", code)
    assert r.returncode == 7, r.stderr
    assert r.stdout == "before\n"
    one_error_line(r, 7, "exited with status 7")


def test_fatal_halt_is_reported_at_once(mpsim, firmware_path):
    """The firmware's FATAL path (nlr_jump_fail: print, then spin in `b .`) ends the
    run with its message, instead of waiting for a timeout that may never come."""
    from sim.firmware import Firmware
    nlr_jump_fail = Firmware.load(firmware_path).symbol("nlr_jump_fail").addr
    code = VIPER + f"print('going down')\npoke({PENDSV_VECTOR}, {nlr_jump_fail | 1})\n" + PEND_PENDSV
    r = mpsim("run", "-c", code, timeout=100)
    assert "going down\n" in r.stdout and "FATAL: uncaught NLR" in r.stdout
    one_error_line(r, 1, "stopped", "branch-to-self", "nlr_jump_fail")


def test_reset_by_the_firmware_ends_the_run(mpsim, firmware_path):
    code = VIPER + "print('resetting')\npoke(0xE000ED0C, 0x05FA0004)\nprint('not reached')\n"   # AIRCR.SYSRESETREQ
    r = mpsim("run", "-c", code, timeout=100)
    assert r.stdout.startswith("resetting\n") and "not reached" not in r.stdout
    one_error_line(r, 1, "reset")


def test_huge_script_after_the_firmware_died_stops(mpsim, tmp_path, firmware_path):
    """1 MB does not fit the board's heap: the firmware halts while receiving it (FATAL)
    and the upload stops there, instead of feeding the rest to a dead board."""
    script = tmp_path / "big.py"
    script.write_text("x = 1\n" * 180_000)
    r = mpsim("run", script, timeout=100)
    assert "FATAL" in r.stdout
    one_error_line(r, 1, "stopped")


def test_timeout_prints_the_output_so_far_as_text(mpsim, firmware_path):
    r = mpsim("run", "--timeout", "2", "-c", "print('started')\nwhile True:\n    pass")
    assert r.stdout == "started\n"
    one_error_line(r, 1, "did not finish within 2 s", "--timeout")


def test_output_streams_while_the_script_runs(tmp_path, env, firmware_path):
    """The first line arrives while the script still computes (before: only at its end).
    The script never ends by itself; the test stops it."""
    p = subprocess.Popen([str(MPSIM), "run", "-c", "print('first')\nwhile True:\n    pass"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 100)
        assert ready, "no output within 100 s"
        line = p.stdout.readline()
        assert line == b"first\n"
        assert p.poll() is None, f"the run ended (exit {p.returncode}) before its output came: not streamed"
        p.send_signal(signal.SIGINT)                  # Ctrl-C still stops a run with no time limit
        assert p.wait(60) == 130
        assert b"interrupted" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_run_has_no_time_limit_by_default(mpsim, firmware_path):
    r = mpsim("run", "--help")
    assert "default: none" in " ".join(r.stdout.split())

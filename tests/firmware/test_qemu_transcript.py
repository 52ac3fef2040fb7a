"""Our firmware in QEMU, an independent model of the mps2-an385 board.

Boots firmware/build/mps2-an385/<version>/firmware.elf, for every MicroPython
version in firmware/versions.txt that is built (MPSIM_FIRMWARE: just that ELF),
in ``qemu-system-arm -M mps2-an385`` with the UART on stdio pipes and drives a
REPL transcript; the hook-free "plain" firmware gets a short one. QEMU's LED trace
events show the FPGA I/O LEDs from outside the firmware. Every wait has a
timeout, so a broken firmware fails instead of hanging.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sim.paths import firmware_elf, firmware_versions

QEMU = shutil.which("qemu-system-arm")
BOARD = "mps2-an385"
PLAIN_VERSIONS = ["1.19", "1.23"]

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm)")


def _firmwares() -> list:
    """(version, ELF) per version; the version is None for an MPSIM_FIRMWARE of unknown origin."""
    if os.environ.get("MPSIM_FIRMWARE"):
        return [pytest.param((None, Path(os.environ["MPSIM_FIRMWARE"])), id="MPSIM_FIRMWARE")]
    return [pytest.param((v, firmware_elf(BOARD, v)), id=v) for v in firmware_versions()[0]]


def _require(elf: Path, hint: str) -> Path:
    if not elf.exists():
        pytest.skip(f"firmware not built ({elf}); run: {hint}")
    return elf


@pytest.fixture(scope="module", params=_firmwares())
def firmware(request):
    version, elf = request.param
    return version, _require(elf, f"make -C firmware MPY_VERSION={version}")


@pytest.fixture(scope="module")
def ELF(firmware):
    return firmware[1]

PROMPT = b">>> "
TIMEOUT = 30.0   # escape hatch: QEMU answers in well under a second, a loaded host may stall it


class Qemu:
    """QEMU with the firmware's UART0 on pipes; output collected by reader threads."""

    def __init__(self, elf: Path, *extra_args: str):
        self.proc = subprocess.Popen(
            [QEMU, "-M", "mps2-an385", "-display", "none", "-monitor", "none",
             "-serial", "stdio", "-kernel", str(elf), "-trace", "led_change_intensity", *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()   # UART output not yet consumed by expect()
        self.trace = bytearray()  # QEMU's stderr (trace events)
        self.cond = threading.Condition()
        for stream, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.trace)):
            threading.Thread(target=self._pump, args=(stream, buf), daemon=True).start()

    def _pump(self, stream, buf):
        while chunk := stream.read1(4096):
            with self.cond:
                buf += chunk
                self.cond.notify_all()

    def send(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def expect(self, pattern: bytes, timeout: float = TIMEOUT, buf=None) -> bytes:
        """Wait for `pattern`; return everything up to and including it, consuming it."""
        buf = self.out if buf is None else buf
        deadline = time.monotonic() + timeout
        with self.cond:
            while (i := buf.find(pattern)) < 0:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"timed out waiting for {pattern!r}; got {bytes(buf)!r}")
                self.cond.wait(left)
            got = bytes(buf[: i + len(pattern)])
            del buf[: i + len(pattern)]
            return got

    def run(self, line: str, timeout: float = TIMEOUT) -> str:
        """Type one line at the friendly prompt; return its output (echo removed)."""
        self.send(line.encode() + b"\r")
        self.expect(line.encode() + b"\r\n", timeout)
        return self.expect(PROMPT, timeout)[: -len(PROMPT)].decode()

    def close(self):
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture(scope="module")
def qemu(firmware):
    q = Qemu(firmware[1])
    q.version = firmware[0]
    q.banner = q.expect(PROMPT).decode()
    yield q
    q.close()


def test_banner(qemu):
    version = re.escape(qemu.version) if qemu.version else r"1\.\d+"
    assert re.search(rf"MicroPython v{version}(\.\d+)?\S* on \d{{4}}-\d\d-\d\d; mps2-an385 with Cortex-M3\r\n",
                     qemu.banner), qemu.banner


def test_expression(qemu):
    assert qemu.run("print(1+1)") == "2\r\n"


def test_multiline_function(qemu):
    # The line editor auto-indents; a body line ends the block after three Enters
    # (indented blank, blank, blank) exactly as on any MicroPython board.
    qemu.send(b"def twice(n):\r")
    qemu.expect(b"...     ")
    qemu.send(b"return 2 * n\r")
    qemu.expect(b"...     ")
    qemu.send(b"\r\r\r")
    qemu.expect(PROMPT)
    assert qemu.run("twice(21)") == "42\r\n"


def test_paste_mode(qemu):
    qemu.send(b"\x05")
    qemu.expect(b"paste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
    qemu.send(b"def fact(n):\r    return 1 if n < 2 else n * fact(n - 1)\r\x04")
    qemu.expect(PROMPT)
    assert qemu.run("fact(30)") == "265252859812191058636308480000000\r\n"


def test_exception_traceback(qemu):
    out = qemu.run("1/0")
    # The message's wording changed after 1.9.2.
    message = {"1.9.2": "division by zero", None: out.rsplit(": ", 1)[-1][:-2]}.get(qemu.version, "divide by zero")
    assert out == ('Traceback (most recent call last):\r\n'
                   '  File "<stdin>", line 1, in <module>\r\n'
                   f'ZeroDivisionError: {message}\r\n')


def test_ctrl_c_interrupts_infinite_loop(qemu):
    qemu.send(b"while True: pass\r")
    qemu.expect(b"... ")
    qemu.send(b"\r")
    time.sleep(0.3)  # let it spin
    qemu.send(b"\x03")
    out = qemu.expect(PROMPT).decode()
    assert "KeyboardInterrupt" in out
    assert qemu.run("print('alive')") == "alive\r\n"


def test_big_int_and_float(qemu):
    assert qemu.run("2**100") == "1267650600228229401496703205376\r\n"
    assert qemu.run("(1 << 70) // 3") == f"{(1 << 70) // 3}\r\n"
    assert qemu.run("1.5 * 4") == "6.0\r\n"
    assert qemu.run("import math; math.sqrt(2)") == "1.414214\r\n"


def test_modules(qemu):
    out = qemu.run("import gc, micropython, sys, struct, array, collections; "
                   "struct.pack('<HI', 1, 2), array.array('i', [3]), collections.OrderedDict(a=1)")
    assert out == "(b'\\x01\\x00\\x02\\x00\\x00\\x00', array('i', [3]), OrderedDict({'a': 1}))\r\n"


def test_leds_visible_to_qemu(qemu):
    qemu.run("import board; board.leds(0)")
    assert qemu.run("board.LED(0).on(); board.leds()") == "1\r\n"
    qemu.expect(b"'USERLED0' color:green intensity 0% -> 100%", buf=qemu.trace)
    assert qemu.run("board.LED(1).toggle(); board.leds()") == "3\r\n"
    qemu.expect(b"'USERLED1' color:green intensity 0% -> 100%", buf=qemu.trace)
    assert qemu.run("board.LED(0).toggle(); board.LED(0).value(), board.leds()") == "(0, 2)\r\n"
    qemu.expect(b"'USERLED0' color:green intensity 100% -> 0%", buf=qemu.trace)


def test_sleep_ms_takes_that_long(qemu):
    qemu.run("import time")
    # Never shorter than asked, on the board's clock and on the host's. Without -icount QEMU's
    # clock is the host's (SysTick runs at the 25 MHz core clock in real time), so the board
    # cannot see more time pass than the host did around the request: that bound catches a clock
    # running fast. No upper bound in host time: a loaded host may stall QEMU for any time.
    start = time.monotonic()
    out = qemu.run("t = time.ticks_ms(); time.sleep_ms(300); time.ticks_diff(time.ticks_ms(), t)")
    elapsed = time.monotonic() - start
    assert 300 <= int(out) <= elapsed * 1000 + 1
    assert elapsed >= 0.25
    start = time.monotonic()
    us = int(qemu.run("t = time.ticks_us(); time.sleep_us(2500); time.ticks_diff(time.ticks_us(), t)"))
    assert 2500 <= us <= (time.monotonic() - start) * 1e6 + 1000


def test_raw_repl(qemu):
    qemu.send(b"\x01")
    qemu.expect(b"raw REPL; CTRL-B to exit\r\n>")
    qemu.send(b"print(6 * 7)\x04")
    assert qemu.expect(b"\x04>") == b"OK42\r\n\x04\x04>"
    qemu.send(b"raise ValueError('x')\x04")
    out = qemu.expect(b"\x04>")
    assert out.startswith(b"OK\x04") and b"ValueError: x\r\n" in out
    qemu.send(b"\x02")
    qemu.expect(PROMPT)


def test_raw_paste_mode(qemu):
    """Raw-paste (flow-controlled raw REPL, what mpremote prefers) exists from 1.13 on."""
    if qemu.version == "1.9.2":
        pytest.skip("MicroPython 1.9.2 predates raw-paste mode (mpremote falls back to the raw REPL)")
    qemu.send(b"\x01")
    qemu.expect(b"raw REPL; CTRL-B to exit\r\n>")
    qemu.send(b"\x05A\x01")
    reply = qemu.expect(b"R\x01") + qemu.expect(b"\x01")   # R\x01, window size (2 bytes), window grant
    assert reply.startswith(b"R\x01") and len(reply) == 5
    qemu.send(b"print(2 ** 10)\x04")
    assert qemu.expect(b"\x04>") == b"\x04" + b"1024\r\n\x04\x04>"
    qemu.send(b"\x02")
    qemu.expect(PROMPT)


def test_soft_reset_clears_state(qemu):
    qemu.run("x = 5")
    qemu.send(b"\x04")
    qemu.expect(b"MPY: soft reboot\r\n")
    qemu.expect(PROMPT)
    assert "NameError" in qemu.run("x")


def test_mpremote_drives_raw_repl(tmp_path, ELF):
    """mpremote (which needs a stock raw REPL) runs code over QEMU's pty."""
    # The venv's mpremote, run by this interpreter: its bin/ need not be on PATH (CI).
    if importlib.util.find_spec("mpremote") is None:
        pytest.skip("mpremote not installed (pip install mpremote, or the 'dev' extra)")
    proc = subprocess.Popen(
        [QEMU, "-M", "mps2-an385", "-display", "none", "-monitor", "none",
         "-serial", "pty", "-kernel", str(ELF)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        m = re.search(rb"/dev/pts/\d+", proc.stdout.readline())
        assert m, "QEMU did not report its pty"
        out = subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", m.group().decode(), "exec", "import board; print(board.leds(), 2**64)",
             "+", "soft-reset", "+", "eval", "6*7"],
            capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [b"0", b"18446744073709551616", b"42"]
    finally:
        proc.kill()
        proc.wait(5)


def _boot_params(magic: int, start: int, end: int) -> list[str]:
    """QEMU generic-loader devices that fill mpsim_boot_params (0x20000000) before reset."""
    args = []
    for offset, value in enumerate((magic, start, end)):
        args += ["-device", f"loader,addr={0x20000000 + 4 * offset:#x},data={value:#x},data-len=4"]
    return args


@pytest.mark.parametrize("start, end, moved", [
    (0x20100000, 0x20140000, True),    # 256 KiB higher up in RAM
    (0x20010000, 0x20030000, False),   # would overlap the C stack: rejected
    (0x20000000, 0x20010000, False),   # would overlap .data/.bss: rejected
])
def test_boot_params_move_heap(start, end, moved, ELF):
    q = Qemu(ELF, *_boot_params(0x4D505348, start, end))
    try:
        banner = q.expect(PROMPT).decode()
        assert ("boot parameters rejected" in banner) == (not moved)
        addr = int(q.run("id([])"))
        total = int(q.run("import gc; gc.mem_free() + gc.mem_alloc()"))
        if moved:
            assert start <= addr < end and total > (end - start) * 3 // 4
        else:  # the static heap, right after .bss
            assert 0x20000000 < addr < 0x20100000
    finally:
        q.close()


# -- the hook-free firmware (firmware/plain): MicroPython's own REPL, polled UART --------------------

@pytest.fixture(params=PLAIN_VERSIONS)
def plain(request):
    elf = _require(firmware_elf(BOARD, request.param, plain=True),
                   f"make -C firmware MPY_VERSION={request.param} PORT=plain")
    q = Qemu(elf, "-semihosting")
    q.version = request.param
    yield q
    q.close()


def test_plain_firmware_repl(plain):
    banner = plain.expect(PROMPT).decode()
    assert f"MicroPython v{plain.version}." in banner and "mps2-an385 (plain) with Cortex-M3" in banner
    assert plain.run("print(1+1)") == "2\r\n"
    assert plain.run("2**70") == f"{2**70}\r\n"
    plain.send(b"\x01")
    plain.expect(b"raw REPL; CTRL-B to exit\r\n>")
    plain.send(b"print(6 * 7)\x04")
    assert plain.expect(b"\x04>") == b"OK42\r\n\x04\x04>"
    plain.send(b"\x02")
    plain.expect(PROMPT)
    plain.run("x = 5")
    plain.send(b"\x04")
    plain.expect(b"MPY: soft reboot\r\n")
    plain.expect(PROMPT)
    assert "NameError" in plain.run("x")

"""The default firmware in QEMU, an independent model of the mps2-an385 board.

Boots firmware/build/mps2-an385/firmware.elf in ``qemu-system-arm -M mps2-an385``
with the UART on stdio pipes and drives a REPL transcript. QEMU's LED trace
events show the FPGA I/O LEDs from outside the firmware. Every wait has a
timeout, so a broken firmware fails instead of hanging.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ELF = Path(os.environ.get("MPSIM_FIRMWARE", REPO / "firmware" / "build" / "mps2-an385" / "firmware.elf"))
QEMU = shutil.which("qemu-system-arm")

pytestmark = [
    pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm)"),
    pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: make -C firmware"),
]

PROMPT = b">>> "
TIMEOUT = 10.0


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
def qemu():
    q = Qemu(ELF)
    q.banner = q.expect(PROMPT).decode()
    yield q
    q.close()


def test_banner(qemu):
    assert re.search(r"MicroPython v1\.9\.2\S* on \d{4}-\d\d-\d\d; mps2-an385 with Cortex-M3\r\n", qemu.banner)


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
    assert out == ('Traceback (most recent call last):\r\n'
                   '  File "<stdin>", line 1, in <module>\r\n'
                   'ZeroDivisionError: division by zero\r\n')


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
    start = time.monotonic()
    out = qemu.run("t = time.ticks_ms(); time.sleep_ms(300); time.ticks_diff(time.ticks_ms(), t)")
    elapsed = time.monotonic() - start
    # Never shorter than asked; the upper bounds only catch a broken clock (the host may be loaded).
    assert 300 <= int(out) <= 600
    assert 0.25 <= elapsed < 5  # SysTick runs at QEMU's 25 MHz core clock, in real time
    us = int(qemu.run("t = time.ticks_us(); time.sleep_us(2500); time.ticks_diff(time.ticks_us(), t)"))
    assert 2500 <= us < 20000


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


def test_soft_reset_clears_state(qemu):
    qemu.run("x = 5")
    qemu.send(b"\x04")
    qemu.expect(b"MPY: soft reboot\r\n")
    qemu.expect(PROMPT)
    assert "NameError" in qemu.run("x")


def test_mpremote_drives_raw_repl(tmp_path):
    """mpremote (which needs a stock raw REPL) runs code over QEMU's pty."""
    mpremote = shutil.which("mpremote")
    if mpremote is None:
        pytest.skip("mpremote not installed (pip install mpremote)")
    proc = subprocess.Popen(
        [QEMU, "-M", "mps2-an385", "-display", "none", "-monitor", "none",
         "-serial", "pty", "-kernel", str(ELF)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        m = re.search(rb"/dev/pts/\d+", proc.stdout.readline())
        assert m, "QEMU did not report its pty"
        out = subprocess.run(
            [mpremote, "connect", m.group().decode(), "exec", "import board; print(board.leds(), 2**64)",
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
def test_boot_params_move_heap(start, end, moved):
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

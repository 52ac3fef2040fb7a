"""``--load FILE@ADDR``: bytes written into memory before boot, as QEMU's
``-device loader,file=F,addr=A,force-raw=on``. The real firmware reads them back
with a viper ``ptr8`` peek (1.9.2 has neither ``machine.mem8`` nor ``uctypes``),
QEMU reads the same file at the same address the same way, a reset writes them
again, and what cannot be loaded is refused in one line with status 2."""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.device import Board
from sim.machine import loads
from tests.conftest import FIRMWARE, require_firmware

ROOT = Path(__file__).resolve().parents[2]
MPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
PSRAM = 0x2100_0000            # where upstream's ports/qemu puts its ROMFS image on mps2-an385
PEEK = 'exec("@micropython.viper\\ndef peek(a:int)->int:\\n return ptr8(a)[0]\\n")'


def _read_code(addr: int, n: int) -> str:
    return f"{PEEK}; print(bytes([peek({addr:#x} + i) for i in range({n})]))"


@pytest.fixture
def blob(tmp_path) -> Path:
    p = tmp_path / "blob.bin"
    p.write_bytes(b"ROMFS?" + random.Random(18).randbytes(58))
    return p


def _mpsim(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MPSIM, *args, "--flash", str(tmp_path / "flash.bin")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_firmware_reads_the_loaded_bytes(tmp_path, blob):
    require_firmware()
    second = tmp_path / "second.bin"
    second.write_bytes(b"\x01\x02\x03\x04")
    r = _mpsim(tmp_path, "run", "--load", f"{blob}@{PSRAM:#x}", "--load", f"{second}@0x20300000",
               "-c", _read_code(PSRAM, 64), "-c", "print(bytes([peek(0x20300000 + i) for i in range(4)]))")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == [repr(blob.read_bytes()), repr(b"\x01\x02\x03\x04")], r.stdout


def test_a_reset_writes_the_file_again(tmp_path, blob):
    require_firmware()
    b = Board(flash_path=tmp_path / "flash.bin")
    try:
        b.machine.loads = loads.read([f"{blob}@{PSRAM:#x}"], b.spec)
        b.boot()
        b.repl.exec(PEEK)
        b.repl.exec(f"exec('@micropython.viper\\ndef poke(a:int, v:int):\\n ptr8(a)[0] = v\\n'); poke({PSRAM:#x}, 0x5a)")
        assert b.repl.eval(f"peek({PSRAM:#x})") == 0x5A          # the firmware changed the first byte
        b.boot()                                                # power-on reset: the file again
        b.repl.exec(PEEK)
        assert b.repl.eval(f"bytes([peek({PSRAM:#x} + i) for i in range(64)])") == blob.read_bytes()
    finally:
        b.machine.close()


@pytest.mark.parametrize("where, message", [
    ("0x40000000", "address is outside the RAM and flash of board mps2-an385"),   # a timer's registers
    ("0x21ffffc8", "64 bytes do not fit: RAM psram ends at 0x22000000, 8 bytes short"),
    ("0x60400000", "or in the flash's hibernate partition"),                      # saved images live there
    ("0x603fffe0", "do not fit: flash flash ends at 0x60400000"),
    ("twelve", "'twelve' is not an address"),
])
def test_what_cannot_be_loaded_is_refused_in_one_line(tmp_path, blob, where, message):
    require_firmware()
    r = _mpsim(tmp_path, "run", "--load", f"{blob}@{where}", "-c", "print('ran')")
    assert r.returncode == 2 and "ran" not in r.stdout, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("mpsim: --load ") and message in r.stderr, r.stderr
    assert not (tmp_path / "flash.bin").exists()                   # refused before anything was touched


def test_a_missing_file_or_no_address_is_refused(tmp_path):
    for arg, message in ((f"{tmp_path}/nope.bin@0x21000000", "cannot read"), ("blob.bin", "expected FILE@ADDR")):
        r = _mpsim(tmp_path, "run", "--load", arg, "-c", "print('ran')")
        assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


QEMU = shutil.which("qemu-system-arm")


@pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed: no reference to compare with")
def test_mpsim_and_qemu_read_the_same_bytes(tmp_path, blob):
    require_firmware()
    code = _read_code(PSRAM, 64)
    mine = _mpsim(tmp_path, "run", "--load", f"{blob}@{PSRAM:#x}", "-c", code)
    assert mine.returncode == 0, mine.stderr
    theirs = _qemu_line(["-device", f"loader,file={blob},addr={PSRAM:#x},force-raw=on"], code)
    assert mine.stdout.strip() == theirs == repr(blob.read_bytes())


def _qemu_line(extra: list[str], line: str, timeout_s: float = 60.0) -> str:
    """Type ``line`` at QEMU's REPL (mps2-an385, same ELF); the first line it prints back."""
    q = subprocess.Popen([QEMU, "-M", "mps2-an385", "-nographic", "-monitor", "none", "-semihosting",
                          "-serial", "stdio", "-kernel", str(FIRMWARE), *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out = _until(q, b">>> ", b"", timeout_s)
        q.stdin.write(line.encode() + b"\r")
        q.stdin.flush()
        out = _until(q, b"\r\n>>> ", out, timeout_s)
        reply = out.rpartition(line.encode())[2]
        return reply.strip().decode().split("\r\n")[0]
    finally:
        q.kill()
        q.wait(10)


def _until(q: subprocess.Popen, marker: bytes, buf: bytes, timeout_s: float) -> bytes:
    start, deadline = len(buf), time.monotonic() + timeout_s
    fd = q.stdout.fileno()
    while marker not in buf[start:]:
        if time.monotonic() > deadline:
            raise AssertionError(f"QEMU: no {marker!r}: {buf!r}")
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"QEMU exited: {buf!r}")
            buf += chunk
    return buf

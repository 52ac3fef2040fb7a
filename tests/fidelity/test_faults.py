"""Faults against QEMU: a synchronous fault reaches the firmware's own handler with
the fault status registers set as the architecture says, byte for byte as in QEMU;
a handler that then stops the firmware is reported to the host as one GuestFault.

- tests/guest/faults.c: nine faults (bus errors on read/write/fetch, undefined
  instruction, execute-never fetch, ARM-state branch, enabled BusFault/UsageFault,
  a masked UsageFault escalating), one per boot, each handler printing CFSR/HFSR/
  BFAR/stacked PC and resetting the system; on both engines and in both clock modes.
- the MicroPython firmware: a @viper read of unmapped memory; its HardFault handler
  prints the same crash report as under QEMU, then mpsim raises GuestFault.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.errors import GuestFault

from .test_differential import ELF, QEMU, QemuSide, RAW_PROMPT, PROMPT

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "guest"))
from build import build_or_skip  # noqa: E402
from child import run_on_engine  # noqa: E402

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed: no reference")


@pytest.fixture(scope="module")
def faults_elf(tmp_path_factory) -> Path:
    return build_or_skip("faults", tmp_path_factory.mktemp("guest"))


def qemu_output(elf: Path) -> bytes:
    q = subprocess.run([QEMU, "-M", "mps2-an385", "-nographic", "-monitor", "none", "-semihosting",
                        "-serial", "stdio", "-kernel", str(elf)], capture_output=True, timeout=60)
    assert q.returncode == 0, q
    return q.stdout


@pytest.mark.parametrize("engine", ["patched", "stock"])
@pytest.mark.parametrize("mode", ["default", "det"])
def test_faults_reach_the_firmware_as_in_qemu(faults_elf, engine, mode):
    from sim import engine as eng
    if engine == "patched" and eng.kind != "patched":
        pytest.skip("patched libunicorn not built (tools/build-unicorn)")
    want = qemu_output(faults_elf)
    assert want.count(b"case ") == 9 and want.endswith(b"done\n")
    got = run_on_engine(faults_elf, engine, mode == "det")
    assert got.returncode == 0, got.stderr.decode()[-2000:]
    assert got.stdout == want


VIPER_PEEK = (b"import micropython\n@micropython.viper\ndef peek(a: int) -> int:\n"
              b"    p = ptr32(a)\n    return p[0]\nprint(peek(0x30000000))")


@pytest.mark.skipif(not ELF.exists(), reason="firmware not built; run: bash tools/setup")
def test_micropython_crash_report_matches_qemu(make_board):
    q = QemuSide(None)
    try:
        q.expect(PROMPT)
        q.send(b"\x01", 1)
        q.expect(RAW_PROMPT)
        q.send(VIPER_PEEK + b"\x04", 32)
        want = q.expect(b"mmfar=0x00000000\r\n")
    finally:
        q.close()
    assert b"FATAL: fault pc=0x" in want and b"cfsr=0x00008200 hfsr=0x40000000 bfar=0x30000000" in want

    board = make_board()
    board.machine.console.take_output()
    board.repl.link.write(b"\x01")
    board.repl.link.read(1.0)
    board.repl.link.write(VIPER_PEEK + b"\x04")
    with pytest.raises(GuestFault) as e:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            board.machine.run(timeout=1)
    got = bytes(board.machine.console.take_output())
    assert got.endswith(want[want.index(b"OK"):])
    msg = str(e.value)
    assert "read of unmapped" in msg and "0x30000000" in msg and "HardFault handler" in msg
    assert e.value.address == 0x30000000

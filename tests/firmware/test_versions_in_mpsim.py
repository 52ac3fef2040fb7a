"""Every firmware the matrix builds boots in mpsim and runs the features users expect of it.

One `mpsim run` per ELF (the real CLI, the real emulator): our port on every MicroPython
version in firmware/versions.txt, and the hook-free plain firmware (1.19, 1.23), which
has only a polled UART and MicroPython's own REPL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.paths import REPO, firmware_elf, firmware_versions

BOARD = "mps2-an385"
VERSIONS = firmware_versions()[0]
MODERN = [v for v in VERSIONS if v != "1.9.2"]
MPSIM = Path(sys.executable).with_name("mpsim")


def mpsim_run(elf, code: str) -> str:
    if not elf.exists():
        if os.environ.get("CI"):
            pytest.fail(f"firmware {elf} missing in CI: tools/setup builds the whole matrix")
        pytest.skip(f"firmware not built ({elf}); run: make -C firmware matrix")
    r = subprocess.run([str(MPSIM), "run", "--firmware", str(elf), "-c", code],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return r.stdout


def release(version: str) -> str:
    """What sys.implementation.version[:2] prints: '1.22' -> '(1, 22)'."""
    return str(tuple(int(n) for n in version.split(".")[:2]))


@pytest.mark.parametrize("version", VERSIONS)
def test_port_boots_with_its_features(version):
    out = mpsim_run(firmware_elf(BOARD, version),
                    "import sys, time, utime, board, struct, collections, errno\n"
                    "print(sys.implementation.version[:2])\n"
                    "board.leds(0); board.LED(1).on(); print(board.leds())\n"
                    "t = time.ticks_ms(); time.sleep_ms(50); print(time.ticks_diff(time.ticks_ms(), t) >= 50)\n"
                    "print(collections.OrderedDict(a=1), 2 ** 70, 1.5 * 4)\n")
    lines = out.splitlines()
    assert lines[0] == release(version)
    assert lines[1:] == ["2", "True", f"OrderedDict({{'a': 1}}) {2 ** 70} 6.0"]


@pytest.mark.parametrize("version", MODERN)
def test_modern_port_has_modern_features(version):
    out = mpsim_run(firmware_elf(BOARD, version),
                    "from collections import deque\n"
                    "d = deque((), 2); d.append(1); d.append(2); d.append(3)\n"
                    "x = 41\n"
                    "print(d.popleft(), f'{x + 1}', memoryview(b'ab')[1])\n"
                    "@micropython.asm_thumb\n"
                    "def add1(r0):\n"
                    "    add(r0, r0, 1)\n"
                    "print(add1(6))\n")
    assert out.splitlines() == ["2 42 98", "7"]


@pytest.mark.parametrize("version", ["1.19", "1.23"])
def test_plain_firmware_boots(version):
    out = mpsim_run(firmware_elf(BOARD, version, plain=True), "import sys; print(sys.implementation.version[:2]); print(1+1)")
    assert out.splitlines() == [release(version), "2"]

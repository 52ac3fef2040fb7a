"""RISC-V traps and interrupts against QEMU's ``-M virt``: tests/guest_rv/traps.c takes
an ecall, illegal instructions (32-bit, 16-bit, a write to a read-only CSR), both
ebreaks, access faults on an unmapped load/store/fetch, a misaligned load, machine
timer interrupts through a direct and a vectored mtvec (woken from WFI), the PLIC
delivering the UART's THR-empty interrupt, a semihosting write and a semihosting
exit with status 3. Its console output must be byte for byte QEMU's, on both
engines and in both clock modes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "guest"))
from build import build_or_skip  # noqa: E402
from child import run_on_engine  # noqa: E402

QEMU = shutil.which("qemu-system-riscv64")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed (apt-get install "
                                "qemu-system-misc): no reference")


@pytest.fixture(scope="module")
def traps_elf(tmp_path_factory) -> Path:
    return build_or_skip("traps", tmp_path_factory.mktemp("guest_rv"), "rv64")


@pytest.fixture(scope="module")
def qemu_output(traps_elf) -> bytes:
    q = subprocess.run([QEMU, "-M", "virt", "-bios", "none", "-nographic", "-monitor", "none", "-semihosting",
                        "-serial", "stdio", "-kernel", str(traps_elf)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    # (QEMU writes semihosting console output to stderr, mpsim to the console UART.)
    assert q.returncode == 3, q
    assert q.stdout.count(b"trap mcause") == 9 and q.stdout.endswith(b"done\n")
    return q.stdout


@pytest.mark.parametrize("engine", ["patched", "stock"])
@pytest.mark.parametrize("mode", ["default", "det"])
def test_traps_and_interrupts_as_in_qemu(traps_elf, qemu_output, engine, mode):
    from sim import engine as eng
    if engine == "patched" and eng.kind != "patched":
        pytest.skip("patched libunicorn not built (tools/build-unicorn)")
    got = run_on_engine(traps_elf, engine, mode == "det", board="virt-rv64")
    assert got.returncode == 3, got.stderr.decode()[-2000:]
    assert got.stdout == qemu_output

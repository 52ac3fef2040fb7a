"""Differential test on the 64-bit board: the REPL transcripts of test_differential.py
(friendly, raw, edges) typed into our MicroPython 1.23 port for virt-rv64 under
``qemu-system-riscv64 -M virt -bios none`` and under mpsim's virt-rv64 board must
give byte-identical UART output (same ELF, same pacing). The transcripts were written
for mps2-an385; the lines about its buttons fail alike on both sides (virt has none).
"""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from sim.paths import REPO

from .test_differential import PACING, TRANSCRIPTS, QemuSide, SimSide, explain

RV_ELF = REPO / "firmware" / "build" / "virt-rv64" / "1.23" / "firmware.elf"
QEMU_RV = shutil.which("qemu-system-riscv64")

pytestmark = [
    pytest.mark.skipif(QEMU_RV is None, reason="qemu-system-riscv64 not installed (apt-get install qemu-system-misc)"),
    pytest.mark.skipif(not RV_ELF.exists(), reason=f"firmware not built ({RV_ELF}); run: "
                       "make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23"),
]


class RvQemuSide(QemuSide):
    def __init__(self):
        self.proc = subprocess.Popen(
            [QEMU_RV, "-M", "virt", "-bios", "none", "-nographic", "-monitor", "none", "-semihosting",
             "-serial", "stdio", "-kernel", str(RV_ELF)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = bytearray()
        self.trace = bytearray()
        self.cond = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.buf), daemon=True).start()


_reference: dict[tuple, list[bytes]] = {}


def reference(name: str, pacing: str) -> list[bytes]:
    if (name, pacing) not in _reference:
        q = RvQemuSide()
        try:
            _reference[name, pacing] = q.run(TRANSCRIPTS[name], PACING[pacing])
        finally:
            q.close()
    return _reference[name, pacing]


@pytest.mark.parametrize("pacing", ["chunks"])
@pytest.mark.parametrize("mode", ["default", "deterministic"])
@pytest.mark.parametrize("name", list(TRANSCRIPTS))
def test_rv64_matches_qemu_byte_for_byte(name, mode, pacing):
    from sim.device import Board
    want = reference(name, pacing)
    board = Board("virt-rv64", RV_ELF, deterministic=(mode == "deterministic"))
    try:
        got = SimSide(board).run(TRANSCRIPTS[name], PACING[pacing])
    finally:
        board.machine.close()
    assert got == want, explain(f"rv64 {name}/{mode}/{pacing}", TRANSCRIPTS[name], want, got)
    text = b"".join(want)
    assert b"MicroPython v1.23.0" in text and b"virt-rv64 with rv64imac" in text

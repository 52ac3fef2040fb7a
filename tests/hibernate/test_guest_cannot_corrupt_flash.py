"""The exploit from issue 20, on the real firmware: Python patches a @viper function's
machine code into ``bkpt 0xAB`` (semihosting SYS_HEAPINFO) with the result buffer
aimed at each slot's commit record in the NOR flash. Before: the host wrote the
result with Unicorn's mem_write past the flash's read-only mapping, the flash file
was saved on close, and the next resume found "no commit record" in both slots.
Now the call fails with -1 (EFAULT, as in QEMU), the flash is unchanged, and the
saved state resumes."""

from __future__ import annotations

import struct

import pytest

from sim.device import Board
from tests.conftest import require_firmware

SETUP = """
import micropython, struct
@micropython.viper
def f(a: int) -> int:
    x = a + 1
    y = x * 3 + a
    return x + y + 7 * a
@micropython.viper
def peek(a: int) -> int:
    return ptr32(a)[0]
@micropython.viper
def poke8(a: int, v: int):
    ptr8(a)[0] = v
blk = bytearray(16)
"""


def viper_code_offset(firmware) -> int:
    """Where a @viper function object points at its machine code: ``fun_data`` of
    mp_obj_fun_viper_t (1.9.2), ``bytecode`` of mp_obj_fun_bc_t where viper functions
    share that type (1.20+)."""
    from sim.errors import FirmwareError
    try:
        return firmware.struct("mp_obj_fun_viper_t").field("fun_data")[0]
    except FirmwareError:
        return firmware.struct("mp_obj_fun_bc_t").field("bytecode")[0]


def movw_movt(rd: int, value: int) -> bytes:
    """Thumb-2 MOVW/MOVT: ``rd`` = ``value``."""
    out = b""
    for base, imm in ((0xF240, value & 0xFFFF), (0xF2C0, value >> 16)):
        imm4, i, imm3, imm8 = imm >> 12, (imm >> 11) & 1, (imm >> 8) & 7, imm & 0xFF
        out += struct.pack("<HH", base | (i << 10) | imm4, (imm3 << 12) | (rd << 8) | imm8)
    return out


def test_semihosting_cannot_overwrite_the_committed_images(tmp_path):
    require_firmware()
    flash_file = tmp_path / "flash.bin"
    b = Board(flash_path=flash_file)
    b.boot()
    b.repl.exec("keep = 'safe'")
    b.hibernate()
    b.hibernate()                                        # an image in each slot
    targets = [b.flash.base + s.offset for s in b.hibernator.partition.slots]
    b.repl.exec(SETUP)
    blk = b.repl.eval("peek(id(blk) + 12)")              # the bytearray's items
    # r1 = the argument block; r0 = SYS_HEAPINFO; bkpt 0xab; return r0 as a small int
    code = movw_movt(1, blk) + struct.pack("<6H", 0x2016, 0xBEAB, 0x0040, 0x3001, 0x4770, 0xBF00)
    for target in targets:
        before = bytes(b.flash.backing)
        b.repl.exec(f"struct.pack_into('<I', blk, 0, {target})\nc = peek(id(f) + {viper_code_offset(b.firmware)})\n"
                    f"for i, v in enumerate({list(code)}):\n    poke8(c + i, v)\n")
        assert b.repl.eval("f(0)") == -1                 # the call failed (SYS_ERRNO = EFAULT)
        assert bytes(b.flash.backing) == before
    b.close()
    again = Board(flash_path=flash_file)
    try:
        report = again.resume_or_boot(report=pytest.fail)
        assert report is not None and report.sequence == 2
        assert again.repl.eval("keep") == "safe"
    finally:
        again.close()

"""The instruction a fault report names (sim/arch/disasm.py), for both cores."""

from __future__ import annotations

import pytest

from sim.arch.disasm import one_instruction

pytest.importorskip("capstone", reason="capstone (a dev dependency) is not installed")


def code(hex_bytes: str):
    return lambda addr, n: bytes.fromhex(hex_bytes)[:n]


def test_thumb_and_rv64_instructions_read_back():
    assert one_instruction(code("00680000"), 0x100, "CS_ARCH_ARM", ("CS_MODE_THUMB", "CS_MODE_MCLASS")) == \
        "ldr r0, [r0]"
    assert one_instruction(code("83b20500"), 0x100, "CS_ARCH_RISCV", ("CS_MODE_RISCV64", "CS_MODE_RISCVC")) == \
        "ld t0, 0(a1)"


def test_an_unreadable_pc_gives_no_text_not_an_error():
    def unmapped(addr, n):
        raise OSError("not mapped")
    assert one_instruction(unmapped, 0xFFFFFFF0, "CS_ARCH_ARM", ("CS_MODE_THUMB",)) == ""

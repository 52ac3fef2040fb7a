"""A guest's semihosting buffers obey the bus rules its own stores obey: results
are never written into flash, ROM or unmapped space (Unicorn's host-side
mem_write ignores the mapping's protection: a guest once destroyed both committed
hibernate images this way). Such a call fails as QEMU's does: -1 (or, for
SYS_READ/SYS_WRITE, the length: nothing transferred) and SYS_ERRNO = EFAULT."""

from __future__ import annotations

import struct
import tomllib

import pytest

from sim.board import BOARDS_DIR, parse_board
from sim.firmware import Firmware
from sim.machine.machine import Machine

MAILBOX = 0x20100000
EFAULT = 14
ROM = 0x1000_0000
WHERE = {"flash": 0x6000_0100, "rom": ROM + 0x100, "unmapped": 0x3000_0000, "ram": 0x2020_0000}
SYS_OPEN, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ = 0x01, 0x03, 0x04, 0x05, 0x06
SYS_GET_CMDLINE, SYS_HEAPINFO, SYS_ELAPSED = 0x15, 0x16, 0x30
# (operation, pass the buffer as the argument block itself)
WRITING = {"read": (SYS_READ, 0), "elapsed": (SYS_ELAPSED, 1), "get_cmdline": (SYS_GET_CMDLINE, 0),
           "get_cmdline_block": (SYS_GET_CMDLINE, 1), "heapinfo": (SYS_HEAPINFO, 0)}
READING = {"open": (SYS_OPEN, 0), "writec": (SYS_WRITEC, 1), "write0": (SYS_WRITE0, 1), "write": (SYS_WRITE, 0)}


@pytest.fixture(scope="module")
def board_with_rom():
    """mps2-an385 plus a 64 KiB ROM at 0x10000000 (free space on that board)."""
    data = tomllib.loads((BOARDS_DIR / "mps2-an385.toml").read_text())
    data["memory"].append({"name": "rom", "base": ROM, "size": 0x10000, "rom": True})
    return parse_board(data)


def snapshot(m: Machine, addr: int) -> bytes | None:
    try:
        return m.read(addr & ~0xFFF, 0x2000)
    except Exception:
        return None


@pytest.mark.parametrize("where", ["flash", "rom", "unmapped"])
@pytest.mark.parametrize("call", sorted(WRITING))
def test_a_result_never_lands_outside_writable_ram(guest_elf, board_with_rom, call, where):
    op, as_block = WRITING[call]
    addr = WHERE[where]
    m0 = Machine(board_with_rom, Firmware.load(guest_elf("semihost_buffers")))
    if where == "rom":
        m0.write(ROM, bytes(range(256)) * 256)      # the host may program ROM; the guest may not
    before = snapshot(m0, addr)
    m0.console.feed(b"x" * 64)                     # SYS_READ would have input to copy
    m0.write(MAILBOX, struct.pack("<3I", op, addr, as_block))
    r = m0.run(timeout=10, stop_on_idle=False)
    assert r.kind == "exit" and r.exit_status == 0, r
    r0, errno, done = struct.unpack("<3I", m0.read(MAILBOX + 12, 12))
    assert done == 0x600D
    assert errno == EFAULT
    assert r0 == (16 if op == SYS_READ else 0xFFFFFFFF)
    assert snapshot(m0, addr) == before
    if op == SYS_READ:
        assert m0.console.rx_pending == 64             # the input was not consumed either


@pytest.mark.parametrize("call", sorted(WRITING))
def test_a_result_in_ram_is_written(guest_elf, board_with_rom, call):
    op, as_block = WRITING[call]
    m = Machine(board_with_rom, Firmware.load(guest_elf("semihost_buffers")))
    m.semihosting.cmdline = "prog arg"
    m.semihosting.heapinfo = (1, 2, 3, 4)
    addr = WHERE["ram"]
    if call == "get_cmdline_block":
        m.write(addr, struct.pack("<II", addr + 0x100, 64))
    m.console.feed(b"y" * 16)
    m.write(addr + 0x100, b"\xaa" * 16)
    m.write(MAILBOX, struct.pack("<3I", op, addr, as_block))
    r = m.run(timeout=10, stop_on_idle=False)
    assert r.kind == "exit" and r.exit_status == 0, r
    r0, errno, done = struct.unpack("<3I", m.read(MAILBOX + 12, 12))
    assert done == 0x600D and r0 == 0
    if op == SYS_READ:
        assert m.read(addr, 16) == b"y" * 16
    elif op == SYS_HEAPINFO:
        assert m.read(addr, 16) == struct.pack("<4I", 1, 2, 3, 4)
    elif call == "get_cmdline_block":
        assert m.read(addr + 0x100, 9) == b"prog arg\0" and m.read(addr + 4, 4) == struct.pack("<I", 8)
    elif op == SYS_GET_CMDLINE:
        assert m.read(addr, 9) == b"prog arg\0"


@pytest.mark.parametrize("where", ["flash", "rom", "unmapped"])
@pytest.mark.parametrize("call", sorted(READING))
def test_a_buffer_the_host_reads(guest_elf, board_with_rom, call, where):
    """Flash and ROM are readable (the call works); unmapped space is EFAULT, not a crash."""
    op, as_block = READING[call]
    m = Machine(board_with_rom, Firmware.load(guest_elf("semihost_buffers")))
    m.write(ROM + 0x100, b":tt\0")
    m.write(MAILBOX, struct.pack("<3I", op, WHERE[where], as_block))
    r = m.run(timeout=10, stop_on_idle=False)
    assert r.kind == "exit" and r.exit_status == 0, r
    r0, errno, done = struct.unpack("<3I", m.read(MAILBOX + 12, 12))
    assert done == 0x600D
    if where == "unmapped":
        assert errno == EFAULT and r0 == (16 if op == SYS_WRITE else 0xFFFFFFFF)
    else:
        assert errno != EFAULT


def test_the_guest_cannot_store_to_rom_either(guest_elf, board_with_rom):
    """The bus rule the semihosting checks mirror: a guest store to ROM faults."""
    from sim.errors import GuestFault
    m = Machine(board_with_rom, Firmware.load(guest_elf("semihost_buffers")))
    m.write(MAILBOX, struct.pack("<3I", 0xFF, ROM + 0x100, 0))
    with pytest.raises(GuestFault) as e:
        m.run(timeout=10, stop_on_idle=False)
    assert e.value.address == ROM + 0x100 and e.value.access == "write"
    assert m.read(ROM + 0x100, 4) == bytes(4)

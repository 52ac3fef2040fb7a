"""Machine's debugging interface on the real firmware, without GDB: hooks exist only
while a breakpoint or watchpoint is set, a hit stops at the exact instruction, and
step() runs one instruction."""

from __future__ import annotations

import subprocess

import pytest

from sim.device import Board
from sim.gdb.session import Session
from sim.gdb.targets import CORTEX_M, regions
from tests.conftest import require_firmware


@pytest.fixture(params=[False, True], ids=["host-paced", "deterministic"])
def board(tmp_path, request):
    require_firmware()
    b = Board(flash_path=tmp_path / "flash.bin", deterministic=request.param)
    b.boot()
    yield b
    b.machine.close()


def _run_until(m, kind, n=100):
    for _ in range(n):
        r = m.run(timeout_s=0.05)
        if r.kind == kind:
            return r
    raise AssertionError(f"no {kind} stop (last: {r})")


def _insn_sizes(elf, addr: int) -> list[tuple[int, int]]:
    """(address, size) of the instructions from ``addr`` on, from objdump."""
    out = subprocess.run(["arm-none-eabi-objdump", "-d", f"--start-address={addr:#x}",
                          f"--stop-address={addr + 32:#x}", str(elf)], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().endswith(":"):
            rows.append((int(parts[0].strip()[:-1], 16), len(parts[1].split()) * 2))
    return rows


def test_no_hook_is_installed_while_no_breakpoint_is_set(board):
    m = board.machine
    baseline = len(m.uc._callbacks)
    s = Session(m, CORTEX_M, regions(m.board), monitor=lambda w: "")
    for packet in (b"?", b"g", b"m20000000,40", b"vCont;s", b"vCont;c"):
        s.handle(packet)
    m.console.feed(b"1 + 1\r")
    _run_until(m, "idle")
    assert m.debug_hooks == {} and len(m.uc._callbacks) == baseline
    bc = m.symbol("mp_execute_bytecode") & ~1
    s.handle(b"Z0,%x,2" % bc)
    s.handle(b"Z2,20000100,4")
    assert len(m.debug_hooks) == 2 and len(m.uc._callbacks) == baseline + 2
    s.handle(b"z0,%x,2" % bc)
    s.handle(b"z2,20000100,4")
    assert m.debug_hooks == {} and len(m.uc._callbacks) == baseline


def test_a_breakpoint_inside_a_block_stops_before_its_instruction(board):
    m = board.machine
    entry = m.symbol("mp_execute_bytecode") & ~1
    rows = _insn_sizes(board.firmware.path, entry)
    mid = rows[3][0]                          # four instructions in: mid translation block
    m.console.feed(b"1 + 1\r")               # the code is translated (and cached) before the breakpoint
    _run_until(m, "idle")
    m.add_breakpoint(mid)
    m.console.feed(b"2 + 2\r")
    r = _run_until(m, "breakpoint")
    assert r.pc == mid
    assert m.run(timeout_s=30).kind == "breakpoint"        # still there: GDB steps over it itself
    s = m.step()
    assert s.kind == "step" and s.pc == mid + dict(rows)[mid]   # exactly one instruction
    m.remove_breakpoint(mid)
    _run_until(m, "idle")
    assert b"4" in m.console.take_output()


def test_a_watchpoint_stops_at_the_store_with_the_value_written(board):
    m = board.machine
    used = _gdb_address("&mp_state_ctx.vm.dict_main.map", board.firmware.path)   # map.used's word
    before = m.read(used, 4)
    m.add_watchpoint(used, 4, "write")
    m.console.feed(b"newname = 1\r")
    r = _run_until(m, "watchpoint")
    assert (r.detail, r.address) == ("write", used)
    assert m.read(used, 4) != before                        # the access has happened
    word = int.from_bytes(m.read(r.pc, 2), "little")
    assert (word & 0xF800) in (0x6000, 0x9000) or (word & 0xFE00) in (0x5000, 0xB400) \
        or (word >> 11) in (0x1D, 0x1E, 0x1F)               # a store (16-bit STR/STR sp/STR reg/PUSH) or 32-bit
    m.remove_watchpoint(used, 4, "write")
    _run_until(m, "idle")


def _gdb_address(expr: str, elf) -> int:
    import re
    import shutil
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        pytest.skip("gdb-multiarch is not installed")
    out = subprocess.run([gdb, "-batch", "-nx", "-ex", f"p/x (unsigned){expr}", str(elf)],
                         capture_output=True, text=True).stdout
    return int(re.search(r"= (0x[0-9a-f]+)", out).group(1), 16)


def test_host_calls_into_the_firmware_do_not_hit_breakpoints(board):
    """Machine.call (the host calling a firmware function) is not guest execution a
    debugger watches: a breakpoint there does not end the call; the guest still hits it."""
    m = board.machine
    collect = m.symbol("gc_collect") & ~1
    m.add_breakpoint(collect)
    m.call(collect)                        # SimError "did not return" if the hook stopped it
    m.console.feed(b"import gc; gc.collect()\r")
    assert _run_until(m, "breakpoint").pc == collect
    m.remove_breakpoint(collect)
    _run_until(m, "idle")


def test_step_at_an_it_block_steps_the_block_and_reports_a_step(board):
    """Unicorn runs an IT block as one unit: a step from its IT instruction ends after the
    block, and a breakpoint inside it passed on the way is not reported as a hit."""
    m = board.machine
    func = m.symbol("mp_obj_is_true") & ~1
    out = subprocess.run(["arm-none-eabi-objdump", "-d", f"--start-address={func:#x}",
                          f"--stop-address={func + 0x60:#x}", str(board.firmware.path)],
                         capture_output=True, text=True).stdout
    rows = []                                            # (address, mnemonic)
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().endswith(":"):
            rows.append((int(parts[0].strip()[:-1], 16), parts[2].strip()))
    its = [i for i, (_a, mnemonic) in enumerate(rows) if mnemonic in ("it", "itt", "ite", "ittt", "itte", "itet",
                                                                      "itee", "itttt")]
    if not its or its[0] + len(rows[its[0]][1]) >= len(rows):
        pytest.skip("no IT block in mp_obj_is_true in this firmware")
    i = its[0]
    block = len(rows[i][1]) - 1                          # instructions the IT covers
    it_addr, inside, after = rows[i][0], rows[i + 1][0], rows[i + 1 + block][0]
    m.add_breakpoint(it_addr)
    m.add_breakpoint(inside)
    # The truth of a small int and of a list: the first IT block is on one of those paths
    # (1.9.2: the object path; 1.23: the small-int path).
    m.console.feed(b"n = 5\rif n and [1]: pass\r\r")
    r = _run_until(m, "breakpoint")
    if r.pc != it_addr:
        pytest.skip("this firmware does not reach the IT block from 'if n and [1]'")
    s = m.step()
    assert (s.kind, s.pc) == ("step", after)
    m.remove_breakpoint(it_addr)
    m.remove_breakpoint(inside)
    _run_until(m, "idle")

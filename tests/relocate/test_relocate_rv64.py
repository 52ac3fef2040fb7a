"""Relocation, the heap census and the heap picture on the 64-bit board (virt-rv64,
MicroPython 1.23, lp64): 8-byte words, 63-bit small ints, 32-byte GC blocks.

The oracle for what Python must see after a relocated resume is the same firmware
running the same code without any hibernation (a second board, deterministic clock).
"""

from __future__ import annotations

import pytest

from sim.device import Board
from sim.mpy.picture import block_kinds, svg
from sim.mpy.relocate import RelocationError
from sim.mpy.walk import walk_memory
from sim.paths import default_firmware

from state_code import CHECK, CHECK_GEN, GENERATORS, STATE, chunks

ELF = default_firmware("virt-rv64")
pytestmark = pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: "
                                "make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23")

ELSEWHERE = 0x8100_0000
HEAPS = {"moved": (ELSEWHERE, ELSEWHERE + 128 * 1024), "2x": (ELSEWHERE, ELSEWHERE + 256 * 1024),
         "half": (ELSEWHERE, ELSEWHERE + 64 * 1024)}

# Dict and set keys of every kind whose hash the relocator must compute as the 64-bit
# firmware does when it rebuilds a table for moved identity-hashed keys: small ints
# beyond 32 bits (2**62 - 1 is the largest), mpz, floats whose hash needs 64-bit
# mp_int_t (1e10: an integer part wider than 31 bits), qstrs, None/True/False
# (immediate objects), tuples and frozensets holding moved objects.
MIXED = r"""
class O:
    pass
objs = [O() for i in range(60)]
mixed = {o: i for i, o in enumerate(objs)}
others = [2**40 + 1, 2**62 - 1, -2**62, -5, 2**100 + 3, -(2**70), 1.5, -2.25, 1e10, 3e20,
          'name', 'made' + 'here', None, True, False, b'raw', (objs[0], 1), (2**50, 'x'),
          frozenset([objs[1], 7])]
for i, k in enumerate(others):
    mixed[k] = 1000 + i
both = set(objs[:30]) | set(others)
"""
GROW = "for i in range(200):\n    mixed[2**33 + i * 7919] = i\n    both.add(-i - 10)\n"
MIXED_CHECK = ("(all(mixed[o] == i for i, o in enumerate(objs)), [mixed[k] for k in others], len(mixed), "
               "all(o in both for o in objs[:30]), all(k in both for k in others), objs[40] in both, len(both))")


def new_board(tmp_path, name="flash.bin", heap=None) -> Board:
    b = Board("virt-rv64", ELF, flash_path=tmp_path / name, deterministic=True, heap=heap)
    b.boot()
    return b


def build(board, code):
    for piece in chunks(code):
        board.repl.exec(piece)


def relocate_to(board, heap):
    """Hibernate, power-cycle, and resume into ``heap`` (None: the static heap)."""
    board.hibernate()
    board.power_cycle()
    board.heap = board.hibernator.heap = heap
    report = board.resume()
    assert report.relocated, "the heap moved, so the resume must have relocated it"
    return report


def oracle(tmp_path, code, check, then=""):
    """What ``check`` prints after ``code`` on a board that never hibernates (and again
    after ``then``, when given)."""
    b = new_board(tmp_path, "oracle.bin")
    try:
        build(b, code)
        out = b.repl.exec(f"print(repr({check}))")
        if then:
            b.repl.exec(then)
            return out, b.repl.exec(f"print(repr({check}))")
        return out
    finally:
        b.close()


@pytest.mark.parametrize("heap", list(HEAPS.values()), ids=list(HEAPS))
def test_tables_keyed_by_every_kind_of_key_are_rebuilt_exactly(tmp_path, heap):
    expected, grown = oracle(tmp_path, MIXED, MIXED_CHECK, then=GROW)
    board = new_board(tmp_path)
    build(board, MIXED)
    report = relocate_to(board, heap)
    assert "tables rehashed" in report.relocated and " 0 tables" not in report.relocated
    assert board.repl.exec(f"print(repr({MIXED_CHECK}))") == expected
    # the rebuilt tables stay usable: grow them (a rehash on the device), look up again
    board.repl.exec(GROW)
    assert board.repl.exec(f"print(repr({MIXED_CHECK}))") == grown


def test_the_relocation_state_survives_2x_and_back(tmp_path):
    """tests/relocate's whole object zoo (state_code.STATE), moved to a heap twice the
    size and back to the static heap (A -> B -> A)."""
    expected = oracle(tmp_path, STATE, CHECK)
    board = new_board(tmp_path)
    build(board, STATE)
    relocate_to(board, HEAPS["2x"])
    relocate_to(board, None)
    assert board.repl.exec(f"print(repr({CHECK}))") == expected


@pytest.mark.parametrize("heap", [HEAPS["moved"], HEAPS["half"]], ids=["moved", "half"])
def test_suspended_generators_continue_after_a_relocated_resume(tmp_path, heap):
    """Generators stopped in for-loops (inline iterators in their value stacks), in
    with/except/finally blocks, mid-expression, in yield from; not started; finished."""
    expected = oracle(tmp_path, GENERATORS, CHECK_GEN)
    board = new_board(tmp_path)
    build(board, GENERATORS)
    relocate_to(board, heap)
    assert board.repl.exec(f"print(repr({CHECK_GEN}))") == expected


def test_shrinking_below_the_live_data_is_refused_with_the_numbers(tmp_path):
    board = new_board(tmp_path)
    board.repl.exec("ballast = [bytearray(1000) for i in range(30)]")
    board.hibernate()
    board.power_cycle()
    board.heap = board.hibernator.heap = (ELSEWHERE, ELSEWHERE + 16 * 1024)
    with pytest.raises(RelocationError, match=r"live data does not fit the new heap: \d+ blocks \(\d+ bytes\) live, "
                                              r"the heap 0x81000000\.\.0x81004000 \(16384 bytes\) has a pool of"):
        board.resume()


def test_the_census_agrees_with_the_device(tmp_path):
    """After gc.collect() the allocated bytes the walker finds are gc.mem_alloc()'s, the
    objects the program made are counted as made, at their 64-bit sizes."""
    board = new_board(tmp_path)
    board.repl.exec("import gc\nclass A:\n    pass\nxs = [A() for i in range(37)]\nbig = [0] * 1000\n"
                    "fs = [i / 7 for i in range(50)]\nns = [2**40 + i for i in range(9)]\n")
    alloc = int(board.repl.exec("gc.collect(); print(gc.mem_alloc())"))
    walk = walk_memory(board.machine, board.firmware)
    assert walk.block_size == 32 and walk.relocatable, walk.report()
    assert walk.used_bytes == alloc, "allocated blocks as the device's gc counts them"
    assert walk.live_bytes() + sum(size for _, size in walk.garbage) == walk.used_bytes
    census = walk.census()
    assert census["instance of A"] == (37, 37 * 32)          # base + members map: one 32-byte block each
    assert census["float"][0] == 50                           # boxed on 64-bit too (single-precision)
    assert "int" not in census or census["int"][0] < 9        # 2**40 + i: small ints on 64-bit
    items = [b for b in walk.blocks.values() if b.role == "list.items" and b.size >= 8000]
    assert items, "[0] * 1000 holds 1000 words of 8 bytes"
    kinds = block_kinds(walk)
    assert len(kinds) == (walk.pool_end - walk.pool_start) // 32
    assert "one 32 B block" in svg(walk)

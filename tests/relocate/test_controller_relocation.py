"""Relocation through the public API: a board hibernated with one heap resumes on
a board whose heap is elsewhere / bigger / smaller, and back again."""

from __future__ import annotations

import pytest

from sim.mpy.heap_config import default_base, heap_bounds

from tests.firmware_versions import VERSIONS, per_version, selected

# the hook-free builds cannot take a new heap
mp_version, make_board = per_version(selected(VERSIONS))

STATE = """
class Node:
    def __init__(self, v):
        self.v = v
a, b = Node(1), Node(2)
by_obj = {a: 'a', b: 'b'}
members = {a, b}
def fn(x):
    return x * 2
by_fn = {fn: 'fn'}
ba = bytearray(b'\\x40\\x04\\x01\\x20' * 4)
def gen():
    for i in range(5):
        yield i
g = gen(); next(g)
big = 2 ** 150 + 3
"""
CHECK = "(by_obj[a], by_obj[b], a in members, by_fn[fn], bytes(ba), next(g), big % 1000, fn(21))"
EXPECTED = ("a", "b", True, "fn", b"\x40\x04\x01\x20" * 4, 1, (2 ** 150 + 3) % 1000, 42)


@pytest.mark.parametrize("size", [0x40000, 0x10000], ids=["2x", "0.5x"])
def test_resume_into_another_heap(make_board, tmp_path, size):
    flash = tmp_path / "flash.bin"
    a = make_board(flash_path=flash)
    a.repl.exec(STATE)
    a.hibernate()
    a.close()
    bounds = heap_bounds(a.firmware, None, size)
    b = make_board(flash_path=flash, boot=False, heap=bounds)
    report = b.resume()
    assert "heap relocated" in report.relocated
    assert b.repl.eval(CHECK) == EXPECTED
    b.repl.exec("import gc\ngc.collect()\nmore = [Node(i) for i in range(100)]")
    assert b.repl.eval("sum(n.v for n in more)") == 4950


def test_round_trip_a_b_a_keeps_the_digest(make_board, tmp_path):
    flash = tmp_path / "flash.bin"
    a = make_board(flash_path=flash)
    a.repl.exec(STATE)
    before = a.repl.eval("sorted(by_obj.values()), len(members), big")
    a.hibernate()
    other = (default_base(a.firmware), default_base(a.firmware) + 0x30000)
    b = make_board(flash_path=flash, boot=False, heap=other)
    b.resume()
    b.hibernate()
    c = make_board(flash_path=flash, boot=False)
    report = c.resume()
    assert "heap relocated" in report.relocated
    assert c.repl.eval("sorted(by_obj.values()), len(members), big") == before
    assert c.repl.eval(CHECK)[:5] == EXPECTED[:5]


def test_relocation_keeps_the_board_clock(make_board, tmp_path):
    """The clock's high word (a plain count among the GC roots) is neither a pointer
    to move nor a field the walker refuses; time goes on after a relocated resume."""
    flash = tmp_path / "flash.bin"
    a = make_board(flash_path=flash)
    a.repl.exec("import time\ntime.sleep(172)\nt = time.ticks_ms()")    # past Timer1's 2^32-cycle wrap
    a.hibernate()
    a.close()
    b = make_board(flash_path=flash, boot=False, heap=heap_bounds(a.firmware, None, 0x10000))
    assert "heap relocated" in b.resume().relocated
    assert 0 <= b.repl.eval("time.ticks_diff(time.ticks_ms(), t)") < 1000


@pytest.mark.parametrize("size", [0x40000, 0x10000], ids=["2x", "0.5x"])
def test_modern_objects_survive_relocation(make_board, tmp_path, size):
    from tests.hibernate.test_survival import MODERN
    flash = tmp_path / "flash.bin"
    a = make_board(flash_path=flash)
    a.repl.exec(MODERN)
    before = a.repl.eval("probe()")
    a.hibernate()
    a.close()
    b = make_board(flash_path=flash, boot=False, heap=heap_bounds(a.firmware, None, size))
    assert "heap relocated" in b.resume().relocated
    assert b.repl.eval("probe()") == before

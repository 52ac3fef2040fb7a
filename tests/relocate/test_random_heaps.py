"""Random object graphs built in QEMU: the precise walk reaches exactly what the GC marks,
and relocation there and back gives the same live bytes. Seeds are fixed, so a failure
replays with ``pytest tests/relocate/test_random_heaps.py -k 'seed-N'``."""

from __future__ import annotations

import random

import pytest

from sim.mpy.walk import walk
from sim.mpy.relocate import relocate

from test_heapwalk_qemu import conservative_reach
from test_relocate_qemu import entries, heap_of

PRELUDE = """
class K:
    def __init__(self, v):
        self.v = v
    def m(self):
        return self.v
def mk(n):
    def inner(x):
        return x + n
    return inner
def gen(seq):
    for s in seq:
        yield s
"""


def random_program(seed: int, n: int = 60) -> str:
    rnd = random.Random(seed)
    names = []
    lines = [PRELUDE.strip("\n")]

    def atom():
        return rnd.choice(["1", "-3", "2**80 + 1", "1.5", "'s%d'" % rnd.randrange(99), "b'\\x00\\x20'",
                           "bytearray(b'\\x70\\x04\\x00\\x20')", "None", "True", "(1, 'a')",
                           "K(%d)" % rnd.randrange(9), "mk(%d)" % rnd.randrange(9), "len"]
                          + (names and [rnd.choice(names)] or []))

    for i in range(n):
        name = f"v{i}"
        kind = rnd.randrange(9)
        if kind == 0:
            expr = "[" + ", ".join(atom() for _ in range(rnd.randrange(6))) + "]"
        elif kind == 1:
            expr = "(" + "".join(atom() + ", " for _ in range(rnd.randrange(1, 5))) + ")"
        elif kind == 2:
            keys = rnd.sample(["1", "'k'", "K(1)", "len", "(2, 3)", "2**70", "'z' * 3", "mk(2)"], 3)
            keys = [k for k in keys if k != "mk(2)"]       # closures are unhashable in 1.9.2
            expr = "{" + ", ".join(f"{k}: {atom()}" for k in keys) + "}"
        elif kind == 3:
            expr = "{" + ", ".join(rnd.sample(["1", "'a'", "K(2)", "len", "(1, 2)", "2**65"], 3)) + "}"
        elif kind == 4:
            expr = f"K({atom()})"
        elif kind == 5:
            expr = f"gen([{atom()}, {atom()}, {atom()}])"
            lines.append(f"{name} = {expr}")
            lines.append(f"next({name})")
            names.append(name)
            continue
        elif kind == 6:
            expr = f"K({rnd.randrange(9)}).m"
        elif kind == 7 and names:
            victim = rnd.choice(names)
            lines.append(f"del {victim}")
            names.remove(victim)
            continue
        else:
            expr = atom()
        lines.append(f"{name} = {expr}")
        names.append(name)
    if rnd.random() < 0.5:
        lines.append("import gc\ngc.collect()")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed-{s}")
def test_random_heap(firmware, qemu_capture, seed):
    ram = qemu_capture(random_program(seed))
    h, geo = heap_of(firmware, ram)
    w0 = walk(**h)
    assert w0.relocatable, w0.report()
    assert set(w0.blocks) == conservative_reach(firmware, ram)
    b = relocate(**h, new_start=0x20100000 + 16 * seed, new_end=0x20140000)
    a2 = relocate(firmware, h["ctx_addr"], b.ctx, b.geometry.pool_start, b.atb, b.pool, geo.start, geo.end)
    for a, blk in w0.blocks.items():
        if blk.role in ("map.table", "set.table"):
            continue
        o = a - geo.pool_start
        assert a2.pool[o:o + blk.size] == h["pool"][o:o + blk.size], f"{blk.role} at {a:#x}"
    assert entries(w0, a2.pool, geo.pool_start) == entries(w0, h["pool"], geo.pool_start)

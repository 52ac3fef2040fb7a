"""Property: a random object graph built on one firmware, hibernated, and resumed on the
next gives the same state digest, computed on the device by the same Python before and
after (dict and set lookups included). 1.22 -> the 1.23 rebuild with another heap address
and qstr numbering when it is built (tools/build-firmware-variant: identity hashes and
qstrs all change), else 1.22 -> 1.23."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.device import Board
from sim.mpy.portable.migrate import resume_migrating
from sim.paths import REPO
from tests.firmware_versions import BOARD, firmware_for


def target_firmware():
    variant = REPO / "firmware" / "build" / BOARD / "1.23-variant" / "firmware.elf"
    return variant if variant.exists() else firmware_for("1.23")

DIGEST = """
class K:
    def __init__(self, v):
        self.v = v
def mk(n):
    def inner(x):
        return x + n
    return inner
def gen(seq):
    for s in seq:
        yield s
def _dg(x, seen=None):
    seen = seen if seen is not None else []
    if any(x is s for s in seen):
        return '^'
    t = type(x).__name__
    if isinstance(x, (list, tuple)):
        seen.append(x)
        return t + '[' + ','.join(_dg(i, seen) for i in x) + ']'
    if isinstance(x, dict):
        seen.append(x)
        return t + '{' + ','.join(sorted(_dg(k, seen) + ':' + _dg(x[k], seen) for k in x)) + '}'   # lookups
    if isinstance(x, (set, frozenset)):
        return t + str(all(i in x for i in x)) + '{' + ','.join(sorted(_dg(i, seen) for i in x)) + '}'
    if isinstance(x, K):
        seen.append(x)
        return 'K(' + _dg(x.v, seen) + ')'
    if callable(x) and t in ('function', 'closure'):
        return t + ':' + repr(x(1)) if t == 'closure' else t
    if isinstance(x, (int, float, str, bytes, bytearray, bool)) or x is None:
        return t + ':' + repr(x)
    return t
"""

ATOMS = ["1", "-3", "2**80 + 1", "1.5", "'s7'", "'made_here_%d'", "b'\\x00\\x20'", "bytearray(b'ab')", "None",
         "True", "(1, 'a')", "K(4)", "mk(5)", "frozenset({1, 'f'})"]


@st.composite
def programs(draw):
    lines, names = [], []
    for i in range(draw(st.integers(3, 25))):
        def atom():
            pool = ATOMS + names
            a = draw(st.sampled_from(pool))
            return a % i if "%d" in a else a
        kind = draw(st.integers(0, 5))
        if kind == 0:
            expr = "[" + ", ".join(atom() for _ in range(draw(st.integers(0, 5)))) + "]"
        elif kind == 1:
            expr = "(" + "".join(atom() + ", " for _ in range(draw(st.integers(1, 4)))) + ")"
        elif kind == 2:
            keys = draw(st.lists(st.sampled_from(["1", "'k'", "K(1)", "len", "(2, 3)", "2**70", "'dyn_%d'" % i]),
                                 min_size=1, max_size=4, unique=True))
            expr = "{" + ", ".join(f"{k}: {atom()}" for k in keys) + "}"
        elif kind == 3:
            expr = "{" + ", ".join(draw(st.lists(st.sampled_from(["1", "'a'", "K(2)", "(1, 2)", "2**65"]),
                                                 min_size=1, max_size=4, unique=True))) + "}"
        elif kind == 4:
            expr = f"K({atom()})"
        else:
            expr = f"gen([{atom()}, {atom()}])"
        lines.append(f"v{i} = {expr}")
        names.append(f"v{i}")
    n = draw(st.integers(8, 40))           # big enough that a key hashed wrongly is not found
    lines.append(f"kd = {{K(j): j for j in range({n})}}\nks = {{K(j) for j in range({n})}}")
    lines.append("everything = [kd, ks, " + ", ".join(names) + "]")
    return "\n".join(lines) + "\n"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs())
def test_random_graphs_migrate_with_equal_digests(tmp_path_factory, program):
    flash = tmp_path_factory.mktemp("graph") / "flash.bin"
    with Board(firmware=firmware_for("1.22"), flash_path=flash) as old:
        old.boot()
        old.repl.exec(DIGEST + program)
        before = old.repl.eval("_dg(everything)")
        old.hibernate()
    with Board(firmware=target_firmware(), flash_path=flash) as new:
        report = resume_migrating(new, [firmware_for("1.22")])
        assert report is not None
        assert new.repl.eval("_dg(everything)") == before
        new.repl.exec("import gc\ngc.collect()")
        assert new.repl.eval("_dg(everything)") == before

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


def graph_programs(atoms, dict_keys, set_keys, *, lines, keys_max, sizes, extra, instances=True):
    """Random programs building ``everything``: up to ``lines`` values (lists, tuples, dicts
    keyed from ``dict_keys``, sets from ``set_keys``, K(...) instances when ``instances``,
    suspended generators) over ``atoms`` and each other, then ``kd`` (n instance keys) and
    ``extra`` (a template of n, named by its first word), n drawn from ``sizes``."""
    kinds = ["list", "tuple", "dict", "set"] + (["instance"] if instances else []) + ["gen"]

    @st.composite
    def programs(draw):
        out, names = [], []
        for i in range(draw(st.integers(*lines))):
            def atom():
                a = draw(st.sampled_from(atoms + names))
                return a % i if "%d" in a else a
            kind = kinds[draw(st.integers(0, len(kinds) - 1))]
            if kind == "list":
                expr = "[" + ", ".join(atom() for _ in range(draw(st.integers(0, 5)))) + "]"
            elif kind == "tuple":
                expr = "(" + "".join(atom() + ", " for _ in range(draw(st.integers(1, 4)))) + ")"
            elif kind == "dict":
                keys = draw(st.lists(st.sampled_from(dict_keys + [f"'dyn_{i}'"]), min_size=1, max_size=keys_max,
                                     unique=True))
                expr = "{" + ", ".join(f"{k}: {atom()}" for k in keys) + "}"
            elif kind == "set":
                expr = "{" + ", ".join(draw(st.lists(st.sampled_from(set_keys), min_size=1, max_size=keys_max,
                                                     unique=True))) + "}"
            elif kind == "instance":
                expr = f"K({atom()})"
            else:
                expr = f"gen([{atom()}, {atom()}])"
            out.append(f"v{i} = {expr}")
            names.append(f"v{i}")
        n = draw(st.integers(*sizes))          # big enough that a key hashed wrongly is not found
        out.append(f"kd = {{K(j): j for j in range({n})}}\n" + extra.format(n=n))
        out.append(f"everything = [kd, {extra.split()[0]}, " + ", ".join(names) + "]")
        return "\n".join(out) + "\n"
    return programs()


programs = graph_programs(ATOMS, ["1", "'k'", "K(1)", "len", "(2, 3)", "2**70"], ["1", "'a'", "K(2)", "(1, 2)", "2**65"],
                          lines=(3, 25), keys_max=4, sizes=(8, 40), extra="ks = {{K(j) for j in range({n})}}")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs)
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

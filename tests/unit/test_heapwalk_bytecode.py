"""ELF-free parts of the heap walker and relocation: bytecode decoding, generator stack
shapes, gc_init's layout, the host-side hash functions."""

from __future__ import annotations

import struct

import pytest

from sim.mpy.bytecode import BytecodeError
from sim.mpy.bytecode.v1_9 import V1_9 as bc
from sim.mpy.geometry import gc_layout
from sim.mpy.relocate import _float_hash, _small_int

OP = bc.opcode


def prelude(n_state=4, n_exc=0, flags=bc.flags["GENERATOR"], npos=0, cells=()):
    code_info = bytes([3, 0, 0])          # size 3: simple_name, source_file (qstr 0), no lines
    return bytes([n_state, n_exc, flags, npos, 0, 0]) + code_info + bytes(cells) + b"\xff"


def label(frm_next: int, target: int, signed: bool) -> bytes:
    v = target - frm_next + (0x8000 if signed else 0)
    return struct.pack("<H", v)


def build(ops: list) -> bytes:
    """ops: bytes, or ('jump', op, target_index, signed) resolved in a second pass."""
    out, pos, fix = b"", [], []
    for op in ops:
        pos.append(len(out))
        if isinstance(op, tuple):
            fix.append((len(out), op))
            out += bytes([op[1]]) + b"\0\0"
        else:
            out += op
    pos.append(len(out))
    buf = bytearray(out)
    for at, (_, opc, tgt, signed) in fix:
        buf[at + 1:at + 3] = label(at + 3, pos[tgt], signed)
    return bytes(buf)


def test_for_loop_over_range_with_yield_has_the_iterator_in_four_slots():
    pre = prelude()
    body = build([
        bytes([OP["LOAD_GLOBAL"], 5]),                  # 0 range
        bytes([OP["LOAD_CONST_SMALL_INT_MULTI"] + 16 + 3]),        # 1 3
        bytes([OP["CALL_FUNCTION"], 1]),                # 2 range(3)
        bytes([OP["GET_ITER_STACK"]]),                  # 3
        ("j", OP["FOR_ITER"], 10, False),               # 4 -> 10 when exhausted
        bytes([OP["STORE_FAST_MULTI"] + 0]),            # 5 i =
        bytes([OP["LOAD_FAST_MULTI"] + 0]),             # 6 i
        bytes([OP["YIELD_VALUE"]]),                     # 7
        bytes([OP["POP_TOP"]]),                         # 8
        ("j", OP["JUMP"], 4, True),                     # 9 back to FOR_ITER
        bytes([OP["LOAD_CONST_NONE"]]),                 # 10
        bytes([OP["RETURN_VALUE"]]),                    # 11
    ])
    code = pre + body + b"\0" * 3
    p, insns = bc.decode(code, 0x20001000)
    assert p.n_state == 4 and p.code_start == len(pre)
    shapes = bc.stack_shapes(p, insns)
    after_yield = next(i.next for i in insns if i.op == OP["YIELD_VALUE"])
    (shape, blocks), = shapes[after_yield]
    assert [bc.slot_kind(t) for t in shape] == ["iter", "iterpart", "iterpart", "iterpart", "obj"]
    assert blocks == ()
    assert bc.n_locals(p, insns) == 1


def test_inline_object_pointers_are_word_aligned_in_memory():
    pre = prelude()
    for base in (0x20001000, 0x20001001, 0x20001003):
        code = pre + bytes([OP["LOAD_CONST_OBJ"]]) + bytes(8) + bytes([OP["RETURN_VALUE"]]) + bytes(8)
        # put the word where the decoder will look for it
        _, insns = bc.decode(code[:len(pre) + 1] + bytes(16), base)
        ins = insns[0]
        assert (base + ins.word) % 4 == 0 and ins.word > len(pre)


def test_try_finally_and_except_shapes():
    pre = prelude(n_exc=1)
    body = build([
        ("s", OP["SETUP_FINALLY"], 6, False),           # 0 -> handler at 6
        bytes([OP["LOAD_CONST_TRUE"]]),                 # 1
        bytes([OP["YIELD_VALUE"]]),                     # 2  (inside the try)
        bytes([OP["POP_TOP"]]),                         # 3
        bytes([OP["POP_BLOCK"]]),                       # 4
        bytes([OP["LOAD_CONST_NONE"]]),                 # 5  normal path: None
        bytes([OP["END_FINALLY"]]),                     # 6  handler: None, or the exception (re-raised)
        bytes([OP["LOAD_CONST_NONE"]]),                 # 7
        bytes([OP["RETURN_VALUE"]]),                    # 8
    ])
    p, insns = bc.decode(pre + body + b"\0" * 4, 0x20002000)
    shapes = bc.stack_shapes(p, insns)
    in_try = next(i.next for i in insns if i.op == OP["YIELD_VALUE"])
    (shape, blocks), = shapes[in_try]
    assert shape == ("o",) and [b[0] for b in blocks] == ["f"]
    handler = next(i.pos for i in insns if i.op == OP["END_FINALLY"])
    assert {s for s, _ in shapes[handler]} == {("c",), ("o",)}
    after = next(i.pos for i in insns if i.pos > handler)
    assert {(s, b) for s, b in shapes[after]} == {((), ())}     # only the None path continues


def test_unknown_opcode_is_an_error_not_a_guess():
    with pytest.raises(BytecodeError):
        bc.decode(prelude() + bytes([0x4F]) + b"\0", 0x20000000)


def test_gc_geometry_matches_the_formula_of_gc_init():
    g = gc_layout(0x20000470, 0x20020470, finaliser=False, block_size=16, atb_gap=0)
    assert g.atb_len == 0x20000 // 65
    assert g.pool_end == 0x20020470 and g.pool_start == 0x20020470 - g.atb_len * 4 * 16
    assert g.atb_start + g.atb_len <= g.pool_start
    f = gc_layout(0x20000000, 0x20010008, finaliser=True, block_size=16, atb_gap=0)
    assert f.pool_end == 0x20010000 and f.ftb_start == f.atb_start + f.atb_len
    assert f.ftb_start + f.ftb_len <= f.pool_start
    gap = gc_layout(0x20000000, 0x20010008, finaliser=True, block_size=16, atb_gap=1)   # 1.20+
    assert gap.ftb_start == gap.atb_start + gap.atb_len + 1 and gap.ftb_start + gap.ftb_len <= gap.pool_start


def test_host_hashes_follow_the_firmware():
    assert _float_hash(struct.unpack("<I", struct.pack("<f", 0.0))[0]) == 0
    assert _float_hash(struct.unpack("<I", struct.pack("<f", 3.0))[0]) == 3        # whole numbers hash as ints
    assert _float_hash(struct.unpack("<I", struct.pack("<f", -2.0))[0]) == (-2) & 0xFFFFFFFF
    assert _small_int(0x20001000) == 0x20001000
    assert _small_int(0xC0000000) == 0xC0000000                                    # bit 30 set: negative

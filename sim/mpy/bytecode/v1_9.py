"""MicroPython 1.9 bytecode (1.9.2 without MICROPY_PERSISTENT_CODE, our firmware).

Its operands are encoded as mpy v5's inline-pointer build encodes them (2-byte jump
offsets, signed in excess 0x8000 for JUMP, POP_JUMP_IF_*, JUMP_IF_*_OR_POP and
UNWIND_JUMP; var-uint qstrs; object and raw-code pointers as aligned words, py/emitbc.c),
so the one decoder of engine.py reads it from this module's opcode table. What is 1.9's
own: the opcode numbering (py/bc0.h of 1.9), the prelude, where line numbers count from,
and the VM's blocks (py/vm.c), so the control-flow half of the stack analysis below
(the straight-line effects are shared, opcodes.py).

Prelude (py/bc.h): n_state, n_exc_stack (var-uints), scope_flags, n_pos_args,
n_kwonly_args, n_def_pos_args (bytes), code info (a var-uint size counting itself,
simple_name and source_file as var-uint qstrs, the line table), then the cell-local
list ending in 255, then the opcodes (not aligned).

The value stack (slot tokens): "o" object, "c" the exception a handler was entered with
(END_FINALLY re-raises it), "I"/"i" the first/other slots of an inline for-loop
iterator, "u" the unwind-return marker (a small int), and what UNWIND_JUMP pushes
through a finally: ("p", dest, pop_iter) a bytecode address, ("n", count) a raw count of
handlers left to unwind, "j" its marker (a small int). Exception blocks are (kind,
handler, shape) with kind "e" except, "f" finally, "w" with; 1.9 pops them with
POP_BLOCK / POP_EXCEPT (END_FINALLY leaves them).
"""

from __future__ import annotations

from .engine import Bytecode, line_from_table, read_uint
from .format import BytecodeError, Format, Insn, Prelude
from .stackflow import ITER_NSLOTS, _pop

_Q, _U, _L = "qstr", "uint", "label"
# name, opcode, operand, extra byte (py/bc0.h of 1.9)
OPCODES_1_9: tuple[tuple[str, int, str | None, bool], ...] = (
    ("LOAD_CONST_FALSE", 0x10, None, False), ("LOAD_CONST_NONE", 0x11, None, False),
    ("LOAD_CONST_TRUE", 0x12, None, False), ("LOAD_CONST_SMALL_INT", 0x14, "sint", False),
    ("LOAD_CONST_STRING", 0x16, _Q, False), ("LOAD_CONST_OBJ", 0x17, "obj", False),
    ("LOAD_NULL", 0x18, None, False), ("LOAD_FAST_N", 0x19, _U, False), ("LOAD_DEREF", 0x1A, _U, False),
    ("LOAD_NAME", 0x1B, _Q, False), ("LOAD_GLOBAL", 0x1C, _Q, False), ("LOAD_ATTR", 0x1D, _Q, False),
    ("LOAD_METHOD", 0x1E, _Q, False), ("LOAD_SUPER_METHOD", 0x1F, _Q, False),
    ("LOAD_BUILD_CLASS", 0x20, None, False), ("LOAD_SUBSCR", 0x21, None, False),
    ("STORE_FAST_N", 0x22, _U, False), ("STORE_DEREF", 0x23, _U, False), ("STORE_NAME", 0x24, _Q, False),
    ("STORE_GLOBAL", 0x25, _Q, False), ("STORE_ATTR", 0x26, _Q, False), ("STORE_SUBSCR", 0x27, None, False),
    ("DELETE_FAST", 0x28, _U, False), ("DELETE_DEREF", 0x29, _U, False), ("DELETE_NAME", 0x2A, _Q, False),
    ("DELETE_GLOBAL", 0x2B, _Q, False),
    ("DUP_TOP", 0x30, None, False), ("DUP_TOP_TWO", 0x31, None, False), ("POP_TOP", 0x32, None, False),
    ("ROT_TWO", 0x33, None, False), ("ROT_THREE", 0x34, None, False),
    ("JUMP", 0x35, _L, False), ("POP_JUMP_IF_TRUE", 0x36, _L, False), ("POP_JUMP_IF_FALSE", 0x37, _L, False),
    ("JUMP_IF_TRUE_OR_POP", 0x38, _L, False), ("JUMP_IF_FALSE_OR_POP", 0x39, _L, False),
    ("SETUP_WITH", 0x3D, _L, False), ("WITH_CLEANUP", 0x3E, None, False), ("SETUP_EXCEPT", 0x3F, _L, False),
    ("SETUP_FINALLY", 0x40, _L, False), ("END_FINALLY", 0x41, None, False), ("GET_ITER", 0x42, None, False),
    ("FOR_ITER", 0x43, _L, False), ("POP_BLOCK", 0x44, None, False), ("POP_EXCEPT", 0x45, None, False),
    ("UNWIND_JUMP", 0x46, _L, True), ("GET_ITER_STACK", 0x47, None, False),
    ("BUILD_TUPLE", 0x50, _U, False), ("BUILD_LIST", 0x51, _U, False), ("BUILD_MAP", 0x53, _U, False),
    ("STORE_MAP", 0x54, None, False), ("BUILD_SET", 0x56, _U, False), ("STORE_COMP", 0x57, _U, False),
    ("BUILD_SLICE", 0x58, _U, False), ("UNPACK_SEQUENCE", 0x59, _U, False), ("UNPACK_EX", 0x5A, _U, False),
    ("RETURN_VALUE", 0x5B, None, False), ("RAISE_VARARGS", 0x5C, None, True), ("YIELD_VALUE", 0x5D, None, False),
    ("YIELD_FROM", 0x5E, None, False),
    ("MAKE_FUNCTION", 0x60, "child", False), ("MAKE_FUNCTION_DEFARGS", 0x61, "child", False),
    ("MAKE_CLOSURE", 0x62, "child", True), ("MAKE_CLOSURE_DEFARGS", 0x63, "child", True),
    ("CALL_FUNCTION", 0x64, _U, False), ("CALL_FUNCTION_VAR_KW", 0x65, _U, False),
    ("CALL_METHOD", 0x66, _U, False), ("CALL_METHOD_VAR_KW", 0x67, _U, False),
    ("IMPORT_NAME", 0x68, _Q, False), ("IMPORT_FROM", 0x69, _Q, False), ("IMPORT_STAR", 0x6A, None, False),
)
# name, first opcode, count; the opcode's offset in its range is the instruction's argument
MULTI_1_9 = (("LOAD_CONST_SMALL_INT_MULTI", 0x70, 64), ("LOAD_FAST_MULTI", 0xB0, 16),
             ("STORE_FAST_MULTI", 0xC0, 16), ("UNARY_OP_MULTI", 0xD0, 7), ("BINARY_OP_MULTI", 0xD7, 36))

FORMAT_1_9 = Format(
    name="1.9 (inline pointers)", versions="1.9", labels="fixed16",
    signed_labels=frozenset({"UNWIND_JUMP", "JUMP", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE",
                             "JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"}),
    qstr_operand="uint", const_operand="inline", names="uint", var_kw_extra=2,
    active_when_handler_is_ip=False,    # not used: 1.9 unwinds below (no "already running" test)
    resolve={"qstr": None, "obj": None, "child": None},
    scope_flags=dict(VARARGS=0x01, VARKEYWORDS=0x02, GENERATOR=0x04, DEFKWARGS=0x08))

_ITER = ("I",) + ("i",) * (ITER_NSLOTS - 1)
_CALLS = ("CALL_FUNCTION", "CALL_FUNCTION_VAR_KW", "CALL_METHOD", "CALL_METHOD_VAR_KW")


class V19Bytecode(Bytecode):
    """engine.Bytecode with 1.9's opcode table, prelude, line numbers and blocks."""

    def __init__(self):
        super().__init__(FORMAT_1_9, OPCODES_1_9, MULTI_1_9)

    def prelude(self, code: bytes, base_addr: int = 0) -> Prelude:
        n_state, p = read_uint(code, 0)
        n_exc, p = read_uint(code, p)
        if p + 4 > len(code):
            raise BytecodeError("bytecode shorter than its prelude")
        flags, npos, nkw, ndef = code[p:p + 4]
        info = p + 4
        ci_size, p = read_uint(code, info)
        name, p = read_uint(code, p)
        source, line_info = read_uint(code, p)
        cell_start = info + ci_size
        cells, p = [], cell_start
        while True:
            if p >= len(code):
                raise BytecodeError("cell list runs off the end")
            b = code[p]
            p += 1
            if b == 255:
                break
            cells.append(b)
        return Prelude(n_state, n_exc, flags, npos, nkw, ndef, info, line_info, cell_start, p, cells, name,
                       source, [], self.flags)

    def source_line(self, code: bytes, pre: Prelude, offset: int) -> int:
        """1.9 counts bytecode offsets from the cell list (vm.c), ends the table with 0."""
        return line_from_table(code, pre.line_info, pre.cell_start, offset - pre.cell_start, zero_ends=True)

    TOKEN_KINDS = {"o": "obj", "c": "obj", "u": "obj", "j": "obj", "I": "iter", "i": "iterpart"}
    TAG_KINDS = {"p": "code", "n": "raw"}     # ("n", count): a raw count, not a small int

    def successors(self, ins: Insn, st):
        """The states after one instruction: [(offset, (shape, blocks)), ...]."""
        shape, blocks = st
        name, a, nxt = ins.name, ins.arg, ins.next

        def fall(sh, bl=blocks):
            return [(nxt, (sh, bl))]

        if name == "LOAD_NULL":
            return fall(shape + ("o",))
        if name == "YIELD_VALUE":
            return fall(shape)
        eff = self.effect(ins)
        if eff is not None:
            return fall(_pop(shape, eff[0]) + ("o",) * eff[1])
        if name == "DUP_TOP":
            return fall(shape + shape[-1:])
        if name == "DUP_TOP_TWO":
            return fall(shape + shape[-2:])
        if name == "ROT_TWO":
            return fall(shape[:-2] + (shape[-1], shape[-2]))
        if name == "ROT_THREE":
            return fall(shape[:-3] + (shape[-1], shape[-3], shape[-2]))
        if name == "JUMP":
            return [(ins.target, st)]
        if name in ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"):
            return [(ins.target, (_pop(shape, 1), blocks))] + fall(_pop(shape, 1))
        if name in ("JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"):
            return [(ins.target, st)] + fall(_pop(shape, 1))
        if name in ("SETUP_EXCEPT", "SETUP_FINALLY"):
            blk = ("e" if name == "SETUP_EXCEPT" else "f", ins.target, shape)
            return [(ins.target, (shape + ("c",), blocks + (blk,)))] + fall(shape, blocks + (blk,))
        if name == "SETUP_WITH":
            base = _pop(shape, 1) + ("o", "o")
            blk = ("w", ins.target, base)
            return [(ins.target, (base + ("c",), blocks + (blk,)))] + fall(base + ("o",), blocks + (blk,))
        if name == "WITH_CLEANUP":
            if shape[-1:] == ("o",):                      # None: the with body ended normally
                return fall(shape[:-3] + ("o",))
            if shape[-1:] == ("c",):                      # an exception: re-raised by END_FINALLY, or
                out = fall(shape[:-3] + ("c",))           # swallowed by __exit__ (None, block popped)
                if blocks and blocks[-1][0] == "w":
                    out += fall(shape[:-3] + ("o",), blocks[:-1])
                return out
            if shape[-1:] == ("u",):
                return fall(shape[:-4] + shape[-2:])
            if shape[-1:] == ("j",):
                return fall(shape[:-5] + shape[-3:])
            raise BytecodeError(f"WITH_CLEANUP at offset {ins.pos} with an unknown stack top")
        if name == "END_FINALLY":
            top = shape[-1:]
            if top == ("u",):
                return _unwind_return(_pop(shape, 1), blocks)
            if top == ("j",):
                (_, count), (_, dest, pop_iter) = shape[-2], shape[-3]
                return _unwind_jump(_pop(shape, 3), blocks, count, dest, pop_iter)
            if top == ("c",):
                return []                   # the exception a handler was entered with: re-raised
            return fall(_pop(shape, 1))     # None pushed by the code: continue
        if name == "GET_ITER_STACK":
            return fall(_pop(shape, 1) + _ITER)
        if name == "FOR_ITER":
            if shape[-ITER_NSLOTS:] != _ITER:
                raise BytecodeError(f"FOR_ITER at offset {ins.pos} without an iterator on the stack")
            return [(ins.target, (_pop(shape, ITER_NSLOTS), blocks))] + fall(shape + ("o",))
        if name in ("POP_BLOCK", "POP_EXCEPT"):
            if not blocks:
                raise BytecodeError(f"{name} at {ins.pos} with no block")
            return fall(shape, blocks[:-1])
        if name == "UNWIND_JUMP":
            return _unwind_jump(shape, blocks, ins.extra & 0x7F, ins.target, bool(ins.extra & 0x80))
        if name == "RETURN_VALUE":
            return _unwind_return(shape, blocks)
        if name == "RAISE_VARARGS":
            return []
        raise BytecodeError(f"no stack effect known for opcode {ins.op:#04x} at offset {ins.pos}")


def _unwind_return(shape, blocks):
    for k in range(len(blocks) - 1, -1, -1):
        kind, handler, _ = blocks[k]
        if kind in ("f", "w"):
            return [(handler, (shape + ("u",), blocks[:k]))]
    return []


def _unwind_jump(shape, blocks, count, dest, pop_iter):
    while count > 0:
        kind, handler, _ = blocks[-1]
        count -= 1
        blocks = blocks[:-1]
        if kind in ("f", "w"):
            return [(handler, (shape + (("p", dest, pop_iter), ("n", count), "j"), blocks))]
    if pop_iter:
        shape = _pop(shape, ITER_NSLOTS)
    return [(dest, (shape, blocks))]


V1_9 = V19Bytecode()

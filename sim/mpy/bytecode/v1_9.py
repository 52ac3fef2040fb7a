"""What the heap walker knows about MicroPython 1.9.2 code objects: bytecode.

Without MICROPY_PERSISTENT_CODE (our firmware), bytecode embeds object pointers
(LOAD_CONST_OBJ) and raw-code pointers (MAKE_FUNCTION/MAKE_CLOSURE) inline, word
aligned (py/emitbc.c, py/showbc.c). ``decode`` finds those words. ``stack_shapes``
computes, for every instruction, what each slot of the Python value stack holds
(an object, the four slots of an inline for-loop iterator, a bytecode address or a
raw count pushed while unwinding through ``finally``), so a suspended generator's
stack can be walked exactly (py/vm.c is the reference for every effect below).

Prelude (py/bc.h): n_state, n_exc_stack (var uints), scope_flags, n_pos_args,
n_kwonly_args, n_def_pos_args (bytes), then code_info (var-uint size first), then
the cell-local list ending in 255, then the opcodes.
"""

from __future__ import annotations

from dataclasses import dataclass

ITER_NSLOTS = 4
SCOPE_VARARGS, SCOPE_VARKEYWORDS, SCOPE_GENERATOR, SCOPE_DEFKWARGS = 0x01, 0x02, 0x04, 0x08

# opcodes (py/bc0.h)
LOAD_CONST_FALSE, LOAD_CONST_NONE, LOAD_CONST_TRUE = 0x10, 0x11, 0x12
LOAD_CONST_SMALL_INT, LOAD_CONST_STRING, LOAD_CONST_OBJ, LOAD_NULL = 0x14, 0x16, 0x17, 0x18
LOAD_FAST_N, LOAD_DEREF, LOAD_NAME, LOAD_GLOBAL, LOAD_ATTR, LOAD_METHOD, LOAD_SUPER_METHOD = range(0x19, 0x20)
LOAD_BUILD_CLASS, LOAD_SUBSCR = 0x20, 0x21
STORE_FAST_N, STORE_DEREF, STORE_NAME, STORE_GLOBAL, STORE_ATTR, STORE_SUBSCR = range(0x22, 0x28)
DELETE_FAST, DELETE_DEREF, DELETE_NAME, DELETE_GLOBAL = range(0x28, 0x2C)
DUP_TOP, DUP_TOP_TWO, POP_TOP, ROT_TWO, ROT_THREE = range(0x30, 0x35)
JUMP, POP_JUMP_IF_TRUE, POP_JUMP_IF_FALSE, JUMP_IF_TRUE_OR_POP, JUMP_IF_FALSE_OR_POP = range(0x35, 0x3A)
SETUP_WITH, WITH_CLEANUP, SETUP_EXCEPT, SETUP_FINALLY, END_FINALLY = range(0x3D, 0x42)
GET_ITER, FOR_ITER, POP_BLOCK, POP_EXCEPT, UNWIND_JUMP, GET_ITER_STACK = range(0x42, 0x48)
BUILD_TUPLE, BUILD_LIST, BUILD_MAP, STORE_MAP = 0x50, 0x51, 0x53, 0x54
BUILD_SET, STORE_COMP, BUILD_SLICE, UNPACK_SEQUENCE, UNPACK_EX = 0x56, 0x57, 0x58, 0x59, 0x5A
RETURN_VALUE, RAISE_VARARGS, YIELD_VALUE, YIELD_FROM = range(0x5B, 0x5F)
MAKE_FUNCTION, MAKE_FUNCTION_DEFARGS, MAKE_CLOSURE, MAKE_CLOSURE_DEFARGS = range(0x60, 0x64)
CALL_FUNCTION, CALL_FUNCTION_VAR_KW, CALL_METHOD, CALL_METHOD_VAR_KW = range(0x64, 0x68)
IMPORT_NAME, IMPORT_FROM, IMPORT_STAR = 0x68, 0x69, 0x6A
SMALL_INT_MULTI, LOAD_FAST_MULTI, STORE_FAST_MULTI, UNARY_OP_MULTI, BINARY_OP_MULTI = 0x70, 0xB0, 0xC0, 0xD0, 0xD7

_NO_ARG = {LOAD_CONST_FALSE, LOAD_CONST_NONE, LOAD_CONST_TRUE, LOAD_NULL, LOAD_BUILD_CLASS, LOAD_SUBSCR,
           STORE_SUBSCR, DUP_TOP, DUP_TOP_TWO, POP_TOP, ROT_TWO, ROT_THREE, WITH_CLEANUP, END_FINALLY,
           GET_ITER, GET_ITER_STACK, POP_BLOCK, POP_EXCEPT, STORE_MAP, RETURN_VALUE, YIELD_VALUE,
           YIELD_FROM, IMPORT_STAR}
_QSTR_ARG = {LOAD_CONST_STRING, LOAD_NAME, LOAD_GLOBAL, LOAD_ATTR, LOAD_METHOD, LOAD_SUPER_METHOD, STORE_NAME,
             STORE_GLOBAL, STORE_ATTR, DELETE_NAME, DELETE_GLOBAL, IMPORT_NAME, IMPORT_FROM}
_UINT_ARG = {LOAD_FAST_N, LOAD_DEREF, STORE_FAST_N, STORE_DEREF, DELETE_FAST, DELETE_DEREF, BUILD_TUPLE,
             BUILD_LIST, BUILD_MAP, BUILD_SET, BUILD_SLICE, STORE_COMP, UNPACK_SEQUENCE, UNPACK_EX,
             CALL_FUNCTION, CALL_FUNCTION_VAR_KW, CALL_METHOD, CALL_METHOD_VAR_KW}
_SLABEL = {JUMP, POP_JUMP_IF_TRUE, POP_JUMP_IF_FALSE, JUMP_IF_TRUE_OR_POP, JUMP_IF_FALSE_OR_POP, UNWIND_JUMP}
_ULABEL = {SETUP_WITH, SETUP_EXCEPT, SETUP_FINALLY, FOR_ITER}
_PTR_ARG = {MAKE_FUNCTION, MAKE_FUNCTION_DEFARGS, MAKE_CLOSURE, MAKE_CLOSURE_DEFARGS}


class BytecodeError(Exception):
    pass


@dataclass
class Prelude:
    n_state: int
    n_exc_stack: int
    scope_flags: int
    n_pos_args: int
    n_kwonly_args: int
    n_def_pos_args: int
    code_start: int          # offset of the first opcode
    cells: list[int]

    @property
    def n_args(self) -> int:
        return (self.n_pos_args + self.n_kwonly_args + bool(self.scope_flags & SCOPE_VARARGS)
                + bool(self.scope_flags & SCOPE_VARKEYWORDS))


@dataclass
class Insn:
    pos: int
    op: int
    arg: int | None
    next: int
    target: int | None = None    # jump target (offset)
    word: int | None = None      # offset of an inline pointer word
    byte: int | None = None      # extra byte (MAKE_CLOSURE n_closed, UNWIND_JUMP count)


def _uint(code: bytes, pos: int) -> tuple[int, int]:
    v = 0
    while True:
        if pos >= len(code):
            raise BytecodeError("var-uint runs off the end of the bytecode")
        b = code[pos]
        pos += 1
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, pos


def prelude(code: bytes) -> Prelude:
    n_state, p = _uint(code, 0)
    n_exc, p = _uint(code, p)
    if p + 4 > len(code):
        raise BytecodeError("bytecode shorter than its prelude")
    flags, npos, nkw, ndef = code[p:p + 4]
    p += 4
    ci_size, _ = _uint(code, p)
    p += ci_size
    cells = []
    while True:
        if p >= len(code):
            raise BytecodeError("cell list runs off the end")
        b = code[p]
        p += 1
        if b == 255:
            break
        cells.append(b)
    return Prelude(n_state, n_exc, flags, npos, nkw, ndef, p, cells)


def decode_one(code: bytes, pos: int, base_addr: int) -> Insn:
    """``base_addr`` is the bytecode's address: inline words are aligned in memory."""
    op = code[pos]
    p = pos + 1
    ins = Insn(pos, op, None, p)
    if op in _NO_ARG or SMALL_INT_MULTI <= op < BINARY_OP_MULTI + 36:
        pass
    elif op == LOAD_CONST_SMALL_INT or op in _QSTR_ARG or op in _UINT_ARG:
        ins.arg, p = _uint(code, p)
    elif op in _SLABEL:
        lab = code[p] | (code[p + 1] << 8)
        p += 2
        ins.target = p + lab - 0x8000
        if op == UNWIND_JUMP:
            ins.byte = code[p]
            p += 1
    elif op in _ULABEL:
        lab = code[p] | (code[p + 1] << 8)
        p += 2
        ins.target = p + lab
    elif op == LOAD_CONST_OBJ or op in _PTR_ARG:
        p += (-(base_addr + p)) % 4
        ins.word = p
        p += 4
        if op in (MAKE_CLOSURE, MAKE_CLOSURE_DEFARGS):
            ins.byte = code[p]
            p += 1
    elif op == RAISE_VARARGS:
        ins.byte = code[p]
        p += 1
    else:
        raise BytecodeError(f"unknown opcode {op:#04x} at offset {pos}")
    if p > len(code):
        raise BytecodeError(f"opcode {op:#04x} at offset {pos} runs off the end")
    ins.next = p
    return ins


def decode(code: bytes, base_addr: int) -> tuple[Prelude, list[Insn]]:
    """Decode to the end of the code: the allocation is zero-padded and 0x00 is not an
    opcode, so the first zero byte at an opcode position ends the stream."""
    pre = prelude(code)
    out, p = [], pre.code_start
    while p < len(code) and code[p] != 0:
        ins = decode_one(code, p, base_addr)
        out.append(ins)
        p = ins.next
    if any(code[p:]):
        raise BytecodeError(f"non-zero bytes after the last opcode at offset {p}")
    return pre, out


def n_locals(pre: Prelude, insns: list[Insn]) -> int:
    """Locals occupy the top of the state array; count the ones the code can touch."""
    n = pre.n_args
    for c in pre.cells:
        n = max(n, c + 1)
    for i in insns:
        if i.op in (LOAD_FAST_N, STORE_FAST_N, DELETE_FAST, LOAD_DEREF, STORE_DEREF, DELETE_DEREF):
            n = max(n, i.arg + 1)
        elif LOAD_FAST_MULTI <= i.op < LOAD_FAST_MULTI + 16:
            n = max(n, i.op - LOAD_FAST_MULTI + 1)
        elif STORE_FAST_MULTI <= i.op < STORE_FAST_MULTI + 16:
            n = max(n, i.op - STORE_FAST_MULTI + 1)
    return min(n, pre.n_state)


# -- value stack shapes ----------------------------------------------------------
# A shape is a tuple of slot tokens: "o" object, "c" the exception an exception
# handler was entered with (END_FINALLY re-raises it), "I"/"i" the first/other slots of an inline iterator,
# "u" the UNWIND_RETURN marker (small int), ("p", dest, pop_iter) a bytecode address
# pushed by UNWIND_JUMP, ("n", count) a raw count of handlers left to unwind, "j" the
# UNWIND_JUMP marker (small int). Exception blocks: (kind, handler, shape) with kind
# "e" except, "f" finally, "w" with.

MAX_STATES_PER_IP = 24


def slot_kind(tok) -> str:
    """How a slot is relocated: 'obj', 'iter' (first slot of an inline iterator),
    'iterpart', 'code' (bytecode address) or 'raw'."""
    if tok in ("o", "c", "u", "j"):
        return "obj"
    if tok == "I":
        return "iter"
    if tok == "i":
        return "iterpart"
    if isinstance(tok, tuple) and tok[0] == "p":
        return "code"
    return "raw"


def stack_shapes(pre: Prelude, insns: list[Insn]) -> dict[int, set]:
    """For each opcode offset, the set of (shape, exc_blocks) states it can start with."""
    by_pos = {i.pos: i for i in insns}
    states: dict[int, set] = {}
    work = [(pre.code_start, ((), ()))]
    while work:
        pos, st = work.pop()
        if pos not in by_pos:
            raise BytecodeError(f"control flow reaches offset {pos}, not an opcode")
        seen = states.setdefault(pos, set())
        if st in seen:
            continue
        if len(seen) >= MAX_STATES_PER_IP:
            raise BytecodeError(f"too many stack shapes at offset {pos}")
        seen.add(st)
        for succ in _successors(by_pos[pos], st):
            work.append(succ)
    return states


def _pop(shape, n):
    if n > len(shape):
        raise BytecodeError("value stack underflow in the analysis")
    return shape[:len(shape) - n] if n else shape


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


def _successors(ins: Insn, st):
    shape, blocks = st
    op, a, nxt = ins.op, ins.arg, ins.next

    def fall(sh, bl=blocks):
        return [(nxt, (sh, bl))]

    def push(n_pop, n_push=1):
        return fall(_pop(shape, n_pop) + ("o",) * n_push)

    if op in (LOAD_CONST_FALSE, LOAD_CONST_NONE, LOAD_CONST_TRUE, LOAD_CONST_SMALL_INT, LOAD_CONST_STRING,
              LOAD_CONST_OBJ, LOAD_NULL, LOAD_FAST_N, LOAD_DEREF, LOAD_NAME, LOAD_GLOBAL, LOAD_BUILD_CLASS,
              MAKE_FUNCTION, IMPORT_FROM) or SMALL_INT_MULTI <= op < SMALL_INT_MULTI + 64 \
            or LOAD_FAST_MULTI <= op < LOAD_FAST_MULTI + 16:
        return push(0)
    if op in (LOAD_ATTR, GET_ITER) or UNARY_OP_MULTI <= op < UNARY_OP_MULTI + 7:
        return push(1)
    if op == LOAD_METHOD:
        return push(1, 2)
    if op == LOAD_SUPER_METHOD:
        return push(3, 2)
    if op in (LOAD_SUBSCR, MAKE_FUNCTION_DEFARGS, IMPORT_NAME) or BINARY_OP_MULTI <= op < BINARY_OP_MULTI + 36:
        return push(2)
    if op in (STORE_FAST_N, STORE_DEREF, STORE_NAME, STORE_GLOBAL, POP_TOP, IMPORT_STAR) \
            or STORE_FAST_MULTI <= op < STORE_FAST_MULTI + 16:
        return fall(_pop(shape, 1))
    if op in (STORE_ATTR, STORE_MAP):
        return fall(_pop(shape, 2))
    if op == STORE_SUBSCR:
        return fall(_pop(shape, 3))
    if op in (DELETE_FAST, DELETE_DEREF, DELETE_NAME, DELETE_GLOBAL, YIELD_VALUE):
        return fall(shape)
    if op == DUP_TOP:
        return fall(shape + shape[-1:])
    if op == DUP_TOP_TWO:
        return fall(shape + shape[-2:])
    if op == ROT_TWO:
        return fall(shape[:-2] + (shape[-1], shape[-2]))
    if op == ROT_THREE:
        return fall(shape[:-3] + (shape[-1], shape[-3], shape[-2]))
    if op == JUMP:
        return [(ins.target, st)]
    if op in (POP_JUMP_IF_TRUE, POP_JUMP_IF_FALSE):
        return [(ins.target, (_pop(shape, 1), blocks))] + fall(_pop(shape, 1))
    if op in (JUMP_IF_TRUE_OR_POP, JUMP_IF_FALSE_OR_POP):
        return [(ins.target, st)] + fall(_pop(shape, 1))
    if op in (SETUP_EXCEPT, SETUP_FINALLY):
        blk = ("e" if op == SETUP_EXCEPT else "f", ins.target, shape)
        return [(ins.target, (shape + ("c",), blocks + (blk,)))] + fall(shape, blocks + (blk,))
    if op == SETUP_WITH:
        base = _pop(shape, 1) + ("o", "o")
        blk = ("w", ins.target, base)
        return [(ins.target, (base + ("c",), blocks + (blk,)))] + fall(base + ("o",), blocks + (blk,))
    if op == WITH_CLEANUP:
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
    if op == END_FINALLY:
        top = shape[-1:]
        if top == ("u",):
            return _unwind_return(_pop(shape, 1), blocks)
        if top == ("j",):
            (_, count), (_, dest, pop_iter) = shape[-2], shape[-3]
            return _unwind_jump(_pop(shape, 3), blocks, count, dest, pop_iter)
        if top == ("c",):
            return []                   # the exception a handler was entered with: re-raised
        return fall(_pop(shape, 1))     # None pushed by the code: continue
    if op == GET_ITER_STACK:
        return fall(_pop(shape, 1) + ("I", "i", "i", "i"))
    if op == FOR_ITER:
        if shape[-ITER_NSLOTS:] != ("I", "i", "i", "i"):
            raise BytecodeError(f"FOR_ITER at offset {ins.pos} without an iterator on the stack")
        return [(ins.target, (_pop(shape, ITER_NSLOTS), blocks))] + fall(shape + ("o",))
    if op in (POP_BLOCK, POP_EXCEPT):
        if not blocks:
            raise BytecodeError(f"{'POP_BLOCK' if op == POP_BLOCK else 'POP_EXCEPT'} at {ins.pos} with no block")
        return fall(shape, blocks[:-1])
    if op == UNWIND_JUMP:
        return _unwind_jump(shape, blocks, ins.byte & 0x7F, ins.target, bool(ins.byte & 0x80))
    if op in (BUILD_TUPLE, BUILD_LIST, BUILD_SET, BUILD_SLICE):
        return push(a)
    if op == BUILD_MAP:
        return push(0)
    if op == STORE_COMP:
        return fall(_pop(shape, 2 if (a & 3) == 1 else 1))
    if op == UNPACK_SEQUENCE:
        return push(1, a)
    if op == UNPACK_EX:
        return push(1, (a & 0xFF) + ((a >> 8) & 0xFF) + 1)
    if op == MAKE_CLOSURE:
        return push(ins.byte)
    if op == MAKE_CLOSURE_DEFARGS:
        return push(ins.byte + 2)
    if op in (CALL_FUNCTION, CALL_FUNCTION_VAR_KW, CALL_METHOD, CALL_METHOD_VAR_KW):
        extra = {CALL_FUNCTION: 0, CALL_FUNCTION_VAR_KW: 2, CALL_METHOD: 1, CALL_METHOD_VAR_KW: 3}[op]
        return push((a & 0xFF) + 2 * ((a >> 8) & 0xFF) + extra + 1)
    if op == RETURN_VALUE:
        return _unwind_return(shape, blocks)
    if op == RAISE_VARARGS:
        return []
    if op == YIELD_FROM:
        return fall(_pop(shape, 2) + ("o",))
    raise BytecodeError(f"no stack effect known for opcode {op:#04x} at offset {ins.pos}")

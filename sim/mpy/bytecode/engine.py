"""Decoding MicroPython bytecode of 1.12 and later, driven by a per-generation ``Format``.

Since 1.12 every generation shares the opcode numbering of py/bc0.h and the
prelude's two packed var-uints (signature, then the sizes of the code-info and
cell sections, py/bc.h).  What changed from one generation to the next is small
and listed as data in ``Format``: how jump offsets, qstrs and constant objects
are encoded in the instruction stream, what the code-info section holds, a few
stack effects, and one comparison of the unwinder.  ``mpy_v5`` and ``mpy_v6``
hold that data; this module holds the one decoder and the one stack analysis.

The stack analysis types every slot of the Python value stack at every opcode,
as the heap walker needs for a suspended generator (py/vm.c is the reference).
Slot tokens:
  "o"  an object             "c"  the exception an except handler was entered with
  "C"  the exception a finally or with handler was entered with: only compiler-made
       code tests it (async with: "is TOS a BaseException?"), so the test is known true
  ("m", bool)                the known result of that EXCEPTION_MATCH (False for the
                             small-int markers below), so the infeasible branch is not taken
  "I"  first slot of an inline for-loop iterator (MP_OBJ_NULL, or the type)
  "i"  its other slots       "u"  the unwind-return marker, small int -1
  "0"  MP_OBJ_NULL pushed by LOAD_NULL (a generator expression builds its
       iterator slots by hand: NULL, the iterator, NULL, NULL)
  ("n", count, pop_iter)     the unwind-jump marker, a small int
  ("p", dest)                a bytecode address pushed by UNWIND_JUMP
Exception-stack entries are (kind, handler, base shape), kind "e" except,
"f" finally, "w" with; ``base`` is the stack at the entry's val_sp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sim.errors import SimError

ITER_NSLOTS = 4                 # MP_OBJ_ITER_BUF_NSLOTS: base + 3 words
MAX_STATES_PER_IP = 24


class BytecodeError(SimError):
    """Bytes that are not bytecode of the generation they were decoded as."""


@dataclass(frozen=True)
class OpSpec:
    name: str
    operand: str | None         # None, "uint", "sint", "qstr", "obj", "child", "label"
    extra_byte: bool = False    # MAKE_CLOSURE*: n_closed; UNWIND_JUMP: count | 0x80 pop-iter
    base: int | None = None     # for the *_MULTI ranges: the first opcode of the range


@dataclass(frozen=True)
class Format:
    """Everything one bytecode generation does differently, as data."""
    name: str
    versions: str                       # which MicroPython releases emit it
    labels: str                         # "fixed16": 2 bytes, signed in excess 0x8000;
                                        # "var15": 1 or 2 bytes, signed in excess 0x40 / 0x4000
    signed_labels: frozenset[str]       # jumps whose offset is signed (the rest are unsigned)
    qstr_operand: str                   # "u16" little endian, or "uint" (var-uint)
    const_operand: str                  # "index" var-uint into a table, or "inline" aligned word
    names: str                          # code info: "u16" name+source, "uint" name+source,
                                        # or "uint+args" name then one qstr per argument
    var_kw_extra: int                   # CALL_*_VAR_KW pops this many more than CALL_*
    active_when_handler_is_ip: bool     # unwinder: a finally whose handler == ip is already running
    resolve: dict[str, str]             # where each reference kind is looked up (for the walker)
    word: int = 4                       # sizeof(void *) of the target: inline pointers, alignment
    scope_flags: dict[str, int] = field(default_factory=lambda: dict(
        GENERATOR=0x01, VARKEYWORDS=0x02, VARARGS=0x04, DEFKWARGS=0x08))


# -- the opcode table since 1.12 (py/bc0.h): name, opcode, operand, extra byte -----------------------
OPCODES_1_12: tuple[tuple[str, int, str | None, bool], ...] = (
    ("LOAD_CONST_STRING", 0x10, "qstr", False), ("LOAD_NAME", 0x11, "qstr", False),
    ("LOAD_GLOBAL", 0x12, "qstr", False), ("LOAD_ATTR", 0x13, "qstr", False),
    ("LOAD_METHOD", 0x14, "qstr", False), ("LOAD_SUPER_METHOD", 0x15, "qstr", False),
    ("STORE_NAME", 0x16, "qstr", False), ("STORE_GLOBAL", 0x17, "qstr", False),
    ("STORE_ATTR", 0x18, "qstr", False), ("DELETE_NAME", 0x19, "qstr", False),
    ("DELETE_GLOBAL", 0x1A, "qstr", False), ("IMPORT_NAME", 0x1B, "qstr", False),
    ("IMPORT_FROM", 0x1C, "qstr", False),
    ("MAKE_CLOSURE", 0x20, "child", True), ("MAKE_CLOSURE_DEFARGS", 0x21, "child", True),
    ("LOAD_CONST_SMALL_INT", 0x22, "sint", False), ("LOAD_CONST_OBJ", 0x23, "obj", False),
    ("LOAD_FAST_N", 0x24, "uint", False), ("LOAD_DEREF", 0x25, "uint", False),
    ("STORE_FAST_N", 0x26, "uint", False), ("STORE_DEREF", 0x27, "uint", False),
    ("DELETE_FAST", 0x28, "uint", False), ("DELETE_DEREF", 0x29, "uint", False),
    ("BUILD_TUPLE", 0x2A, "uint", False), ("BUILD_LIST", 0x2B, "uint", False),
    ("BUILD_MAP", 0x2C, "uint", False), ("BUILD_SET", 0x2D, "uint", False),
    ("BUILD_SLICE", 0x2E, "uint", False), ("STORE_COMP", 0x2F, "uint", False),
    ("UNPACK_SEQUENCE", 0x30, "uint", False), ("UNPACK_EX", 0x31, "uint", False),
    ("MAKE_FUNCTION", 0x32, "child", False), ("MAKE_FUNCTION_DEFARGS", 0x33, "child", False),
    ("CALL_FUNCTION", 0x34, "uint", False), ("CALL_FUNCTION_VAR_KW", 0x35, "uint", False),
    ("CALL_METHOD", 0x36, "uint", False), ("CALL_METHOD_VAR_KW", 0x37, "uint", False),
    ("UNWIND_JUMP", 0x40, "label", True), ("JUMP", 0x42, "label", False),
    ("POP_JUMP_IF_TRUE", 0x43, "label", False), ("POP_JUMP_IF_FALSE", 0x44, "label", False),
    ("JUMP_IF_TRUE_OR_POP", 0x45, "label", False), ("JUMP_IF_FALSE_OR_POP", 0x46, "label", False),
    ("SETUP_WITH", 0x47, "label", False), ("SETUP_EXCEPT", 0x48, "label", False),
    ("SETUP_FINALLY", 0x49, "label", False), ("POP_EXCEPT_JUMP", 0x4A, "label", False),
    ("FOR_ITER", 0x4B, "label", False),
    ("LOAD_CONST_FALSE", 0x50, None, False), ("LOAD_CONST_NONE", 0x51, None, False),
    ("LOAD_CONST_TRUE", 0x52, None, False), ("LOAD_NULL", 0x53, None, False),
    ("LOAD_BUILD_CLASS", 0x54, None, False), ("LOAD_SUBSCR", 0x55, None, False),
    ("STORE_SUBSCR", 0x56, None, False), ("DUP_TOP", 0x57, None, False),
    ("DUP_TOP_TWO", 0x58, None, False), ("POP_TOP", 0x59, None, False),
    ("ROT_TWO", 0x5A, None, False), ("ROT_THREE", 0x5B, None, False),
    ("WITH_CLEANUP", 0x5C, None, False), ("END_FINALLY", 0x5D, None, False),
    ("GET_ITER", 0x5E, None, False), ("GET_ITER_STACK", 0x5F, None, False),
    ("STORE_MAP", 0x62, None, False), ("RETURN_VALUE", 0x63, None, False),
    ("RAISE_LAST", 0x64, None, False), ("RAISE_OBJ", 0x65, None, False),
    ("RAISE_FROM", 0x66, None, False), ("YIELD_VALUE", 0x67, None, False),
    ("YIELD_FROM", 0x68, None, False), ("IMPORT_STAR", 0x69, None, False),
)
# name, first opcode, count; the opcode's offset in its range is the instruction's argument
MULTI_1_12 = (("LOAD_CONST_SMALL_INT_MULTI", 0x70, 64), ("LOAD_FAST_MULTI", 0xB0, 16),
              ("STORE_FAST_MULTI", 0xC0, 16), ("UNARY_OP_MULTI", 0xD0, 4), ("BINARY_OP_MULTI", 0xD7, 35))
EXCEPTION_MATCH = 8             # MP_BINARY_OP_EXCEPTION_MATCH, the BINARY_OP_MULTI offset
SMALL_INT_EXCESS = 16           # LOAD_CONST_SMALL_INT_MULTI pushes (op - 0x70 - 16)

# (pop, push) of every opcode whose effect depends on nothing but itself
SIMPLE_EFFECTS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("LOAD_CONST_FALSE", "LOAD_CONST_NONE", "LOAD_CONST_TRUE", "LOAD_CONST_SMALL_INT",
                     "LOAD_CONST_STRING", "LOAD_CONST_OBJ", "LOAD_FAST_N", "LOAD_DEREF",
                     "LOAD_NAME", "LOAD_GLOBAL", "LOAD_BUILD_CLASS", "IMPORT_FROM", "MAKE_FUNCTION",
                     "BUILD_MAP", "LOAD_CONST_SMALL_INT_MULTI", "LOAD_FAST_MULTI"), (0, 1)),
    **dict.fromkeys(("LOAD_ATTR", "GET_ITER", "UNARY_OP_MULTI", "YIELD_VALUE"), (1, 1)),
    "LOAD_METHOD": (1, 2), "LOAD_SUPER_METHOD": (3, 2),
    **dict.fromkeys(("LOAD_SUBSCR", "MAKE_FUNCTION_DEFARGS", "IMPORT_NAME", "BINARY_OP_MULTI",
                     "YIELD_FROM"), (2, 1)),
    **dict.fromkeys(("STORE_FAST_N", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL", "POP_TOP",
                     "IMPORT_STAR", "STORE_FAST_MULTI"), (1, 0)),
    **dict.fromkeys(("STORE_ATTR", "STORE_MAP"), (2, 0)),
    "STORE_SUBSCR": (3, 0),
    **dict.fromkeys(("DELETE_FAST", "DELETE_DEREF", "DELETE_NAME", "DELETE_GLOBAL"), (0, 0)),
}


def _call_effect(extra: int) -> Callable[[int, int | None, Format], tuple[int, int]]:
    return lambda a, x, f: ((a & 0xFF) + 2 * ((a >> 8) & 0xFF) + 1 + extra, 1)


# (pop, push) from the argument ``a``, the extra byte ``x`` and the format
ARG_EFFECTS: dict[str, Callable[[int, int | None, Format], tuple[int, int]]] = {
    **dict.fromkeys(("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_SLICE"), lambda a, x, f: (a, 1)),
    "STORE_COMP": lambda a, x, f: (2 if (a & 3) == 1 else 1, 0),
    "UNPACK_SEQUENCE": lambda a, x, f: (1, a),
    "UNPACK_EX": lambda a, x, f: (1, (a & 0xFF) + ((a >> 8) & 0xFF) + 1),
    "MAKE_CLOSURE": lambda a, x, f: (x, 1),
    "MAKE_CLOSURE_DEFARGS": lambda a, x, f: (x + 2, 1),
    "CALL_FUNCTION": _call_effect(0),
    "CALL_METHOD": _call_effect(1),
    "CALL_FUNCTION_VAR_KW": lambda a, x, f: _call_effect(f.var_kw_extra)(a, x, f),
    "CALL_METHOD_VAR_KW": lambda a, x, f: _call_effect(1 + f.var_kw_extra)(a, x, f),
}


@dataclass
class Prelude:
    n_state: int
    n_exc_stack: int
    scope_flags: int
    n_pos_args: int
    n_kwonly_args: int
    n_def_pos_args: int
    info_start: int             # offset of the code-info section (the function's name first)
    line_info: int              # offset of the line-number table inside code info
    cell_start: int             # offset of the cell list (one byte per local made a cell)
    code_start: int             # offset of the first opcode
    cells: list[int]
    name: int                   # simple_name: a qstr, or an index into the qstr table
    source: int | None          # source_file, where the prelude holds it (mpy v5)
    arg_names: list[int]        # argument-name qstrs, where the prelude holds them (mpy v6)
    flags: dict[str, int] = field(repr=False, default_factory=dict)

    @property
    def n_args(self) -> int:
        f = self.flags
        return (self.n_pos_args + self.n_kwonly_args + bool(self.scope_flags & f["VARARGS"])
                + bool(self.scope_flags & f["VARKEYWORDS"]))

    @property
    def is_generator(self) -> bool:
        return bool(self.scope_flags & self.flags["GENERATOR"])

    @property
    def n_extra_args(self) -> int:
        """Slots of mp_obj_fun_bc_t.extra_args: positional defaults, then the kw-defaults dict."""
        return self.n_def_pos_args + bool(self.scope_flags & self.flags["DEFKWARGS"])


@dataclass
class Insn:
    pos: int
    op: int
    name: str
    next: int
    arg: int | None = None      # uint/sint operand, qstr or table index; *_MULTI: the offset in the
                                # range (the local, the op), LOAD_CONST_SMALL_INT_MULTI: the int
    target: int | None = None   # jump target (offset)
    extra: int | None = None    # the extra byte (MAKE_CLOSURE n_closed, UNWIND_JUMP count)
    word: int | None = None     # offset of an inline pointer word (mpy v5 without persistent code)
    ref: str | None = None      # "qstr", "obj" or "child" when the operand refers to one


@dataclass(frozen=True)
class Ref:
    """A reference the bytecode makes: resolve ``index`` through ``table``, or read ``word``."""
    kind: str                   # "qstr", "obj" or "child"
    pos: int                    # offset of the instruction, or of the prelude field
    index: int | None           # table index (or the qstr itself when table is None)
    word: int | None            # offset of an inline pointer word
    table: str | None           # Format.resolve[kind]


def read_uint(code: bytes, pos: int) -> tuple[int, int]:
    v = 0
    while True:
        if pos >= len(code):
            raise BytecodeError("var-uint runs off the end of the bytecode")
        b = code[pos]
        pos += 1
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, pos


def read_sint(code: bytes, pos: int) -> tuple[int, int]:
    """LOAD_CONST_SMALL_INT's operand: bit 6 of the first byte is the sign."""
    if pos >= len(code):
        raise BytecodeError("small int runs off the end of the bytecode")
    v = -1 if code[pos] & 0x40 else 0
    while True:
        if pos >= len(code):
            raise BytecodeError("small int runs off the end of the bytecode")
        b = code[pos]
        pos += 1
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, pos


def _byte(code: bytes, pos: int, what: str) -> int:
    if pos >= len(code):
        raise BytecodeError(f"{what} runs off the end of the bytecode")
    return code[pos]


class Bytecode:
    """Decoder and stack analysis for one ``Format``: what for_version() hands out."""

    def __init__(self, fmt: Format, opcodes=OPCODES_1_12, multi=MULTI_1_12):
        self.format = fmt
        self.name = fmt.name
        self.flags = dict(fmt.scope_flags)
        self.ops: dict[int, OpSpec] = {}
        self.opcode: dict[str, int] = {}
        for name, code, operand, extra in opcodes:
            self.ops[code] = OpSpec(name, operand, extra)
            self.opcode[name] = code
        for name, first, count in multi:
            self.opcode[name] = first
            for k in range(count):
                self.ops[first + k] = OpSpec(name, None, False, first)

    def __repr__(self):
        return f"<bytecode {self.name}>"

    # -- prelude ---------------------------------------------------------------------------------
    def prelude(self, code: bytes, base_addr: int = 0) -> Prelude:
        """MP_BC_PRELUDE_SIG_DECODE, MP_BC_PRELUDE_SIZE_DECODE, then the code-info names."""
        z = _byte(code, 0, "prelude")
        p = 1
        s, e, f, a, k, d = (z >> 3) & 0xF, (z >> 2) & 1, 0, z & 3, 0, 0
        n = 0
        while z & 0x80:
            z = _byte(code, p, "prelude signature")
            p += 1
            s |= (z & 0x30) << (2 * n)
            e |= (z & 0x02) << n
            f |= ((z & 0x40) >> 6) << n
            a |= (z & 0x04) << n
            k |= ((z & 0x08) >> 3) << n
            d |= (z & 0x01) << n
            n += 1
        n_info = n_cell = 0
        n = 0
        while True:
            z = _byte(code, p, "prelude size")
            p += 1
            n_cell |= (z & 1) << n
            n_info |= ((z & 0x7E) >> 1) << (6 * n)
            n += 1
            if not z & 0x80:
                break
        info, cell_start = p, p + n_info
        code_start = cell_start + n_cell
        if code_start > len(code):
            raise BytecodeError("bytecode shorter than its prelude")
        names, arg_names, source = self.format.names, [], None
        if names == "u16":
            if n_info < 4:
                raise BytecodeError("code info too short for its two qstrs")
            name, source = code[p] | code[p + 1] << 8, code[p + 2] | code[p + 3] << 8
            p += 4
        else:
            name, p = read_uint(code, p)
            if names == "uint":
                source, p = read_uint(code, p)
            else:
                for _ in range(a + k):
                    q, p = read_uint(code, p)
                    arg_names.append(q)
        if p > cell_start:
            raise BytecodeError("code-info names run past the code-info section")
        if self.format.const_operand == "inline":      # the VM aligns ip after the cells
            code_start += (-(base_addr + code_start)) % self.format.word
        cells = list(code[cell_start:cell_start + n_cell])
        return Prelude(s + 1, e, f, a, k, d, info, p, cell_start, code_start, cells, name, source, arg_names,
                       self.flags)

    # -- instructions ----------------------------------------------------------------------------
    def decode_one(self, code: bytes, pos: int, base_addr: int = 0) -> Insn:
        """``base_addr`` is the bytecode's address: inline words are aligned in memory."""
        op = code[pos]
        spec = self.ops.get(op)
        if spec is None:
            raise BytecodeError(f"unknown opcode {op:#04x} at offset {pos}")
        fmt = self.format
        ins = Insn(pos, op, spec.name, pos + 1)
        p = pos + 1
        kind = spec.operand
        if spec.base is not None:
            ins.arg = op - spec.base - (SMALL_INT_EXCESS if spec.name == "LOAD_CONST_SMALL_INT_MULTI" else 0)
        elif kind in ("uint",):
            ins.arg, p = read_uint(code, p)
        elif kind == "sint":
            ins.arg, p = read_sint(code, p)
        elif kind == "qstr":
            ins.ref = "qstr"
            if fmt.qstr_operand == "u16":
                ins.arg = _byte(code, p, "qstr") | _byte(code, p + 1, "qstr") << 8
                p += 2
            else:
                ins.arg, p = read_uint(code, p)
        elif kind in ("obj", "child"):
            ins.ref = kind
            if fmt.const_operand == "inline":
                p += (-(base_addr + p)) % fmt.word
                ins.word = p
                p += fmt.word
            else:
                ins.arg, p = read_uint(code, p)
        elif kind == "label":
            signed = spec.name in fmt.signed_labels
            if fmt.labels == "fixed16":
                v = _byte(code, p, "jump offset") | _byte(code, p + 1, "jump offset") << 8
                p += 2
                v -= 0x8000 if signed else 0
            else:
                b = _byte(code, p, "jump offset")
                if b & 0x80:
                    v = (b & 0x7F) | _byte(code, p + 1, "jump offset") << 7
                    p += 2
                    v -= 0x4000 if signed else 0
                else:
                    v = b
                    p += 1
                    v -= 0x40 if signed else 0
            ins.target = p + v
        if spec.extra_byte:
            ins.extra = _byte(code, p, "extra byte")
            p += 1
        if p > len(code):
            raise BytecodeError(f"opcode {op:#04x} at offset {pos} runs off the end")
        ins.next = p
        return ins

    def decode(self, code: bytes, base_addr: int = 0, length: int | None = None) -> tuple[Prelude, list[Insn]]:
        """Decode the prelude and every instruction.  With ``length`` (the raw code's
        fun_data_len) the last instruction must end exactly there; without it (a heap
        block, zero-padded) the first zero byte at an opcode position ends the code,
        0x00 not being an opcode, and every byte after it must be zero."""
        pre = self.prelude(code, base_addr)
        end = len(code) if length is None else length
        if end > len(code):
            raise BytecodeError(f"length {end} beyond the {len(code)} bytes given")
        body = code[:end] if end < len(code) else code
        out, p = [], pre.code_start
        while p < end and (length is not None or code[p] != 0):
            ins = self.decode_one(body, p, base_addr)
            out.append(ins)
            p = ins.next
        if length is None and any(code[p:]):
            raise BytecodeError(f"non-zero bytes after the last opcode at offset {p}")
        if p != end and length is not None:
            raise BytecodeError(f"last instruction ends at {p}, not at the length {end}")
        for ins in out:
            if ins.target is not None and not pre.code_start <= ins.target <= p:
                raise BytecodeError(f"{ins.name} at offset {ins.pos} jumps outside the code, to {ins.target}")
        return pre, out

    def references(self, pre: Prelude, insns: list[Insn]) -> list[Ref]:
        """Every qstr, constant object and child raw code the function refers to, with
        where to look it up (Format.resolve): the prelude's names first, then operands."""
        res = self.format.resolve
        out = [Ref("qstr", pre.info_start, pre.name, None, res["qstr"])]
        if pre.source is not None:
            out.append(Ref("qstr", pre.info_start, pre.source, None, res["qstr"]))
        out += [Ref("qstr", pre.info_start, q, None, res["qstr"]) for q in pre.arg_names]
        for i in insns:
            if i.ref:
                out.append(Ref(i.ref, i.pos, i.arg, i.word, None if i.word is not None else res[i.ref]))
        return out

    def source_line(self, code: bytes, pre: Prelude, offset: int) -> int:
        """The source line of the instruction at ``offset`` (mp_bytecode_get_source_line):
        pairs of (bytecode bytes, lines) to skip, 1 or 2 bytes each; mpy v5 ends the table
        with a zero byte, mpy v6 at the end of the code-info section."""
        p, top, bc, line = pre.line_info, pre.cell_start, offset - pre.code_start, 1
        zero_ends = self.format.names != "uint+args"
        while p < top and (code[p] or not zero_ends):
            c = code[p]
            if c & 0x80:
                b, n = c & 0xF, ((c << 4) & 0x700) | code[p + 1]
                p += 2
            else:
                b, n = c & 0x1F, c >> 5
                p += 1
            if bc < b:
                break
            bc -= b
            line += n
        return line

    def n_locals(self, pre: Prelude, insns: list[Insn]) -> int:
        """Locals occupy the top of the state array; count the ones the code can touch."""
        n = pre.n_args
        for c in pre.cells:
            n = max(n, c + 1)
        for i in insns:
            if i.name in ("LOAD_FAST_N", "STORE_FAST_N", "DELETE_FAST", "LOAD_DEREF", "STORE_DEREF",
                          "DELETE_DEREF", "LOAD_FAST_MULTI", "STORE_FAST_MULTI"):
                n = max(n, i.arg + 1)
        return min(n, pre.n_state)

    def effect(self, ins: Insn) -> tuple[int, int] | None:
        """(pop, push) of a straight-line opcode; None for control flow, blocks and permutations."""
        if ins.name in SIMPLE_EFFECTS:
            return SIMPLE_EFFECTS[ins.name]
        if ins.name in ARG_EFFECTS:
            return ARG_EFFECTS[ins.name](ins.arg, ins.extra, self.format)
        return None

    # -- value-stack shapes ----------------------------------------------------------------------
    @staticmethod
    def slot_kind(tok) -> str:
        """How a slot is relocated: 'obj', 'iter' (first slot of an inline iterator),
        'iterpart' or 'code' (a bytecode address)."""
        if tok in ("o", "c", "C", "u", "0") or isinstance(tok, tuple) and tok[0] in "nm":
            return "obj"
        if tok == "I":
            return "iter"
        if tok == "i":
            return "iterpart"
        if isinstance(tok, tuple) and tok[0] == "p":
            return "code"
        raise BytecodeError(f"unknown stack token {tok!r}")

    def stack_shapes(self, pre: Prelude, insns: list[Insn]) -> dict[int, set]:
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
            work.extend(self.successors(by_pos[pos], st))
        return states

    def _active(self, handler: int, vm_ip: int) -> bool:
        """Is the finally at ``handler`` already running when the VM unwinds at ``vm_ip``?"""
        return handler <= vm_ip if self.format.active_when_handler_is_ip else handler < vm_ip

    @staticmethod
    def _cancel_active_finally(shape):
        """CANCEL_ACTIVE_FINALLY: drop the running finally's state under the top slot."""
        below = shape[-2:-1]
        if below and _is_small_int(below[0]):
            return _pop(shape, 3) + shape[-1:]
        return _pop(shape, 2) + shape[-1:]

    def _unwind_return(self, shape, blocks, vm_ip):
        while blocks:
            kind, handler, base = blocks[-1]
            if kind in ("f", "w"):
                if not self._active(handler, vm_ip):
                    return [(handler, (base + (shape[-1], "u"), blocks))]
                shape = self._cancel_active_finally(shape)
            blocks = blocks[:-1]
        return []

    def _unwind_jump(self, shape, blocks, count, pop_iter, vm_ip):
        """``shape`` has the destination ("p", dest) on top."""
        while count > 0:
            if not blocks:
                raise BytecodeError("UNWIND_JUMP unwinds more blocks than are set up")
            kind, handler, base = blocks[-1]
            count -= 1
            if kind in ("f", "w"):
                if not self._active(handler, vm_ip):
                    return [(handler, (shape + (("n", count, pop_iter),), blocks))]
                shape = self._cancel_active_finally(shape)
            blocks = blocks[:-1]
        dest = shape[-1]
        if not (isinstance(dest, tuple) and dest[0] == "p"):
            raise BytecodeError("unwind jump without its destination on the stack")
        shape = _pop(shape, 1)
        if pop_iter:
            shape = _pop_iter(shape, None)
        return [(dest[1], (shape, blocks))]

    def successors(self, ins: Insn, st):
        """The states after one instruction: [(offset, (shape, blocks)), ...]."""
        shape, blocks = st
        name, nxt = ins.name, ins.next

        def fall(sh, bl=blocks):
            return [(nxt, (sh, bl))]

        if name == "BINARY_OP_MULTI" and ins.arg == EXCEPTION_MATCH:
            tested = _top(shape, 2)[0]
            res = ("m", True) if tested == "C" else ("m", False) if _is_small_int(tested) else "o"
            return fall(_pop(shape, 2) + (res,))
        eff = self.effect(ins)
        if eff is not None:
            return fall(_pop(shape, eff[0]) + ("o",) * eff[1])
        if name == "LOAD_NULL":
            return fall(shape + ("0",))
        if name == "DUP_TOP":
            return fall(shape + _top(shape, 1))
        if name == "DUP_TOP_TWO":
            return fall(shape + _top(shape, 2))
        if name == "ROT_TWO":
            a, b = _top(shape, 2)
            return fall(shape[:-2] + (b, a))
        if name == "ROT_THREE":
            a, b, c = _top(shape, 3)
            return fall(shape[:-3] + (c, a, b))
        if name == "JUMP":
            return [(ins.target, st)]
        if name in ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"):
            cond, rest = _top(shape, 1)[0], _pop(shape, 1)
            jump, stay = [(ins.target, (rest, blocks))], fall(rest)
            if isinstance(cond, tuple) and cond[0] == "m":
                return jump if cond[1] == (name == "POP_JUMP_IF_TRUE") else stay
            return jump + stay
        if name in ("JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"):
            _top(shape, 1)
            return [(ins.target, st)] + fall(_pop(shape, 1))
        if name in ("SETUP_EXCEPT", "SETUP_FINALLY"):
            kind, exc = ("e", "c") if name == "SETUP_EXCEPT" else ("f", "C")
            blk = (kind, ins.target, shape)
            return [(ins.target, (shape + (exc,), blocks + (blk,)))] + fall(shape, blocks + (blk,))
        if name == "SETUP_WITH":              # ctx -> __exit__, ctx, as-value; val_sp at ctx
            base = _pop(shape, 1) + ("o", "o")
            blk = ("w", ins.target, base)
            return [(ins.target, (base + ("C",), blocks + (blk,)))] + fall(base + ("o",), blocks + (blk,))
        if name == "WITH_CLEANUP":
            top = _top(shape, 1)[0]
            if top == "o":                    # None: the body ended normally
                return fall(_pop(shape, 3) + ("o",))
            if top in ("c", "C"):             # __exit__ swallowed it (None) or it is re-raised
                return fall(_pop(shape, 3) + ("o",)) + fall(_pop(shape, 3) + (top,))
            if _is_small_int(top):
                return fall(_pop(shape, 4) + shape[-2:])
            raise BytecodeError(f"WITH_CLEANUP at offset {ins.pos} with an unknown stack top")
        if name == "END_FINALLY":             # pops its block first
            if not blocks:
                raise BytecodeError(f"END_FINALLY at offset {ins.pos} with no block")
            top, rest, outer = _top(shape, 1)[0], _pop(shape, 1), blocks[:-1]
            if top == "o":
                return fall(rest, outer)
            if top in ("c", "C"):
                return []                     # re-raised
            if top == "u":
                return self._unwind_return(rest, outer, ins.pos + 1)
            if isinstance(top, tuple) and top[0] == "n":
                return self._unwind_jump(rest, outer, top[1], top[2], ins.pos + 1)
            raise BytecodeError(f"END_FINALLY at offset {ins.pos} with an unknown stack top")
        if name == "GET_ITER_STACK":
            return fall(_pop(shape, 1) + ("I",) + ("i",) * (ITER_NSLOTS - 1))
        if name == "FOR_ITER":
            return [(ins.target, (_pop_iter(shape, ins), blocks))] + fall(shape + ("o",))
        if name == "POP_EXCEPT_JUMP":
            if not blocks:
                raise BytecodeError(f"POP_EXCEPT_JUMP at offset {ins.pos} with no block")
            return [(ins.target, (shape, blocks[:-1]))]
        if name == "UNWIND_JUMP":
            return self._unwind_jump(shape + (("p", ins.target),), blocks, ins.extra & 0x7F,
                                     bool(ins.extra & 0x80), ins.next - 1)
        if name == "RETURN_VALUE":
            _top(shape, 1)
            return self._unwind_return(shape, blocks, ins.pos + 1)
        if name in ("RAISE_LAST", "RAISE_OBJ", "RAISE_FROM"):
            _pop(shape, {"RAISE_LAST": 0, "RAISE_OBJ": 1, "RAISE_FROM": 2}[name])
            return []
        raise BytecodeError(f"no stack effect known for {name} at offset {ins.pos}")


def _is_small_int(tok) -> bool:
    """The unwind markers, the only small ints the analysis knows as such."""
    return tok == "u" or isinstance(tok, tuple) and tok[0] == "n"


def _pop(shape, n):
    if n > len(shape):
        raise BytecodeError("value stack underflow in the analysis")
    return shape[:len(shape) - n] if n else shape


def _top(shape, n):
    if n > len(shape):
        raise BytecodeError("value stack underflow in the analysis")
    return shape[len(shape) - n:]


INLINE_ITER = ("I",) + ("i",) * (ITER_NSLOTS - 1)


def _pop_iter(shape, ins):
    """Pop a for-loop's iterator slots: GET_ITER_STACK's, or NULL, iterator, NULL, NULL."""
    top = shape[-ITER_NSLOTS:]
    if top != INLINE_ITER and not (len(top) == ITER_NSLOTS and top[0] == top[2] == top[3] == "0"):
        where = f"FOR_ITER at offset {ins.pos}" if ins else "an unwind jump"
        raise BytecodeError(f"{where} without an iterator on the stack")
    return shape[:-ITER_NSLOTS]

"""Decoding MicroPython bytecode of 1.12 and later, driven by a per-generation ``Format``.

Since 1.12 every generation shares the opcode numbering of py/bc0.h and the
prelude's two packed var-uints (signature, then the sizes of the code-info and
cell sections, py/bc.h).  What changed from one generation to the next is small
and listed as data in ``Format``: how jump offsets, qstrs and constant objects
are encoded in the instruction stream, what the code-info section holds, a few
stack effects, and one comparison of the unwinder.  ``mpy_v5`` and ``mpy_v6``
hold that data; this module holds the one decoder and the one stack analysis.
1.9 (v1_9.py) uses the same decoder with its own opcode table, and replaces the
prelude, line numbers and the control flow of the analysis.

The value-stack analysis is stackflow.py, the opcode table opcodes.py, the
types format.py.
"""

from __future__ import annotations

from .format import BytecodeError, Format, Insn, OpSpec, Prelude, Ref
from .opcodes import MULTI_1_12, OPCODES_1_12, SMALL_INT_EXCESS
from .stackflow import StackFlow

__all__ = ["Bytecode", "BytecodeError", "Format", "Insn", "OpSpec", "Prelude", "Ref", "read_uint", "read_sint"]


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


def line_from_table(code: bytes, p: int, top: int, bc: int, zero_ends: bool) -> int:
    """Walk a line-number table from ``p``: (bytecode bytes, lines) to skip, as
    0b0LLBBBBB or 0b1LLLBBBB 0bLLLLLLLL; the line of bytecode offset ``bc``."""
    line = 1
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


class Bytecode(StackFlow):
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
        """The source line of the instruction at ``offset`` (mp_bytecode_get_source_line).
        mpy v5 ends the line table with a zero byte, mpy v6 at the end of code info."""
        return line_from_table(code, pre.line_info, pre.cell_start, offset - pre.code_start,
                               zero_ends=self.format.names != "uint+args")

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

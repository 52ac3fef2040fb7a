"""MicroPython 1.9 bytecode behind the interface of the newer generations.

The knowledge itself is sim/mpy/bytecode/v1_9.py's (1.9.2, inline pointers: the opcode
table, the prelude, the stack analysis of 1.9's VM with POP_BLOCK and its
3-slot unwind state); this adapter only gives it the ``Bytecode`` interface so a
walker can call ``for_version(v).decode(...)`` for every version.  Folding v1_9's
content in here would remove the adapter.

1.9's prelude: n_state, n_exc_stack (var-uints), scope_flags, n_pos_args,
n_kwonly_args, n_def_pos_args (bytes), the code-info size (a var-uint counting
itself), simple_name and source_file (var-uint qstrs), the line table, then the
cell list ending in 255.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import v1_9 as _ot

from .engine import BytecodeError, Insn, Prelude, Ref, line_from_table, read_uint

_MULTI = {"LOAD_CONST_SMALL_INT_MULTI": (_ot.SMALL_INT_MULTI, 64), "LOAD_FAST_MULTI": (_ot.LOAD_FAST_MULTI, 16),
          "STORE_FAST_MULTI": (_ot.STORE_FAST_MULTI, 16), "UNARY_OP_MULTI": (_ot.UNARY_OP_MULTI, 7),
          "BINARY_OP_MULTI": (_ot.BINARY_OP_MULTI, 36)}
_QSTR_OPS = {getattr(_ot, n) for n in ("LOAD_CONST_STRING", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_ATTR", "LOAD_METHOD",
                                       "LOAD_SUPER_METHOD", "STORE_NAME", "STORE_GLOBAL", "STORE_ATTR",
                                       "DELETE_NAME", "DELETE_GLOBAL", "IMPORT_NAME", "IMPORT_FROM")}


@dataclass
class LegacyInsn(Insn):
    byte: int | None = None     # objtypes' name for the extra byte


class Legacy:
    name = "1.9 (inline pointers)"
    format = None

    def __init__(self):
        self.flags = dict(GENERATOR=_ot.SCOPE_GENERATOR, VARKEYWORDS=_ot.SCOPE_VARKEYWORDS,
                          VARARGS=_ot.SCOPE_VARARGS, DEFKWARGS=_ot.SCOPE_DEFKWARGS)
        self.opcode = {n: v for n, v in vars(_ot).items()
                       if n.isupper() and isinstance(v, int) and n not in ("ITER_NSLOTS", "MAX_STATES_PER_IP")
                       and not n.startswith("SCOPE_")}
        self._names = {v: n for n, v in self.opcode.items() if n not in _MULTI}
        for n, (first, count) in _MULTI.items():
            self._names.update({first + k: n for k in range(count)})

    def __repr__(self):
        return f"<bytecode {self.name}>"

    def prelude(self, code: bytes, base_addr: int = 0) -> Prelude:
        try:
            p = _ot.prelude(code)
        except (_ot.BytecodeError, IndexError) as e:
            raise BytecodeError(str(e) or "bytecode shorter than its prelude") from None
        n = read_uint(code, 0)[1]
        info = read_uint(code, n)[1] + 4
        name, q = read_uint(code, read_uint(code, info)[1])
        source, line_info = read_uint(code, q)
        cell_start = p.code_start - len(p.cells) - 1
        return Prelude(p.n_state, p.n_exc_stack, p.scope_flags, p.n_pos_args, p.n_kwonly_args, p.n_def_pos_args,
                       info, line_info, cell_start, p.code_start, p.cells, name, source, [], self.flags)

    def decode(self, code: bytes, base_addr: int = 0, length: int | None = None) -> tuple[Prelude, list[Insn]]:
        pre = self.prelude(code, base_addr)
        try:
            _, raw = _ot.decode(code if length is None else code[:length] + b"\0", base_addr)
        except _ot.BytecodeError as e:
            raise BytecodeError(str(e)) from None
        except IndexError:          # objtypes reads a truncated operand without checking
            raise BytecodeError("an instruction runs off the end of the bytecode") from None
        out = []
        for i in raw:
            name = self._names[i.op]
            multi = _MULTI.get(name)
            arg = i.arg if multi is None else i.op - multi[0] - (16 if name == "LOAD_CONST_SMALL_INT_MULTI" else 0)
            ref = "qstr" if i.op in _QSTR_OPS else ("obj" if i.op == _ot.LOAD_CONST_OBJ else "child") \
                if i.word is not None else None
            out.append(LegacyInsn(i.pos, i.op, name, i.next, arg, i.target, i.byte, i.word, ref, i.byte))
        if length is not None and (out[-1].next if out else pre.code_start) != length:
            raise BytecodeError(f"last instruction does not end at the length {length}")
        return pre, out

    def references(self, pre: Prelude, insns: list[Insn]) -> list[Ref]:
        out = [Ref("qstr", pre.info_start, pre.name, None, None), Ref("qstr", pre.info_start, pre.source, None, None)]
        return out + [Ref(i.ref, i.pos, i.arg if i.word is None else None, i.word, None) for i in insns if i.ref]

    def n_locals(self, pre: Prelude, insns: list[Insn]) -> int:
        return _ot.n_locals(pre, insns)

    def source_line(self, code: bytes, pre: Prelude, offset: int) -> int:
        """1.9 counts bytecode offsets from the cell list (vm.c), ends the table with 0."""
        return line_from_table(code, pre.line_info, pre.cell_start, offset - pre.cell_start, zero_ends=True)

    def effect(self, ins: Insn) -> None:
        return None             # 1.9's effects live in objtypes' analysis only

    slot_kind = staticmethod(_ot.slot_kind)

    def stack_shapes(self, pre: Prelude, insns: list[Insn]) -> dict[int, set]:
        try:
            return _ot.stack_shapes(pre, insns)
        except _ot.BytecodeError as e:
            raise BytecodeError(str(e)) from None


V1_9 = Legacy()

"""The types of the bytecode package: a generation's Format, what decoding yields.

``Format`` lists, as data, everything one bytecode generation does differently;
``Prelude``, ``Insn`` and ``Ref`` are what ``Bytecode`` (engine.py) decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.errors import SimError


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

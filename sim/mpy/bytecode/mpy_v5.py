"""Bytecode of .mpy version 5 as MicroPython 1.18 emits it (1.12-1.17 share the .mpy
version but could put a map-cache byte after LOAD_NAME/GLOBAL/ATTR and STORE_ATTR's
qstr, MICROPY_OPT_CACHE_MAP_LOOKUP_IN_BYTECODE; not modelled, for_version refuses them).

Same opcode numbering and prelude signature/size encoding as mpy v6 (py/bc0.h,
py/bc.h); the differences (py/emitbc.c, py/vm.c, py/showbc.c of 1.18):
- every jump offset is 2 bytes; JUMP, POP_JUMP_IF_*, JUMP_IF_*_OR_POP and
  UNWIND_JUMP are signed, in excess 0x8000;
- code info holds simple_name and source_file; argument names are the first
  n_pos_args + n_kwonly_args entries of the const table, as qstr objects;
- CALL_*_VAR_KW take a sequence and a dict (2 slots; 1 bitmap slot in v6);
- an unwinding return/jump treats a finally whose handler == ip as running (as 1.19).
Two builds of the same release encode operands differently:
- PERSISTENT (MICROPY_PERSISTENT_CODE: the firmware loads or freezes .mpy): qstrs are
  2 bytes little endian, LOAD_CONST_OBJ and MAKE_FUNCTION/MAKE_CLOSURE take a var-uint
  index into ``mp_obj_fun_bc_t.const_table`` (= ``mp_raw_code_t.const_table``), which
  already counts the argument names;
- INLINE (without): qstrs are var-uints; objects and raw codes are pointer words in
  the bytecode, aligned in memory; the first opcode is aligned too.
"""

from .engine import Bytecode, Format

_COMMON = dict(
    versions="1.18",
    labels="fixed16",
    signed_labels=frozenset({"UNWIND_JUMP", "JUMP", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE",
                             "JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"}),
    var_kw_extra=2,
    active_when_handler_is_ip=True,
)

PERSISTENT = Bytecode(Format(name="mpy v5 (persistent code)", qstr_operand="u16", const_operand="index",
                             names="u16", resolve={"qstr": None, "obj": "mp_obj_fun_bc_t.const_table",
                                                   "child": "mp_obj_fun_bc_t.const_table"}, **_COMMON))
INLINE = Bytecode(Format(name="mpy v5 (inline pointers)", qstr_operand="uint", const_operand="inline",
                         names="uint", resolve={"qstr": None, "obj": None, "child": None}, **_COMMON))

MPY_VERSION = 5

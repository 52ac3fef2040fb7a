"""Bytecode of .mpy version 6: MicroPython 1.19, 1.20, 1.22, 1.23 (checked against each).

The 1.19 redesign (py/bc.h, py/emitbc.c, py/vm.c):
- qstrs are var-uint operands: an index into the module context's qstr table
  (``fun_bc->context->constants.qstr_table``, uint16 ``qstr_short_t``) when the
  firmware has MICROPY_EMIT_BYTECODE_USES_QSTR_TABLE (= MICROPY_PERSISTENT_CODE:
  it can load or freeze .mpy), else the qstr number itself;
- LOAD_CONST_OBJ's var-uint indexes ``context->constants.obj_table``; MAKE_FUNCTION /
  MAKE_CLOSURE's indexes the function's ``child_table`` (``mp_raw_code_t.children``);
- jump offsets are 1 or 2 bytes (signed ones in excess 0x40 / 0x4000);
- code info holds simple_name then one qstr per argument (the source file is
  qstr_table[0], or ``constants.source_file`` without a qstr table);
- CALL_*_VAR_KW take one bitmap slot where 1.18 took a sequence and a dict.

Between 1.19 and 1.23 bc0.h and the encodings did not change (diffed).  One thing in
the VM did: from 1.20 an unwinding return/jump treats a finally whose handler is
exactly at ip as not yet running (``exc_sp->handler >= ip``, was ``>``); so 1.19 has
its own Format.  1.20 also stopped emitting dead code after jumps and returns, and
1.23 renamed raw codes to "proto funs" (same layout for bytecode); neither changes
decoding.
"""

from .engine import Bytecode, Format

_COMMON = dict(
    labels="var15",
    signed_labels=frozenset({"UNWIND_JUMP", "JUMP", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"}),
    qstr_operand="uint",
    const_operand="index",
    names="uint+args",
    var_kw_extra=1,
)
_TABLE = {"qstr": "mp_module_constants_t.qstr_table",           # via fun_bc->context->constants
          "obj": "mp_module_constants_t.obj_table",
          "child": "mp_obj_fun_bc_t.child_table"}               # = mp_raw_code_t.children
_NO_TABLE = {**_TABLE, "qstr": None}                             # the operand is the qstr

# with a qstr table (MICROPY_PERSISTENT_CODE: DWARF's mp_module_constants_t has qstr_table)
V1_19 = Bytecode(Format(name="mpy v6 (1.19)", versions="1.19", active_when_handler_is_ip=True,
                        resolve=_TABLE, **_COMMON))
V1_20 = Bytecode(Format(name="mpy v6 (1.20+)", versions="1.20-1.23", active_when_handler_is_ip=False,
                        resolve=_TABLE, **_COMMON))
# without (mp_module_constants_t has source_file): same bytes, qstr operands are qstrs
V1_19_NO_TABLE = Bytecode(Format(name="mpy v6 (1.19, qstrs inline)", versions="1.19",
                                 active_when_handler_is_ip=True, resolve=_NO_TABLE, **_COMMON))
V1_20_NO_TABLE = Bytecode(Format(name="mpy v6 (1.20+, qstrs inline)", versions="1.20-1.23",
                                 active_when_handler_is_ip=False, resolve=_NO_TABLE, **_COMMON))

MPY_VERSION = 6

"""Bytecode knowledge per MicroPython generation, picked by version.

Like rich's per-Unicode-version data modules: ``for_version((1, 23, 0))`` returns the
``Bytecode`` (decoder + stack analysis, sim.mpy.bytecode.engine) of that release's
generation: 1.18 mpy v5 (sim.mpy.bytecode.mpy_v5), 1.19 and later mpy v6
(sim.mpy.bytecode.mpy_v6), 1.9.x its own opcode table, prelude and blocks
(sim.mpy.bytecode.v1_9).  Refused by name: anything older than 1.9; 1.10 and 1.11 (formats of their own);
1.12-1.17, which are mpy v5 too but could be built with
MICROPY_OPT_CACHE_MAP_LOOKUP_IN_BYTECODE (a cache byte after some qstr operands,
removed before 1.18) and are not checked here.

Every result has the same interface: prelude(), decode(), references(), n_locals(),
source_line(), effect(), stack_shapes(), slot_kind(), ``opcode`` (name -> byte) and
``flags``.  For the heap walker:

    bc = for_version(version, persistent_code=...)
    pre, insns = bc.decode(block, block_addr)     # a zero-padded heap block (or length=)
    bc.references(pre, insns)                     # qstrs, objects, child raw codes: each by
                                                  # table index (Ref.table) or inline word
    pre.n_extra_args                              # slots of mp_obj_fun_bc_t.extra_args
    states = bc.stack_shapes(pre, insns)          # {offset: {(shape, exception blocks)}}

A generator suspended at offset ip (code_state.ip - bytecode) with value-stack depth
d (sp - state + 1) and n exception entries (exc_sp_idx from 1.12; from exc_sp in 1.9)
is in the one state of states[ip] with len(shape) == d and len(blocks) == n;
bc.slot_kind(token) says what each slot holds ("obj", "iter", "iterpart", "code";
1.9 also "raw").
"""

from __future__ import annotations

from sim.errors import FirmwareError

from . import mpy_v5, mpy_v6, v1_9
from .engine import Bytecode, BytecodeError

# symbols a firmware has when it is built with MICROPY_PERSISTENT_CODE (py/mpconfig.h:
# PERSISTENT_CODE_LOAD, _SAVE or MODULE_FROZEN_MPY), which sets mpy v5's operand encoding
PERSISTENT_CODE_SYMBOLS = ("mp_raw_code_load", "mp_raw_code_save", "mp_frozen_mpy_names")


def built_with_persistent_code(has_symbol) -> bool:
    """Was the firmware built with MICROPY_PERSISTENT_CODE?  ``has_symbol(name) -> bool``.
    (From 1.19 DWARF says it directly: mp_module_constants_t has ``qstr_table``, or
    ``source_file`` without; prefer that where the type exists.)"""
    return any(has_symbol(n) for n in PERSISTENT_CODE_SYMBOLS)

OLDEST = (1, 9)


def for_version(version: tuple[int, ...], persistent_code: bool | None = None) -> Bytecode:
    """The bytecode of MicroPython ``version`` (major, minor[, micro]).

    ``persistent_code`` (MICROPY_PERSISTENT_CODE: the firmware loads or freezes .mpy;
    built_with_persistent_code tells) must be given from 1.18: in mpy v5 it keeps qstrs
    as 2 bytes and constants in the const table, else var-uints and inline words; in
    mpy v6 it makes qstr operands indexes into the module's qstr table, else qstrs."""
    major, minor = version[0], version[1]
    name = ".".join(str(v) for v in version)
    if (major, minor) < OLDEST:
        raise FirmwareError(f"MicroPython {name} is older than 1.9, the oldest version mpsim knows")
    if minor == 9 and major == 1:
        if persistent_code:
            raise FirmwareError(f"MicroPython {name} built with MICROPY_PERSISTENT_CODE: its bytecode is not "
                                "known to mpsim (only 1.9 with inline pointers)")
        return v1_9.V1_9
    if (major, minor) >= (1, 18) and persistent_code is None:
        raise ValueError(f"MicroPython {name}: say whether the firmware has MICROPY_PERSISTENT_CODE")
    if major > 1 or minor >= 20:
        return mpy_v6.V1_20 if persistent_code else mpy_v6.V1_20_NO_TABLE
    if minor == 19:
        return mpy_v6.V1_19 if persistent_code else mpy_v6.V1_19_NO_TABLE
    if minor == 18:
        return mpy_v5.PERSISTENT if persistent_code else mpy_v5.INLINE
    raise FirmwareError(f"MicroPython {name}: its bytecode is not known to mpsim (it knows 1.9, and 1.18 onwards)")


def load(version: str, persistent_code: bool | None = None) -> Bytecode:
    """for_version from a version string such as "1.23.0" or "v1.19.1"."""
    try:
        parts = tuple(int(p) for p in version.lstrip("v").split("-")[0].split("."))
    except ValueError:
        raise FirmwareError(f"not a MicroPython version: {version!r}") from None
    if len(parts) < 2:
        raise FirmwareError(f"not a MicroPython version: {version!r}")
    return for_version(parts, persistent_code)


__all__ = ["Bytecode", "BytecodeError", "for_version", "load", "built_with_persistent_code",
           "mpy_v5", "mpy_v6", "v1_9"]

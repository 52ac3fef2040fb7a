"""The opcode table since 1.12 (py/bc0.h) and each opcode's stack effect (py/vm.c).

Shared by mpy v5 and mpy v6: the numbering did not change, two effects depend on
the Format (CALL_*_VAR_KW).
"""

from __future__ import annotations

from typing import Callable

from .format import Format

# name, opcode, operand, extra byte
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

"""Bytecode knowledge per MicroPython generation, picked by version.

Like rich's per-Unicode-version data modules: ``for_version((1, 23, 0))`` returns the
``Bytecode`` (decoder + stack analysis, sim.mpy.bytecode.engine) of that release's
generation.  1.12-1.18 emit mpy v5 (sim.mpy.bytecode.mpy_v5), 1.19 and later mpy v6
(sim.mpy.bytecode.mpy_v6).  1.9-1.11 use the older format that sim/objtypes.py decodes;
older releases are refused by name.
"""

from __future__ import annotations

from sim.errors import FirmwareError

from . import mpy_v5, mpy_v6
from .engine import Bytecode, BytecodeError

OLDEST = (1, 9)


def for_version(version: tuple[int, ...], persistent_code: bool = True) -> Bytecode:
    """The bytecode of MicroPython ``version`` (major, minor[, micro]).

    ``persistent_code`` matters for mpy v5 only: a 1.12-1.18 firmware built with
    MICROPY_PERSISTENT_CODE (it loads or freezes .mpy) keeps qstrs as 2 bytes and
    constants in the const table; without it they are var-uints and inline words."""
    major, minor = version[0], version[1]
    name = ".".join(str(v) for v in version)
    if (major, minor) < OLDEST:
        raise FirmwareError(f"MicroPython {name} is older than 1.9, the oldest version mpsim knows")
    if major > 1 or minor >= 20:
        return mpy_v6.V1_20
    if minor == 19:
        return mpy_v6.V1_19
    if minor >= 12:
        return mpy_v5.PERSISTENT if persistent_code else mpy_v5.INLINE
    raise FirmwareError(f"MicroPython {name}: its bytecode (before 1.12) is decoded by sim.objtypes, not here")


def load(version: str, persistent_code: bool = True) -> Bytecode:
    """for_version from a version string such as "1.23.0" or "v1.19.1"."""
    try:
        parts = tuple(int(p) for p in version.lstrip("v").split("-")[0].split("."))
    except ValueError:
        raise FirmwareError(f"not a MicroPython version: {version!r}") from None
    if len(parts) < 2:
        raise FirmwareError(f"not a MicroPython version: {version!r}")
    return for_version(parts, persistent_code)


__all__ = ["Bytecode", "BytecodeError", "for_version", "load", "mpy_v5", "mpy_v6"]

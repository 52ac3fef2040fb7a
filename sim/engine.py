"""Which libunicorn mpsim runs on: the patched build or the stock wheel.

``tools/build-unicorn`` builds an ARM-only libunicorn with mpsim's patches
(tools/unicorn-patches/README.md) into ``build/unicorn/lib``. The unicorn
Python binding loads its C library once per process, at the first ``import
unicorn`` (``unicorn.arm_const`` included), from the directory named by
``LIBUNICORN_PATH`` if that holds a loadable ``libunicorn.so.2``, else from the
wheel. Importing this module makes the choice by setting that variable, without
importing unicorn itself, so it must be imported before anything imports
unicorn (``sim/__init__.py`` does).

Choice (environment variable ``MPSIM_ENGINE``):
  ``auto`` (default)  the patched library if built and loadable, else the stock
                      wheel with a one-line warning on stderr;
  ``patched``         the patched library or an ImportError;
  ``stock``           the wheel's library, no warning.
A ``LIBUNICORN_PATH`` set by the user (to another directory) is honoured and
reported as ``custom``. Child processes inherit the choice through
``LIBUNICORN_PATH`` and may override it with their own ``MPSIM_ENGINE``.

``kind`` ("patched", "stock" or "custom") is known at import; ``features``
(what the loaded library can do) and ``library`` (its path) import unicorn on
first use.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import NamedTuple

from sim.errors import UsageError
from sim.paths import REPO

class EngineError(UsageError, ImportError):
    """MPSIM_ENGINE asks for something this machine does not have (a SimError, so the
    CLI reports it in one line; an ImportError, since it is raised at import)."""


BUILD_DIR = Path(os.environ.get("MPSIM_UNICORN_BUILD", REPO / "build" / "unicorn"))   # tools/build-unicorn
LIB_DIR = BUILD_DIR / "lib"
LIB_NAME = "libunicorn.so.2"

# uc_ctl numbers added by tools/unicorn-patches/0005-insn-count.patch (kept clear
# of upstream's numbering, which ends at UC_CTL_CONTEXT_MODE = 13 in 2.1.x).
UC_CTL_INSN_COUNT_ENABLE = 0x30  # int: count instructions (changing it flushes TBs)
UC_CTL_INSN_COUNT = 0x31         # uint64: guest instructions executed while enabled
UC_CTL_INSN_LIMIT = 0x32         # uint64: stop at the first block boundary at/after it
UC_CTL_ARM_UNMASK_EXIT = 0x33    # int: stop after an MSR/CPS that lowers PRIMASK/FAULTMASK/BASEPRI (0009)


class Features(NamedTuple):
    """What the loaded libunicorn does beyond stock 2.1.4 (tools/unicorn-patches)."""

    patches: tuple = ()              # patch files the library was built with
    fast_exec_stores: bool = False   # 0001: stores to executable pages without code are fast
    inline_exit_check: bool = False  # 0002: emu_stop from an MMIO callback ends the block,
    #                                  the access is not restarted (no replay needed)
    mclass_model: bool = False       # 0006: UC_MODE_MCLASS keeps the model set (M3 stays M3)
    mprofile_hflags: bool = False    # 0007: host writes to XPSR/IPSR/CONTROL take effect
    has_icount: bool = False         # 0005: UC_CTL_INSN_*: instruction counter and limit
    unmask_exit: bool = False        # 0009: UC_CTL_ARM_UNMASK_EXIT: stop when the guest unmasks


def _warn(msg: str) -> None:
    print(f"mpsim: warning: {msg}", file=sys.stderr)


def _same_dir(a: str | os.PathLike, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def _loadable(lib: Path) -> bool:
    if not lib.is_file():
        return False
    try:
        ctypes.CDLL(str(lib))
    except OSError:
        return False
    return True


def _select() -> str:
    """Set LIBUNICORN_PATH for the choice; return the kind."""
    if "unicorn" in sys.modules:  # too late to choose: report what is loaded
        return "loaded"
    env = os.environ.get("LIBUNICORN_PATH")
    if env and not _same_dir(env, LIB_DIR):
        return "custom"
    os.environ.pop("LIBUNICORN_PATH", None)
    want = os.environ.get("MPSIM_ENGINE", "auto").strip().lower() or "auto"
    if want not in ("auto", "patched", "stock"):
        raise EngineError(f"MPSIM_ENGINE={want!r}: expected auto, patched or stock")
    if want == "stock":
        return "stock"
    if _loadable(LIB_DIR / LIB_NAME):
        os.environ["LIBUNICORN_PATH"] = str(LIB_DIR)
        return "patched"
    if want == "patched":
        raise EngineError(f"MPSIM_ENGINE=patched but {LIB_DIR / LIB_NAME} is not "
                          "built or not loadable (run tools/build-unicorn)")
    _warn("patched libunicorn not built (run tools/build-unicorn); "
          "using the stock unicorn wheel, which is slower")
    return "stock"


kind = _select()
_features: Features | None = None
_library: str | None = None


def _loaded_library() -> str:
    global _library, kind
    if _library is None:
        import unicorn  # noqa: F401  (loads the library if nothing did)
        from unicorn.unicorn_py3 import unicorn as binding

        _library = str(getattr(binding.uclib, "_name", "?"))
        if kind == "loaded":
            kind = "patched" if _same_dir(Path(_library).parent, LIB_DIR) else "stock"
    return _library


def _probe(control: int) -> bool:
    """The library knows an (int-valued) uc_ctl control."""
    import unicorn as u

    try:
        uc = u.Uc(u.UC_ARCH_ARM, u.UC_MODE_THUMB)
        value = ctypes.c_int()
        uc.ctl(control, u.UC_CTL_IO_READ, ctypes.byref(value))
        return True
    except Exception:
        return False


def _compute_features() -> Features:
    _loaded_library()
    if kind == "stock":
        return Features()
    patches: tuple[str, ...] = ()
    if kind == "patched":
        try:
            patches = tuple((BUILD_DIR / "patches").read_text().split())
        except OSError:
            pass
    names = " ".join(patches)
    return Features(
        patches=patches,
        fast_exec_stores="exec-page-stores" in names,
        inline_exit_check="inline-exit-check" in names,
        mclass_model="mclass-cpu-model" in names,
        mprofile_hflags="hflags-on-reg-write" in names,
        has_icount=_probe(UC_CTL_INSN_COUNT_ENABLE),
        unmask_exit=_probe(UC_CTL_ARM_UNMASK_EXIT),
    )


def __getattr__(name: str):
    global _features
    if name == "features":
        if _features is None:
            _features = _compute_features()
        return _features
    if name == "library":
        return _loaded_library()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- instruction counter (features.has_icount) ----------------------------------
# Deterministic time without a per-instruction hook: enable counting once (best
# before the first mem_map: enabling later flushes the translation cache), then
# per slice: set_icount_limit(uc, read_icount(uc) + budget); emu_start(pc, until)
# (no count=); read_icount again for the instructions actually run. The run
# stops at the first block boundary at or after the limit (at most one block,
# a few instructions, past it), so every slice makes progress and the same
# inputs give the same counts. An instruction that faults is not counted; one
# skipped by a false IT condition is (as with QEMU's -icount).

def icount_enable(uc, enable: bool = True) -> None:
    import unicorn as u

    uc.ctl(UC_CTL_INSN_COUNT_ENABLE, u.UC_CTL_IO_WRITE, ctypes.c_int(int(enable)))


def read_icount(uc) -> int:
    """Guest instructions ``uc`` executed while counting was enabled."""
    import unicorn as u

    value = ctypes.c_uint64()
    uc.ctl(UC_CTL_INSN_COUNT, u.UC_CTL_IO_READ, ctypes.byref(value))
    return value.value


def write_icount(uc, count: int) -> None:
    """Set ``uc``'s instruction counter (e.g. to resume a saved virtual time)."""
    import unicorn as u

    uc.ctl(UC_CTL_INSN_COUNT, u.UC_CTL_IO_WRITE, ctypes.c_uint64(count))


def set_icount_limit(uc, limit: int | None) -> None:
    """Stop emulation (as emu_stop) once the counter reaches ``limit``; None: no limit."""
    import unicorn as u

    value = (1 << 64) - 1 if limit is None else limit
    uc.ctl(UC_CTL_INSN_LIMIT, u.UC_CTL_IO_WRITE, ctypes.c_uint64(value))


def describe() -> str:
    """One line for logs and ``mpsim info``."""
    f = __getattr__("features")
    extra = f" ({', '.join(f.patches)})" if f.patches else ""
    return f"unicorn engine: {kind} {_loaded_library()}{extra}"

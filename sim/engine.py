"""Which libunicorn mpsim runs on: the patched build or the stock wheel.

``tools/build-unicorn`` builds an ARM-only libunicorn with mpsim's patches
(tools/unicorn-patches/README.md) into ``build/unicorn/lib``.  The unicorn
Python binding loads its C library once, at ``import unicorn``, from the
directory in ``LIBUNICORN_PATH`` if that holds a loadable ``libunicorn.so.2``,
else from the wheel.  So this module must be imported before anything imports
``unicorn``; ``sim.machine`` imports it first.

Choice (environment variable ``MPSIM_ENGINE``):
  ``auto`` (default)  the patched library if built and loadable, else the stock
                      wheel with a one-line warning on stderr;
  ``patched``         the patched library or an ImportError;
  ``stock``           the wheel's library, no warning.
A ``LIBUNICORN_PATH`` set by the user is honoured and reported as ``custom``.

After import: ``kind`` is "patched", "stock" or "custom"; ``features`` tells
what the loaded library can do; ``library`` is the path of the loaded file.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sim.paths import REPO

BUILD_DIR = REPO / "build" / "unicorn"
LIB_NAME = "libunicorn.so.2"

# uc_ctl numbers added by tools/unicorn-patches/0005-insn-count.patch (kept clear
# of upstream's numbering, which ends at UC_CTL_CONTEXT_MODE = 13 in 2.1.x).
UC_CTL_INSN_COUNT_ENABLE = 0x30  # int: count instructions (changing it flushes TBs)
UC_CTL_INSN_COUNT = 0x31         # uint64: guest instructions executed while enabled
UC_CTL_INSN_LIMIT = 0x32         # uint64: stop at the first block boundary at/after it


@dataclass(frozen=True)
class Features:
    """What the loaded libunicorn does beyond stock 2.1.4."""

    patches: tuple[str, ...] = ()   # patch files the library was built with
    fast_exec_stores: bool = False  # stores to executable pages without code are fast
    inline_exit_check: bool = False  # no helper call per block for the exit check
    has_icount: bool = False        # UC_CTL_INSN_*: instruction counter and limit, no hooks


def _warn(msg: str) -> None:
    print(f"mpsim: warning: {msg}", file=sys.stderr)


def _patched_dir() -> Path | None:
    lib = BUILD_DIR / "lib" / LIB_NAME
    if not lib.is_file():
        return None
    try:
        ctypes.CDLL(str(lib))
    except OSError:
        return None
    return lib.parent


def _choose() -> tuple[str, str | None]:
    """Return (kind, directory to put in LIBUNICORN_PATH or None)."""
    if "unicorn" in sys.modules:  # too late to choose: report what is loaded
        return "loaded", None
    if os.environ.get("LIBUNICORN_PATH"):
        return "custom", os.environ["LIBUNICORN_PATH"]
    want = os.environ.get("MPSIM_ENGINE", "auto").strip().lower() or "auto"
    if want not in ("auto", "patched", "stock"):
        raise ImportError(f"MPSIM_ENGINE={want!r}: expected auto, patched or stock")
    if want == "stock":
        return "stock", None
    found = _patched_dir()
    if found is not None:
        return "patched", str(found)
    if want == "patched":
        raise ImportError(f"MPSIM_ENGINE=patched but {BUILD_DIR / 'lib' / LIB_NAME} is not "
                          "built or not loadable (run tools/build-unicorn)")
    _warn("patched libunicorn not built (run tools/build-unicorn); "
          "using the stock unicorn wheel, which is slower")
    return "stock", None


def _load() -> tuple[str, str]:
    kind, path = _choose()
    old = os.environ.get("LIBUNICORN_PATH")
    if path is not None:
        os.environ["LIBUNICORN_PATH"] = path
    try:
        import unicorn  # noqa: F401  (loads the library)
        from unicorn.unicorn_py3 import unicorn as binding
    finally:
        # do not leak our choice into child processes: they choose for themselves
        if path is not None and kind != "custom":
            if old is None:
                os.environ.pop("LIBUNICORN_PATH", None)
            else:
                os.environ["LIBUNICORN_PATH"] = old
    library = str(getattr(binding.uclib, "_name", "?"))
    if kind == "loaded":
        patched = Path(library).resolve().parent == (BUILD_DIR / "lib").resolve()
        kind = "patched" if patched else "stock"
    return kind, library


def _probe_icount() -> bool:
    import unicorn as u

    try:
        uc = u.Uc(u.UC_ARCH_ARM, u.UC_MODE_THUMB | u.UC_MODE_MCLASS)
        value = ctypes.c_int()
        uc.ctl(UC_CTL_INSN_COUNT_ENABLE, u.UC_CTL_IO_READ, ctypes.byref(value))
        return True
    except Exception:
        return False


def _features(kind: str) -> Features:
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
        has_icount=_probe_icount(),
    )


kind, library = _load()
features = _features(kind)


# -- instruction counter (features.has_icount) ----------------------------------
# Deterministic time without a per-instruction hook: enable counting once (best
# before the first mem_map: enabling later flushes the translation cache), then
# per slice: set_icount_limit(uc, read_icount(uc) + budget); emu_start(pc, until)
# (no count=); read_icount again for the instructions actually run. The run
# stops at the first block boundary at or after the limit (at most one block,
# a few instructions, past it), so every slice makes progress and the same
# inputs give the same counts. An instruction that faults is not counted.

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
    extra = f" ({', '.join(features.patches)})" if features.patches else ""
    return f"unicorn engine: {kind} {library}{extra}"

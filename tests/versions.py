"""The firmware ELF of a MicroPython version, for tests that run on every version:
firmware/build/<board>/<version>/firmware.elf, or the default firmware when it is
that version; skipped with the reason when neither is built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.paths import firmware_elf
from tests.conftest import FIRMWARE

BANNER = re.compile(rb"MicroPython v(\d+)\.(\d+)(?:\.(\d+))?")


def elf_version(path: Path) -> tuple[int, int, int] | None:
    """The version in the REPL banner every MicroPython build carries."""
    m = BANNER.search(path.read_bytes())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def firmware_for(version: str) -> Path:
    want = tuple(int(p) for p in version.split("."))
    built = firmware_elf("mps2-an385", version)
    others = sorted(p for p in built.parent.parent.glob("*/firmware.elf") if not p.parent.name.endswith("-plain"))
    for path in (built, *others, FIRMWARE):       # "1.9" is whichever 1.9.x is built
        if path.exists() and (elf_version(path) or ())[:len(want)] == want:
            return path
    pytest.skip(f"no MicroPython {version} firmware built (looked at {built} and at the default {FIRMWARE}); "
                f"build it with: make -C firmware MPY_VERSION={version}")

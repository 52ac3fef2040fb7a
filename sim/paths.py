"""Where mpsim finds its default firmware and keeps flash images."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_firmware(board: str) -> Path:
    env = os.environ.get("MPSIM_FIRMWARE")
    if env:
        return Path(env)
    flat = REPO / "firmware" / "build" / board / "firmware.elf"
    if flat.exists():
        return flat
    # firmware/Makefile builds into build/<board>/<MicroPython version>/: the newest
    # port build there (a board the default core cannot target, e.g. virt-rv64, has only those).
    builds = [p for p in flat.parent.glob("*/firmware.elf") if p.parent.name[:1].isdigit()
              and not p.parent.name.endswith("-plain")]
    if builds:
        return max(builds, key=lambda p: tuple(int(x) for x in p.parent.name.split(".") if x.isdigit()))
    return flat


def flash_dir() -> Path:
    return Path(os.environ.get("MPSIM_FLASH_DIR", REPO / "flash_images"))


def cache_dir() -> Path:
    """Derived data that is only worth keeping for speed (parsed ELFs and board files)."""
    return Path(os.environ.get("MPSIM_CACHE", Path.home() / ".cache" / "mpsim"))

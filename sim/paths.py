"""Where mpsim finds its default firmware and keeps flash images."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_firmware(board: str) -> Path:
    env = os.environ.get("MPSIM_FIRMWARE")
    if env:
        return Path(env)
    return REPO / "firmware" / "build" / board / "firmware.elf"


def flash_dir() -> Path:
    return Path(os.environ.get("MPSIM_FLASH_DIR", REPO / "flash_images"))


def cache_dir() -> Path:
    """Derived data that is only worth keeping for speed (parsed ELFs and board files)."""
    return Path(os.environ.get("MPSIM_CACHE", Path.home() / ".cache" / "mpsim"))

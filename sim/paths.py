"""Where mpsim finds its default firmware and keeps flash images."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UsageError

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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def check_name(name: str, what: str = "board name") -> str:
    """A name that becomes part of a file name (``boards/<name>.toml``,
    ``flash_images/<name>.bin``) is a plain name: no path separators, no ``..``,
    nothing hidden, so it can never point outside its directory."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"{what} {name!r} is not a valid name (letters, digits and . _ + -, at most 64, "
                         f"not starting with . or containing ..)")
    return name

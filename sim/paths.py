"""Where mpsim finds its default firmware and keeps flash images."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


VERSIONS_FILE = REPO / "firmware" / "versions.txt"


def firmware_versions() -> tuple[list[str], str]:
    """The MicroPython versions the firmware builds against and the default one.

    Read from firmware/versions.txt, which firmware/Makefile reads too, so the
    default is one fact in one place ("default <version>" line).
    """
    versions, default = [], ""
    for line in VERSIONS_FILE.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "default":
            default = fields[1]
        else:
            versions.append(fields[0])
    return versions, default


def firmware_elf(board: str, version: str | None = None, plain: bool = False) -> Path:
    """Where `make -C firmware MPY_VERSION=<version> [PORT=plain]` puts its ELF."""
    version = version or firmware_versions()[1]
    return REPO / "firmware" / "build" / board / (version + ("-plain" if plain else "")) / "firmware.elf"


def default_firmware(board: str) -> Path:
    env = os.environ.get("MPSIM_FIRMWARE")
    if env:
        return Path(env)
    return firmware_elf(board)


def flash_dir() -> Path:
    return Path(os.environ.get("MPSIM_FLASH_DIR", REPO / "flash_images"))


def cache_dir() -> Path:
    """Derived data that is only worth keeping for speed (parsed ELFs and board files)."""
    return Path(os.environ.get("MPSIM_CACHE", Path.home() / ".cache" / "mpsim"))

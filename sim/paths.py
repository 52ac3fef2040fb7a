"""Where mpsim finds its board files and default firmware, and keeps flash images.

Both a source tree (``pip install -e .``, or ``sim`` on ``PYTHONPATH``) and an
installed wheel work: the board files ship inside the package (``sim/boards/``,
see setup.py) and are used from the source tree's ``boards/`` when run from it.
Environment variables override each place: MPSIM_BOARDS, MPSIM_FIRMWARE,
MPSIM_FLASH_DIR, MPSIM_CACHE.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UsageError

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent          # the source tree, when mpsim runs from one
BUILD_HINT = ("build one with `bash tools/setup` in an mpsim source tree, or pass --firmware ELF "
              "or set MPSIM_FIRMWARE")


def in_source_tree() -> bool:
    return (REPO / "pyproject.toml").is_file() and (REPO / "sim").is_dir()


def boards_dir() -> Path:
    env = os.environ.get("MPSIM_BOARDS")
    if env:
        return Path(env)
    installed = PACKAGE / "boards"
    return installed if installed.is_dir() else REPO / "boards"


VERSIONS_FILE = REPO / "firmware" / "versions.txt"


def firmware_versions() -> tuple[list[str], str]:
    """The MicroPython versions the firmware builds against and the default one.

    Read from firmware/versions.txt, which firmware/Makefile reads too, so the
    default is one fact in one place ("default <version>" line).
    """
    versions, default = [], ""
    if not VERSIONS_FILE.is_file():          # an installed wheel: no firmware builds beside it
        return versions, default
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
    elf = firmware_elf(board)
    if elf.exists():
        return elf
    # A board the default core cannot target (virt-rv64: no 1.9.2) has only other
    # versions' builds: the newest port build there.
    builds = [p for p in elf.parent.parent.glob("*/firmware.elf") if p.parent.name[:1].isdigit()
              and not p.parent.name.endswith("-plain")]
    if builds:
        return max(builds, key=lambda p: tuple(int(x) for x in p.parent.name.split(".") if x.isdigit()))
    return elf


def require_default_firmware(board: str) -> Path:
    """The default firmware, or one line saying where it was looked for and how to get one."""
    from .errors import FirmwareError
    path = default_firmware(board)
    if not path.exists():
        where = "MPSIM_FIRMWARE" if os.environ.get("MPSIM_FIRMWARE") else "the default firmware"
        raise FirmwareError(f"no firmware: {where} {path} does not exist; {BUILD_HINT}")
    return path


def flash_dir() -> Path:
    """Flash images persist here between processes: the source tree's flash_images/
    when run from one, else the user's data directory (never inside site-packages)."""
    env = os.environ.get("MPSIM_FLASH_DIR")
    if env:
        return Path(env)
    if in_source_tree():
        return REPO / "flash_images"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "mpsim" / "flash_images"


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

"""The one place tests find the firmware ELF of each MicroPython version.

Looked up, first hit wins:
  1. ``MPSIM_FIRMWARE_ROOT``: a folder holding ``<version>/firmware.elf``;
  2. ``firmware/build/<board>/<version>/firmware.elf`` in this tree (``make -C firmware MPY_VERSION=<v>``);
  3. for the version the tree's default build is (``firmware/build/<board>/firmware.elf``): that.
A version whose ELF is missing is skipped with the path it looked for (CI fails instead).
``MPSIM_VERSIONS=1.23,1.19-plain`` limits a run to some versions.

``-plain`` versions are hook-free ("third-party") builds: no ``mpsim_restore_point``,
no boot-parameter block, a static ``gc_heap``, a polled UART.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

from sim.paths import REPO

BOARD = "mps2-an385"
VERSIONS = ("1.9.2", "1.18", "1.19", "1.20", "1.22", "1.23")
PLAIN = ("1.19-plain", "1.23-plain")
ALL = VERSIONS + PLAIN


def selected(versions=ALL) -> tuple[str, ...]:
    only = os.environ.get("MPSIM_VERSIONS")
    if not only:
        return tuple(versions)
    want = {v.strip() for v in only.split(",")}
    return tuple(v for v in versions if v in want)


@lru_cache(maxsize=None)
def _find(version: str) -> tuple[Path | None, list[Path]]:
    tried = []
    root = os.environ.get("MPSIM_FIRMWARE_ROOT")
    if root:
        tried.append(Path(root) / version / "firmware.elf")
    tried.append(REPO / "firmware" / "build" / BOARD / version / "firmware.elf")
    for p in tried:
        if p.exists():
            return p, tried
    legacy = REPO / "firmware" / "build" / BOARD / "firmware.elf"
    if not is_plain(version):
        tried.append(legacy)
        if legacy.exists():
            from sim.firmware import Firmware
            v = Firmware.load(legacy).micropython_version
            if v is not None and _matches(v, version):
                return legacy, tried
    return None, tried


def _matches(v: tuple[int, int, int], version: str) -> bool:
    parts = tuple(int(x) for x in version.split("-")[0].split("."))
    return tuple(v[:len(parts)]) == parts


def firmware_for(version: str) -> Path:
    """The ELF of ``version``, or skip (fail in CI) naming where it was looked for."""
    path, tried = _find(version)
    if path is None:
        msg = f"no MicroPython {version} firmware (looked at {', '.join(map(str, tried))})"
        if os.environ.get("CI"):
            pytest.fail(msg + ": CI must build every version")
        port = " PORT=plain" if is_plain(version) else ""
        pytest.skip(msg + f"; build it with: make -C firmware MPY_VERSION={version.split('-')[0]}{port}")
    return path


def is_plain(version: str) -> bool:
    return version.endswith("-plain")


def boards(request, tmp_path, version):
    """Body of a ``make_board`` fixture booting ``version``'s firmware (a generator:
    ``yield from boards(...)``); boards are closed after the test."""
    from sim.device import Board
    firmware = firmware_for(version)
    made = []
    request.node._mpsim_boards = made

    def factory(flash_path=None, boot: bool = True, **kw):
        kw.setdefault("deterministic", request.config.getoption("--mpsim-deterministic"))
        b = Board(BOARD, firmware, flash_path=flash_path or tmp_path / f"flash{len(made)}.bin", **kw)
        made.append(b)
        if boot:
            b.boot()
        return b

    yield factory
    for b in made:
        b.close()

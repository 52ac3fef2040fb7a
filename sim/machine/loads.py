"""Files loaded into memory before boot: ``--load FILE@ADDR``, as QEMU's
``-device loader,file=FILE,addr=ADDR,force-raw=on`` (upstream MicroPython's
ports/qemu tests mount a ROMFS image that way).

The bytes are written after the ELF on every reset and power-on (``Machine.reset``),
as QEMU's ``rom_reset`` writes its blobs into RAM again on each system reset, so
what the firmware changed there does not survive a reset. A blob must lie inside
one RAM region or inside the NOR flash outside its hibernate partition (the host
must never overwrite a saved image); anything else is refused before the board
boots. A file loaded into the flash is in the flash image from then on, as if a
programmer had written it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Load:
    path: str
    addr: int
    data: bytes

    @property
    def end(self) -> int:
        return self.addr + len(self.data)


def parse(text: str) -> tuple[str, int]:
    """``FILE@ADDR`` (ADDR in any Python integer notation: 0x21000000) -> (file, address)."""
    path, at, addr = text.rpartition("@")
    if not at or not path:
        raise UsageError(f"--load {text}: expected FILE@ADDR, e.g. romfs.img@0x21000000")
    try:
        value = int(addr, 0)
    except ValueError:
        raise UsageError(f"--load {text}: {addr!r} is not an address (e.g. 0x21000000)") from None
    if value < 0:
        raise UsageError(f"--load {text}: negative address")
    return path, value


def read(specs: list[str], board) -> list[Load]:
    """The files, read and checked against the board's memory map."""
    loads = []
    for text in specs:
        path, addr = parse(text)
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise UsageError(f"--load {text}: cannot read {path}: {e.strerror or e}") from None
        load = Load(path, addr, data)
        _check(load, board)
        loads.append(load)
    return loads


def _targets(board) -> list[tuple[str, int, int]]:
    """(name, start, end) of where a file may go: RAM regions and the NOR flash
    below and above its hibernate partition."""
    out = [(f"RAM {r.name}", r.base, r.end) for r in board.memory]
    for f in board.peripherals_of_type("nor_flash"):
        lo = f.base + int(f.settings.get("hibernate_offset", f.size))
        hi = lo + int(f.settings.get("hibernate_size", 0))
        out += [(f"flash {f.name}", f.base, lo), (f"flash {f.name}", hi, f.end)]
    return [t for t in out if t[1] < t[2]]


def _check(load: Load, board) -> None:
    where = next(((n, s, e) for n, s, e in _targets(board) if s <= load.addr < e), None)
    what = f"--load {load.path}@{load.addr:#x}"
    if where is None:
        raise UsageError(f"{what}: address is outside the RAM and flash of board {board.name} "
                         f"(or in the flash's hibernate partition)")
    name, _start, end = where
    if load.end > end:
        raise UsageError(f"{what}: {len(load.data)} bytes do not fit: {name} ends at {end:#x}, "
                         f"{load.end - end} bytes short")

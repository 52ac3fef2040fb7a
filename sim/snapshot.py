"""Whole-machine snapshots: RAM, CPU registers, peripheral state, flash contents.

A snapshot is a plain file, portable across processes (not a pickled Unicorn
context): a JSON header with the board, the firmware fingerprint, the CPU and
peripheral state, then each RAM region (aliases excluded: they share memory)
zlib-compressed. Taken at the first prompt, it lets later runs skip the boot;
the pytest plugin saves one when a test fails.

Layout: ``MPSIMSNAP`` magic, u32 header length, header JSON, blobs in header order.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from . import files
from .errors import ImageError, UsageError
from .image import check_shape

MAGIC = b"MPSIMSNAP1"
_LEN = struct.Struct("<I")


def _regions(machine):
    return [r for r in machine.board.memory if r.alias is None]


def save_snapshot(machine, path: str | os.PathLike) -> int:
    """Write a snapshot of ``machine``; returns the file size."""
    blobs, entries = [], []
    for r in _regions(machine):
        data = zlib.compress(machine.read(r.base, r.size), 1)
        entries.append({"name": r.name, "base": r.base, "size": r.size, "length": len(data)})
        blobs.append(data)
    flash = [p for p in machine.peripherals.values() if hasattr(p, "backing")]
    for p in flash:
        data = zlib.compress(bytes(p.backing), 1)
        entries.append({"name": p.name, "flash": True, "size": len(p.backing), "length": len(data)})
        blobs.append(data)
    header = {"version": 1, "board": machine.board.name, "firmware": machine.firmware.fingerprint,
              "state": machine.state(), "blobs": entries}
    raw = json.dumps(header).encode()
    files.write_atomically(path, b"".join([MAGIC, _LEN.pack(len(raw)), raw, *blobs]), "snapshot")
    return Path(path).stat().st_size


def load_snapshot(machine, path: str | os.PathLike) -> None:
    """Restore ``machine`` from a snapshot of the same board and firmware. Everything
    is checked before the machine is changed: the header's shape, every region one
    of this board's memories (name, base and size), every blob inflating to exactly
    its size, the machine state shaped like this machine's own."""
    path = Path(path)
    data = files.read_bytes(path, "snapshot")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise UsageError(f"{path} is not an mpsim snapshot")
    (n,) = _LEN.unpack_from(data, len(MAGIC))
    pos = len(MAGIC) + 4
    try:
        header = json.loads(data[pos:pos + n])
    except (ValueError, RecursionError):
        raise UsageError(f"{path}: snapshot header is corrupt") from None
    pos += n
    if not isinstance(header, dict) or not isinstance(header.get("blobs"), list):
        raise UsageError(f"{path}: snapshot header is corrupt (no list of regions)")
    if header.get("board") != machine.board.name:
        raise UsageError(f"{path} is a snapshot of board {str(header.get('board'))[:40]!r}, not {machine.board.name!r}")
    if header.get("firmware") != machine.firmware.fingerprint:
        raise UsageError(f"{path} was taken with another firmware (fingerprint {str(header.get('firmware'))[:12]}, "
                         f"running {machine.firmware.fingerprint[:12]})")
    try:
        check_shape(header.get("state"), machine.state(), "machine state")
        for name, p in machine.peripherals.items():
            p.check_state(header["state"]["peripherals"][name])
    except (ImageError, ValueError) as e:
        raise UsageError(f"{path}: {e}") from None
    memories = {r.name: (r.base, r.size) for r in _regions(machine)}
    flashes = {p.name: len(p.backing) for p in machine.peripherals.values() if hasattr(p, "backing")}
    chunks = []
    for e in header["blobs"]:
        e = _check_entry(e, memories, flashes, path)
        length = e["length"]
        if pos + length > len(data):
            raise UsageError(f"{path}: region {e['name']} is corrupt (truncated)")
        blob = _inflate(data[pos:pos + length], e["size"], e["name"], path)
        chunks.append((e, blob))
        pos += length
    if pos != len(data):
        raise UsageError(f"{path}: {len(data) - pos} bytes after the last region")
    # Everything checked: now change the machine.
    for e, blob in chunks:
        if e.get("flash"):
            machine.peripherals[e["name"]].backing[:] = blob
        else:
            machine.write(e["base"], blob)
    machine.uc.ctl_flush_tb()          # code in RAM may differ from what was translated
    machine.load_state(header["state"])


def _check_entry(e, memories: dict[str, tuple[int, int]], flashes: dict[str, int], path: Path) -> dict:
    """A region entry naming one of this board's memories (or memory-like devices) exactly."""
    if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not all(
            isinstance(e.get(k), int) and not isinstance(e.get(k), bool) and e.get(k) >= 0 for k in ("size", "length")):
        raise UsageError(f"{path}: snapshot header is corrupt (a region entry is malformed)")
    name = e["name"]
    if e.get("flash"):
        if flashes.get(name) != e["size"]:
            raise UsageError(f"{path}: flash {name[:40]!r} of {e['size']} bytes is not a device of this board")
    elif memories.get(name) != (e.get("base"), e["size"]):
        raise UsageError(f"{path}: region {name[:40]!r} at {e.get('base')!r:.20}+{e['size']:#x} is not a memory "
                         f"of board {'/'.join(memories)}")
    return e


def _inflate(packed: bytes, size: int, name: str, path: Path) -> bytes:
    d = zlib.decompressobj()
    try:
        blob = d.decompress(packed, size + 1)
    except zlib.error:
        raise UsageError(f"{path}: region {name} is corrupt") from None
    if len(blob) != size or not d.eof or d.unused_data:
        raise UsageError(f"{path}: region {name} does not inflate to its {size} bytes")
    return blob

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

from .errors import UsageError

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
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + _LEN.pack(len(raw)) + raw)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write snapshot {path}: {e.strerror or e}") from None
    return path.stat().st_size


def load_snapshot(machine, path: str | os.PathLike) -> None:
    """Restore ``machine`` from a snapshot of the same board and firmware."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read snapshot {path}: {e.strerror or e}") from None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise UsageError(f"{path} is not an mpsim snapshot")
    (n,) = _LEN.unpack_from(data, len(MAGIC))
    pos = len(MAGIC) + 4
    try:
        header = json.loads(data[pos:pos + n])
    except ValueError:
        raise UsageError(f"{path}: snapshot header is corrupt") from None
    pos += n
    if header.get("board") != machine.board.name:
        raise UsageError(f"{path} is a snapshot of board {header.get('board')!r}, not {machine.board.name!r}")
    if header.get("firmware") != machine.firmware.fingerprint:
        raise UsageError(f"{path} was taken with another firmware (fingerprint {str(header.get('firmware'))[:12]}, "
                         f"running {machine.firmware.fingerprint[:12]})")
    chunks = []
    for e in header["blobs"]:
        try:
            blob = zlib.decompress(data[pos:pos + e["length"]])
        except zlib.error:
            raise UsageError(f"{path}: region {e['name']} is corrupt") from None
        if len(blob) != e["size"]:
            raise UsageError(f"{path}: region {e['name']} has {len(blob)} bytes, expected {e['size']}")
        chunks.append((e, blob))
        pos += e["length"]
    # Everything checked: now change the machine.
    for e, blob in chunks:
        if e.get("flash"):
            machine.peripherals[e["name"]].backing[:] = blob
        else:
            machine.write(e["base"], blob)
    machine.uc.ctl_flush_tb()          # code in RAM may differ from what was translated
    machine.load_state(header["state"])

"""A snapshot file is checked whole before the machine changes: every region one of
the board's memories (a base outside memory was a traceback), blobs inflating to
exactly their size, the machine state shaped like the machine's own; a FIFO or a
device is refused unread."""

from __future__ import annotations

import json
import os
import struct
import zlib

import pytest

from sim.errors import UsageError
from sim.snapshot import MAGIC, load_snapshot, save_snapshot


def _rewrite(path, edit) -> None:
    data = path.read_bytes()
    (n,) = struct.unpack_from("<I", data, len(MAGIC))
    pos = len(MAGIC) + 4
    header = json.loads(data[pos:pos + n])
    blobs = data[pos + n:]
    header, blobs = edit(header, blobs)
    raw = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(raw)) + raw + blobs)


def _first_ram(header):
    return next(e for e in header["blobs"] if not e.get("flash"))


def _move_base(h, b):
    _first_ram(h)["base"] = 0x3000_0000
    return h, b


def _grow_size(h, b):
    _first_ram(h)["size"] *= 2
    return h, b


def _bomb(h, b):
    e = _first_ram(h)
    bomb = zlib.compress(bytes(64 << 20))
    assert h["blobs"][0] is e
    b = bomb + b[e["length"]:]
    e["length"] = len(bomb)
    return h, b


def _bad_state(h, b):
    h["state"]["peripherals"]["uart0"] = {"ctrl": "x"}
    return h, b


def _not_a_list(h, b):
    h["blobs"] = {"a": 1}
    return h, b


def _trailing(h, b):
    return h, b + b"junk"


@pytest.mark.parametrize("edit, words", [
    (_move_base, "is not a memory of board"),
    (_grow_size, "is not a memory of board"),
    (_bomb, "does not inflate to its"),
    (_bad_state, "machine state.peripherals.uart0"),
    (_not_a_list, "no list of regions"),
    (_trailing, "bytes after the last region"),
])
def test_a_crafted_snapshot_is_refused_and_the_machine_untouched(machine, tmp_path, edit, words):
    m = machine("hello")
    path = tmp_path / "m.snap"
    save_snapshot(m, path)
    _rewrite(path, edit)
    m.write(0x2000_0000, b"mine")
    with pytest.raises(UsageError, match=words) as e:
        load_snapshot(m, path)
    assert "\n" not in str(e.value)
    assert m.read(0x2000_0000, 4) == b"mine"


def test_a_snapshot_round_trips_and_is_written_0600(machine, tmp_path):
    m = machine("hello")
    m.write(0x2000_0000, b"kept")
    path = tmp_path / "m.snap"
    save_snapshot(m, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    m.write(0x2000_0000, b"gone")
    load_snapshot(m, path)
    assert m.read(0x2000_0000, 4) == b"kept"


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "dir"])
def test_a_snapshot_path_that_is_no_regular_file_is_refused_unread(machine, tmp_path, kind):
    m = machine("hello")
    path = {"fifo": tmp_path / "f.snap", "/dev/zero": "/dev/zero", "dir": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(UsageError, match="not a regular file"):
        load_snapshot(m, path)

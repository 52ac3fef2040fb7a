"""The state file: the portable state standalone, to carry to another board or firmware.

Layout (all integers little-endian)::

    offset  size  what
    0       8     magic  b"MPSTATE\\0"
    8       4     format version (u32) -- this reader: VERSION
    12      4     header length H (u32)
    16      4     body length B (u32)
    20      H     header: UTF-8 JSON object (the representation facts, below)
    20+H    B     body: zlib-compressed JSON (sim.mpy.portable.format's portable form,
                  plus the source firmware's struct layouts from DWARF)
    20+H+B  32    SHA-256 of bytes 0 .. 20+H+B

The header says everything a loader must agree with or convert: ``source`` (firmware
file name, fingerprint, board, MicroPython version), ``word_bytes``, ``byte_order``,
``float`` ("ieee754-single"/"ieee754-double"), ``small_int_bits`` (the value bits of a
small int), ``mpz_digit_bits``, ``qstr_hash_bytes``, ``bytecode`` ("mpy_v6"), and
``peripherals`` (board-neutral concepts: ``leds``, ``uptime_us``).

Versioning rule: the magic and the first three fields never move. A reader refuses a
file whose format version is above its own, naming both; a change that an older
reader could misread bumps the version; new header keys an old reader can ignore do
not. Every refusal is one line (StateFileError, exit 2) and nothing is touched.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

from . import MigrationError

MAGIC = b"MPSTATE\0"
VERSION = 1
_FIXED = struct.Struct("<8sIII")
_SUM = 32
MAX_BYTES = 64 << 20          # a state file is a heap (KiB..MiB): anything bigger is not one


class StateFileError(MigrationError):
    """The file is not a state file this mpsim can read (nothing was changed)."""


def pack(header: dict, body: dict) -> bytes:
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    b = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)
    data = _FIXED.pack(MAGIC, VERSION, len(h), len(b)) + h + b
    return data + hashlib.sha256(data).digest()


def unpack(data: bytes, name: str = "state file") -> tuple[dict, dict]:
    """(header, body) of a state file's bytes; StateFileError saying why it is refused."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise StateFileError(f"{name}: not an mpsim state file (no MPSTATE magic)")
    if len(data) < _FIXED.size:
        raise StateFileError(f"{name}: truncated ({len(data)} bytes, shorter than the fixed header)")
    _magic, version, hlen, blen = _FIXED.unpack_from(data)
    if version > VERSION:
        raise StateFileError(f"{name}: format version {version} is newer than this mpsim reads (up to {VERSION}): "
                             "update mpsim")
    if version < 1:
        raise StateFileError(f"{name}: format version {version} does not exist")
    end = _FIXED.size + hlen + blen
    if len(data) < end + _SUM:
        raise StateFileError(f"{name}: truncated ({len(data)} bytes, the header says {end + _SUM})")
    if len(data) > end + _SUM:
        raise StateFileError(f"{name}: {len(data) - end - _SUM} bytes after the end of the state")
    if hashlib.sha256(data[:end]).digest() != data[end:]:
        raise StateFileError(f"{name}: checksum mismatch (the file is corrupt)")
    try:
        header = json.loads(data[_FIXED.size:_FIXED.size + hlen])
        body = json.loads(zlib.decompress(data[_FIXED.size + hlen:end]))
    except (ValueError, zlib.error, RecursionError) as e:
        raise StateFileError(f"{name}: unreadable contents ({e})") from None
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise StateFileError(f"{name}: unreadable contents (not JSON objects)")
    return header, body


def write(path, data: bytes) -> None:
    """Replace ``path`` atomically (a temporary file, fsync, rename)."""
    from ...files import write_atomically
    write_atomically(path, data, "state file")


def read(path) -> bytes:
    """A regular file's bytes (sim.files: no FIFO or device, size capped), else one line."""
    from ...files import read_bytes
    return read_bytes(path, "state file", MAX_BYTES)

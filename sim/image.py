"""Hibernate image format: a versioned, CRC-checked header and named sections.

Layout (all integers little-endian, via ``struct``)::

    fixed header   _FIXED (magic, version, total length, sequence, creation time,
                   firmware fingerprint, word size, endianness, heap geometry, ctx)
    strings        board name, ctx layout hash       (u16 length + UTF-8 each)
    section table  u16 count, then per section: u8 name length + UTF-8 name,
                   u32 length, u32 CRC32 of the payload
    header CRC     u32 CRC32 of every byte above
    payloads       the sections' bytes, in table order; the image ends exactly here

``decode`` checks in that order and refuses anything else with an ``ImageError``
whose message is one line naming what is wrong. ``check_matches`` refuses an
image made for another firmware, board, heap geometry, word size or ctx layout,
naming each difference with both values. Nothing here knows about flash, slots
or the interpreter: sections are opaque bytes; the codecs at the bottom pack the
GC pool's used blocks (so an image is about the size of the live data) and
peripheral states (``periph.<name>``, JSON).
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import ImageError
from .mpy.geometry import HeapGeometry

MAGIC = b"MPSHIB1\0"
FORMAT_VERSION = 2          # 2: peripheral states and GC tables zlib-compressed
PERIPHERAL_PREFIX = "periph."
# The interpreter's sections (written by sim.hibernate). The GC tables are mostly
# zeros and stored zlib-compressed: use ``table()`` to read them.
SECTION_CTX, SECTION_ATB, SECTION_FTB, SECTION_POOL = "ctx", "heap.atb", "heap.ftb", "heap.pool"

# magic, version, flags, total length, sequence, created (µs since the epoch),
# fingerprint, word size, endianness (0 little, 1 big), 9 x heap geometry, ctx addr, ctx size
_FIXED = struct.Struct("<8sHHIQq32sBB9III")
_ENDIAN = {"little": 0, "big": 1}
_U8, _U16, _U32 = struct.Struct("<B"), struct.Struct("<H"), struct.Struct("<I")
_SECTION_FIXED = struct.Struct("<II")


@dataclass
class HibernateImage:
    fingerprint: str            # firmware fingerprint: hex SHA-256
    board: str
    heap: HeapGeometry
    ctx_addr: int               # mp_state_ctx
    ctx_size: int
    ctx_layout: str             # hash of the ctx struct layout (from DWARF)
    sections: dict[str, bytes] = field(default_factory=dict)
    sequence: int = 0
    word_size: int = 4
    endianness: str = "little"
    created_us: int = field(default_factory=lambda: time.time_ns() // 1000)
    encoded_size: int = field(default=0, compare=False)   # set by decode(): bytes in flash

    # -- encoding ---------------------------------------------------------------
    def encode(self) -> bytes:
        head = self._fixed(total=0) + self._strings() + self._section_table()
        total = len(head) + 4 + sum(len(v) for v in self.sections.values())
        head = self._fixed(total) + head[_FIXED.size:]
        return b"".join([head, _U32.pack(zlib.crc32(head)), *self.sections.values()])

    def _fixed(self, total: int) -> bytes:
        try:
            fp = bytes.fromhex(self.fingerprint)
        except ValueError:
            fp = b""
        if len(fp) != 32:
            raise ValueError(f"fingerprint must be 64 hex digits, not {self.fingerprint!r}")
        if self.endianness not in _ENDIAN:
            raise ValueError(f"endianness must be 'little' or 'big', not {self.endianness!r}")
        return _FIXED.pack(MAGIC, FORMAT_VERSION, 0, total, self.sequence, self.created_us, fp,
                           self.word_size, _ENDIAN[self.endianness], *dataclasses.astuple(self.heap),
                           self.ctx_addr, self.ctx_size)

    def _strings(self) -> bytes:
        out = b""
        for s in (self.board, self.ctx_layout):
            raw = s.encode()
            if len(raw) > 0xFFFF:
                raise ValueError(f"string too long for the image header: {s[:40]!r}...")
            out += _U16.pack(len(raw)) + raw
        return out

    def _section_table(self) -> bytes:
        out = [_U16.pack(len(self.sections))]
        for name, payload in self.sections.items():
            raw = name.encode()
            if not 0 < len(raw) <= 255:
                raise ValueError(f"section name must be 1..255 bytes of UTF-8: {name!r}")
            out.append(_U8.pack(len(raw)) + raw + _SECTION_FIXED.pack(len(payload), zlib.crc32(payload)))
        return b"".join(out)

    # -- peripheral states ------------------------------------------------------
    def set_peripheral_state(self, name: str, state: dict[str, Any]) -> None:
        raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
        packed = zlib.compress(raw, 9)     # JSON starts with '{', zlib with 0x78: readers tell them apart
        self.sections[PERIPHERAL_PREFIX + name] = packed if len(packed) < len(raw) else raw

    def peripheral_states(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, payload in self.sections.items():
            if key.startswith(PERIPHERAL_PREFIX):
                name = key[len(PERIPHERAL_PREFIX):]
                try:
                    out[name] = json.loads(payload if payload[:1] == b"{" else zlib.decompress(payload))
                except (ValueError, UnicodeDecodeError, zlib.error) as e:
                    raise ImageError(f"section {key!r} is not valid JSON: {e}") from None
        return out

    def set_table(self, name: str, data: bytes) -> None:
        self.sections[name] = zlib.compress(data, 9)

    def table(self, name: str) -> bytes | None:
        """A compressed section (the GC tables), inflated; None if absent."""
        if name not in self.sections:
            return None
        try:
            return zlib.decompress(self.sections[name])
        except zlib.error:
            raise ImageError(f"image section {name!r} does not decompress") from None

    def section(self, name: str) -> bytes:
        try:
            return self.sections[name]
        except KeyError:
            raise ImageError(f"image has no section {name!r} (has: {', '.join(self.sections) or 'none'})") from None

    # -- compatibility ------------------------------------------------------------
    def check_matches(self, **expected: Any) -> None:
        """Refuse this image unless each given field equals the running system's value.

        Keys: fingerprint, board, heap (a HeapGeometry), word_size, endianness,
        ctx_layout, ctx_size, ctx_addr. Every difference is named in one line."""
        diffs = []
        for key, want in expected.items():
            if key not in _COMPARABLE:
                raise ValueError(f"check_matches: unknown field {key!r}")
            have = getattr(self, key)
            if have != want:
                diffs.append(_describe_difference(key, have, want))
        if diffs:
            raise ImageError("hibernate image does not match: " + "; ".join(diffs))


_COMPARABLE = {"fingerprint": "firmware fingerprint", "board": "board", "heap": "heap geometry",
               "word_size": "word size", "endianness": "endianness", "ctx_layout": "ctx layout",
               "ctx_size": "ctx size", "ctx_addr": "ctx address"}


def _describe_difference(key: str, have: Any, want: Any) -> str:
    label = _COMPARABLE[key]
    if isinstance(have, HeapGeometry) and isinstance(want, HeapGeometry):
        parts = [f"{f.name} {getattr(have, f.name):#x} vs {getattr(want, f.name):#x}"
                 for f in dataclasses.fields(have) if getattr(have, f.name) != getattr(want, f.name)]
        return f"{label} differs (image vs this firmware: {', '.join(parts)})"
    if key == "fingerprint":
        return f"made by firmware {str(have)[:16]}..., this firmware is {str(want)[:16]}..."
    if isinstance(have, int) and key.startswith("ctx"):
        return f"{label}: image {have:#x}, this firmware {want:#x}"
    return f"{label}: image {have!r}, this firmware {want!r}"


# -- decoding -------------------------------------------------------------------

class _Reader:
    """Bounds-checked cursor: running off the end is an ImageError naming the byte."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ImageError(f"truncated at byte {len(self.data)}: {what} needs bytes "
                             f"{self.pos}..{self.pos + n}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, s: struct.Struct, what: str) -> tuple[Any, ...]:
        return s.unpack(self.take(s.size, what))

    def text(self, length_struct: struct.Struct, what: str) -> str:
        (n,) = self.unpack(length_struct, f"length of {what}")
        raw = self.take(n, what)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise ImageError(f"{what} is not valid UTF-8: {raw[:32]!r}") from None


def decode(data: bytes) -> HibernateImage:
    """Parse and verify an image; any defect is an ``ImageError`` with a one-line reason."""
    data = bytes(data)
    r = _Reader(data)
    magic = data[:len(MAGIC)]
    if magic != MAGIC:
        if MAGIC.startswith(magic):
            raise ImageError(f"truncated at byte {len(data)}: not even a magic number")
        raise ImageError(f"bad magic {magic!r} (expected {MAGIC!r}): not a hibernate image")
    version = int.from_bytes(data[8:10], "little") if len(data) >= 10 else None
    if version is not None and version != FORMAT_VERSION:
        raise ImageError(f"unsupported format version {version} (this mpsim reads version {FORMAT_VERSION})")
    (_, _, _flags, total, sequence, created, fp, word_size, endian, *rest) = r.unpack(_FIXED, "fixed header")
    heap = HeapGeometry(*rest[:9])
    ctx_addr, ctx_size = rest[9:]
    board = r.text(_U16, "board name")
    ctx_layout = r.text(_U16, "ctx layout hash")
    table = _read_section_table(r)
    (stored_crc,) = r.unpack(_U32, "header CRC")
    if zlib.crc32(data[:r.pos - 4]) != stored_crc:
        raise ImageError(f"header CRC mismatch (stored {stored_crc:#010x}, computed "
                         f"{zlib.crc32(data[:r.pos - 4]):#010x})")
    if word_size != 4:
        raise ImageError(f"unsupported word size {word_size} (mpsim emulates 32-bit targets)")
    endianness = {v: k for k, v in _ENDIAN.items()}.get(endian)
    if endianness is None:
        raise ImageError(f"unknown endianness code {endian}")
    if len(data) < total:
        raise ImageError(f"truncated at byte {len(data)}: the header says the image is {total} bytes")
    if len(data) > total:
        raise ImageError(f"{len(data) - total} bytes of trailing garbage after the image end at byte {total}")
    sections = _read_sections(r, table)
    if r.pos != total:
        raise ImageError(f"section lengths add up to byte {r.pos}, the header says the image is {total} bytes")
    return HibernateImage(fingerprint=fp.hex(), board=board, heap=heap, ctx_addr=ctx_addr, ctx_size=ctx_size,
                          ctx_layout=ctx_layout, sections=sections, sequence=sequence, word_size=word_size,
                          endianness=endianness, created_us=created, encoded_size=total)


def _read_section_table(r: _Reader) -> list[tuple[str, int, int]]:
    (count,) = r.unpack(_U16, "section count")
    table, seen = [], set()
    for i in range(count):
        name = r.text(_U8, f"name of section {i}")
        length, crc = r.unpack(_SECTION_FIXED, f"length and CRC of section {name!r}")
        if name in seen:
            raise ImageError(f"section {name!r} appears twice")
        seen.add(name)
        table.append((name, length, crc))
    return table


def _read_sections(r: _Reader, table: list[tuple[str, int, int]]) -> dict[str, bytes]:
    sections = {}
    for name, length, crc in table:
        payload = r.take(length, f"section {name!r}")
        if zlib.crc32(payload) != crc:
            raise ImageError(f"section {name!r} CRC mismatch (stored {crc:#010x}, computed "
                             f"{zlib.crc32(payload):#010x})")
        sections[name] = payload
    return sections


# -- GC pool codec: only the used blocks' bytes ----------------------------------
#
# packed = one byte naming the map encoding, the map, then the used blocks' bytes
# concatenated. The map is whichever is smaller:
#   runs   (0): varint run count, then per run: varint free blocks skipped, varint
#               used blocks (a byte or two per run: small for realistic heaps);
#   bitmap (1): varint block count, then one bit per block, LSB first (bounds the
#               overhead at blocks/8 bytes however fragmented the heap is).

_RUNS, _BITMAP = 0, 1


def pack_used_blocks(pool: bytes, block_size: int, used: Sequence[bool]) -> bytes:
    if block_size <= 0 or len(pool) != len(used) * block_size:
        raise ValueError(f"pool of {len(pool)} bytes is not {len(used)} blocks of {block_size}")
    runs = _runs(used)
    table = _run_table(runs)
    if len(table) > 1 + len(_varint(len(used))) + (len(used) + 7) // 8:   # a bitmap is smaller
        table = _bitmap_table(used)
    return b"".join([table, *(pool[start * block_size:(start + count) * block_size] for start, count in runs)])


def unpack_used_blocks(packed: bytes, pool_len: int, block_size: int, fill: int = 0) -> bytes:
    """Rebuild the pool: used blocks from ``packed``, every other byte ``fill``."""
    if block_size <= 0 or pool_len % block_size:
        raise ValueError(f"pool of {pool_len} bytes is not whole blocks of {block_size}")
    if not packed:
        raise ImageError("heap data is empty (not even its map encoding)")
    if packed[0] == _RUNS:
        runs, pos = _read_run_table(packed, 1)
    elif packed[0] == _BITMAP:
        runs, pos = _read_bitmap(packed, 1)
    else:
        raise ImageError(f"heap data: unknown map encoding {packed[0]}")
    pool = bytearray([fill]) * pool_len
    for start, count in runs:
        begin, end = start * block_size, (start + count) * block_size
        if end > pool_len:
            raise ImageError(f"heap runs reach byte {end} of a {pool_len}-byte pool")
        if pos + end - begin > len(packed):
            raise ImageError(f"heap data truncated: {len(packed)} bytes, runs need {pos + end - begin}")
        pool[begin:end] = packed[pos:pos + end - begin]
        pos += end - begin
    if pos != len(packed):
        raise ImageError(f"heap data has {len(packed) - pos} bytes beyond its runs")
    return bytes(pool)


def _runs(used: Sequence[bool]) -> list[tuple[int, int]]:
    """(first block, block count) of each run of used blocks."""
    flags = bytes(1 if u else 0 for u in used) if not isinstance(used, (bytes, bytearray)) else used
    return [(m.start(), m.end() - m.start()) for m in re.finditer(rb"[^\x00]+", flags)]


def _run_table(runs: list[tuple[int, int]]) -> bytes:
    out, end = [bytes([_RUNS]), _varint(len(runs))], 0
    for start, count in runs:
        out += [_varint(start - end), _varint(count)]
        end = start + count
    return b"".join(out)


def _bitmap_table(used: Sequence[bool]) -> bytes:
    bits = bytearray((len(used) + 7) // 8)
    for i, u in enumerate(used):
        if u:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes([_BITMAP]) + _varint(len(used)) + bytes(bits)


def _read_run_table(data: bytes, pos: int) -> tuple[list[tuple[int, int]], int]:
    n_runs, pos = _read_varint(data, pos)
    runs, end = [], 0
    for _ in range(n_runs):
        skip, pos = _read_varint(data, pos)
        count, pos = _read_varint(data, pos)
        runs.append((end + skip, count))
        end += skip + count
    return runs, pos


def _read_bitmap(data: bytes, pos: int) -> tuple[list[tuple[int, int]], int]:
    n, pos = _read_varint(data, pos)
    nbytes = (n + 7) // 8
    if pos + nbytes > len(data):
        raise ImageError(f"heap block map truncated: {n} blocks need {nbytes} bytes at byte {pos}")
    bits = data[pos:pos + nbytes]
    return _runs([bool(bits[i >> 3] >> (i & 7) & 1) for i in range(n)]), pos + nbytes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ImageError(f"heap run table truncated at byte {pos}")
        if shift > 63:
            raise ImageError(f"heap run table: varint too long at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos

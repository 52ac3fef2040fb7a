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
whose message is one line naming what is wrong. ``check_consistent`` checks that the sections agree
with the header (a CRC only proves the bytes are the ones written, not that
they make sense): the heap geometry is consistent (tables before the pool, the
alloc table covering every block), ``ctx`` is exactly ``ctx_size`` bytes, the
GC tables inflate to exactly their geometry's lengths (never more: a crafted
table once inflated to 1 GiB), the pool's block map stays inside the pool, and
each peripheral state is a JSON object. ``check_usable`` adds what needs the
running machine: the heap inside the board's RAM, and each peripheral state of
the very shape the machine's own state has, before any ``load_state``. ``check_matches`` refuses an
image made for another firmware, board, heap geometry, word size or ctx layout,
naming each difference with both values. Nothing here knows about flash, slots
or the interpreter: sections are opaque bytes; the codecs at the bottom pack the
GC pool's used blocks (so an image is about the size of the live data) and
peripheral states (``periph.<name>``, JSON).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import ImageError, SimError
from .mpy.geometry import HeapGeometry

MAGIC = b"MPSHIB1\0"
FORMAT_VERSION = 2          # 2: peripheral states and GC tables zlib-compressed
PERIPHERAL_PREFIX = "periph."


class ImageKind(enum.IntEnum):
    """What an image holds, stored in the fixed header's flags field.

    PROMPT: the interpreter at its REPL prompt (heap + mp_state_ctx), resumed into
    a fresh boot (sim.hibernate). RUN_STATE: the whole live machine at an instruction
    boundary (CPU, used C stack, statics, used heap, devices), resumed mid-program
    (sim.runstate); its stack holds untyped words, so only the same firmware and
    heap geometry can take it."""
    PROMPT = 0
    RUN_STATE = 1

    @property
    def label(self) -> str:
        return {ImageKind.PROMPT: "prompt", ImageKind.RUN_STATE: "run-state"}[self]


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
    kind: ImageKind = ImageKind.PROMPT

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
        return _FIXED.pack(MAGIC, FORMAT_VERSION, int(self.kind), total, self.sequence, self.created_us, fp,
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
                raw = payload if payload[:1] == b"{" else _inflate(payload, key, None, MAX_PERIPHERAL_JSON)
                try:
                    out[name] = json.loads(raw)
                except (ValueError, UnicodeDecodeError, RecursionError) as e:
                    raise ImageError(f"section {key!r} is not valid JSON: {str(e)[:80]}") from None
                if not isinstance(out[name], dict):
                    raise ImageError(f"section {key!r} is not a JSON object")
        return out

    def set_table(self, name: str, data: bytes) -> None:
        self.sections[name] = zlib.compress(data, 9)

    def table(self, name: str) -> bytes | None:
        """A compressed section (the GC tables), inflated; None if absent. It must
        inflate to exactly the length the heap geometry gives it: inflating stops
        one byte past that, whatever the section claims."""
        if name not in self.sections:
            return None
        want = {SECTION_ATB: self.heap.atb_len, SECTION_FTB: self.heap.ftb_len}.get(name)
        return _inflate(self.sections[name], name, want)

    def section(self, name: str) -> bytes:
        try:
            return self.sections[name]
        except KeyError:
            raise ImageError(f"image has no section {name!r} (has: {', '.join(self.sections) or 'none'})") from None

    # -- consistency ---------------------------------------------------------------
    def check_consistent(self) -> None:
        """What the sections must be for the header that describes them (see the
        module doc); ``check_usable`` runs it before an image is resumed."""
        check_heap_geometry(self.heap)
        ctx = self.sections.get(SECTION_CTX)
        if ctx is not None and len(ctx) != self.ctx_size:
            raise ImageError(f"section 'ctx' is {len(ctx)} bytes, the header says mp_state_ctx is {self.ctx_size}")
        if ctx is not None:
            _check_geometry_in_ctx(self.heap, ctx)
        self.table(SECTION_ATB)
        if self.heap.ftb_len:
            self.table(SECTION_FTB)
        elif SECTION_FTB in self.sections:
            raise ImageError("section 'heap.ftb' present but the heap geometry has no finaliser table")
        pool = self.sections.get(SECTION_POOL)
        if pool is not None:
            check_used_blocks(pool, self.heap.pool_end - self.heap.pool_start, self.heap.block_size)
        self.peripheral_states()

    def check_usable(self, board, peripherals: dict[str, Any]) -> None:
        """Refuse, before the machine is touched, an image whose heap is not inside
        ``board``'s writable RAM or whose peripheral states the running machine's
        ``peripherals`` cannot take: not shaped like their own ``state()`` (the same
        keys and kinds of value, recursively), or refused by their ``check_state``
        (values out of range). Peripherals the machine lacks are refused too. Runs
        ``check_consistent`` first."""
        self.check_consistent()
        check_heap_inside(self.heap, board)
        for name, state in self.peripheral_states().items():
            where = f"section 'periph.{name}'"
            if name not in peripherals:
                raise ImageError(f"{where}: board {board.name} has no peripheral {name!r}")
            check_shape(state, peripherals[name].state(), where)
            try:
                peripherals[name].check_state(state)
            except ValueError as e:
                raise ImageError(f"{where}: {e}") from None

    def check_saveable(self, board) -> None:
        """Before a save reads the heap the interpreter describes: a geometry that is not
        a heap inside RAM means mp_state_ctx is corrupt (a guest can write anything
        there), and nothing may be written."""
        try:
            check_heap_geometry(self.heap)
            check_heap_inside(self.heap, board)
        except ImageError as e:
            raise SimError(f"cannot hibernate: mp_state_ctx describes no valid GC heap ({e}); the interpreter's "
                           f"state is corrupt, nothing was written (the saved images are kept)") from None

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
    (_, _, flags, total, sequence, created, fp, word_size, endian, *rest) = r.unpack(_FIXED, "fixed header")
    heap = HeapGeometry(*rest[:9])
    ctx_addr, ctx_size = rest[9:]
    board = r.text(_U16, "board name")
    ctx_layout = r.text(_U16, "ctx layout hash")
    table = _read_section_table(r)
    (stored_crc,) = r.unpack(_U32, "header CRC")
    if zlib.crc32(data[:r.pos - 4]) != stored_crc:
        raise ImageError(f"header CRC mismatch (stored {stored_crc:#010x}, computed "
                         f"{zlib.crc32(data[:r.pos - 4]):#010x})")
    try:
        kind = ImageKind(flags)
    except ValueError:
        raise ImageError(f"unknown image kind {flags} (this mpsim knows: "
                         f"{', '.join(f'{k.value} {k.label}' for k in ImageKind)})") from None
    if word_size not in (4, 8):
        raise ImageError(f"unsupported word size {word_size} (mpsim emulates 32- and 64-bit targets)")
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
    image = HibernateImage(fingerprint=fp.hex(), board=board, heap=heap, ctx_addr=ctx_addr, ctx_size=ctx_size,
                           ctx_layout=ctx_layout, sections=sections, sequence=sequence, word_size=word_size,
                           endianness=endianness, created_us=created, encoded_size=total, kind=kind)
    return image


# -- what the sections must be ------------------------------------------------------

MAX_PERIPHERAL_JSON = 1 << 20           # a peripheral's state is a few hundred bytes of JSON
_BLOCKS_PER_ATB = 4                     # py/gc.c: 2 bits per block in the alloc table


def _inflate(packed: bytes, name: str, want: int | None, cap: int | None = None) -> bytes:
    """zlib-inflate ``packed``: exactly ``want`` bytes when given, else at most ``cap``;
    never more than one byte past the limit is produced, whatever the data says."""
    limit = want if want is not None else cap
    d = zlib.decompressobj()
    try:
        out = d.decompress(packed, limit + 1) if limit is not None else d.decompress(packed)
    except zlib.error:
        raise ImageError(f"image section {name!r} does not decompress") from None
    if limit is not None and len(out) > limit:
        raise ImageError(f"image section {name!r} inflates to more than "
                         f"{'its geometry allows' if want is not None else 'a section can be'} ({limit} bytes)")
    if not d.eof or d.unused_data:
        raise ImageError(f"image section {name!r} does not decompress (truncated or trailing bytes)")
    if want is not None and len(out) != want:
        raise ImageError(f"image section {name!r} inflates to {len(out)} bytes, the heap geometry says {want}")
    return out


def check_heap_geometry(h) -> None:
    """A heap laid out as py/gc.c lays one out: [alloc table | finaliser table | pool]
    inside [heap_start, heap_end), blocks a power of two, the alloc table covering
    every block of the pool, all of it in the 32-bit space."""
    bs = h.block_size
    if not (4 <= bs <= 4096 and bs & (bs - 1) == 0):
        raise ImageError(f"heap geometry: block size {bs} is not a power of two in 4..4096")
    order = [("heap start", h.heap_start), ("alloc table", h.atb_start), ("its end", h.atb_start + h.atb_len)]
    if h.ftb_len:
        order += [("finaliser table", h.ftb_start), ("its end", h.ftb_start + h.ftb_len)]
    order += [("pool start", h.pool_start), ("pool end", h.pool_end), ("heap end", h.heap_end),
              ("the 32-bit space's end", 1 << 32)]
    for (a, x), (b, y) in zip(order, order[1:]):
        if x > y:
            raise ImageError(f"heap geometry: {a} {x:#x} lies beyond {b} {y:#x}")
    pool = h.pool_end - h.pool_start
    if pool % bs or pool // bs > h.atb_len * _BLOCKS_PER_ATB:
        raise ImageError(f"heap geometry: a {pool:#x}-byte pool is not whole {bs}-byte blocks that its "
                         f"{h.atb_len}-byte alloc table covers")
    if h.ftb_len and h.ftb_len * 8 < pool // bs:
        raise ImageError(f"heap geometry: the {h.ftb_len}-byte finaliser table does not cover {pool // bs} blocks")


def _check_geometry_in_ctx(h, ctx: bytes) -> None:
    """The header's heap geometry is the one the interpreter's own state holds: every
    MicroPython keeps the alloc table's start and length and the pool's bounds as
    words of mp_state_ctx (``mem``, or ``mem.area`` since 1.19). A header that claims
    another heap would make resume relocate pointers that were never there."""
    words = set(struct.unpack(f"<{len(ctx) // 4}I", ctx[:len(ctx) // 4 * 4]))
    for what, value in (("alloc table start", h.atb_start), ("alloc table length", h.atb_len),
                        ("pool start", h.pool_start), ("pool end", h.pool_end)):
        if value not in words:
            raise ImageError(f"heap geometry: {what} {value:#x} is not in the image's mp_state_ctx")


def check_heap_inside(h, board) -> None:
    """The heap lies in one writable RAM region of ``board`` (not ROM, flash or a device)."""
    for r in board.memory:
        target = board.region(r.alias) if r.alias else r
        if r.base <= h.heap_start and h.heap_end <= r.end and not getattr(target, "rom", False):
            return
    raise ImageError(f"heap {h.heap_start:#x}..{h.heap_end:#x} is not inside the RAM of board {board.name}")


def check_used_blocks(packed: bytes, pool_len: int, block_size: int) -> None:
    """The pool section's block map stays inside the pool and its data is exactly the
    used blocks' bytes (``unpack_used_blocks`` without building the pool)."""
    if not packed:
        raise ImageError("heap data is empty (not even its map encoding)")
    blocks = pool_len // block_size
    if packed[0] == _RUNS:
        runs, pos = _read_run_table(packed, 1, blocks)
    elif packed[0] == _BITMAP:
        runs, pos = _read_bitmap(packed, 1, blocks)
    else:
        raise ImageError(f"heap data: unknown map encoding {packed[0]}")
    used = 0
    for start, count in runs:
        if start + count > blocks:
            raise ImageError(f"heap runs reach block {start + count} of a {blocks}-block pool")
        used += count
    if pos + used * block_size != len(packed):
        raise ImageError(f"heap data is {len(packed) - pos} bytes, its block map says {used * block_size}")


def check_shape(value: Any, like: Any, where: str) -> None:
    """``value`` has the shape of ``like``: a dict with the same keys (an empty dict
    in ``like``: any str keys), a list of at most 4096 items shaped like ``like``'s
    (its length is the owner's to check: some vary), an int (never a bool for an int, nor the
    reverse) in the 64-bit range, a str, a float, None."""
    if isinstance(like, dict):
        if not isinstance(value, dict):
            raise ImageError(f"{where}: expected an object, found {type(value).__name__}")
        like = {str(k): v for k, v in like.items()}         # JSON keys are strings
        if like and set(value) != set(like):
            extra, missing = sorted(set(value) - set(like)), sorted(set(like) - set(value))
            raise ImageError(f"{where}: " + (f"missing {missing[0]!r}" if missing else f"unknown key {extra[0]!r}"))
        for k, v in value.items():
            check_shape(v, like[k] if like else 0, f"{where}.{k}")
    elif isinstance(like, list):
        if not isinstance(value, list):
            raise ImageError(f"{where}: expected a list, found {type(value).__name__}")
        if len(value) > 4096:
            raise ImageError(f"{where}: {len(value)} items is too many")
        for i, v in enumerate(value):             # lengths may vary (NVIC's active list): check_state's
            check_shape(v, like[min(i, len(like) - 1)] if like else 0, f"{where}[{i}]")
    elif isinstance(like, bool) or isinstance(value, bool):
        if type(value) is not type(like):
            raise ImageError(f"{where}: expected {type(like).__name__}, found {type(value).__name__}")
    elif isinstance(like, int):
        if not isinstance(value, int) or not -(1 << 63) <= value < 1 << 64:
            raise ImageError(f"{where}: expected an integer, found {value!r:.40}")
    elif like is None:
        if value is not None and not isinstance(value, (int, float, str)):
            raise ImageError(f"{where}: expected a plain value, found {type(value).__name__}")
    elif type(value) is not type(like):
        raise ImageError(f"{where}: expected {type(like).__name__}, found {type(value).__name__}")


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


def _read_run_table(data: bytes, pos: int, max_blocks: int | None = None) -> tuple[list[tuple[int, int]], int]:
    n_runs, pos = _read_varint(data, pos)
    if n_runs > len(data):                 # each run takes at least two bytes
        raise ImageError(f"heap run table: {n_runs} runs in {len(data)} bytes")
    runs, end = [], 0
    for _ in range(n_runs):
        skip, pos = _read_varint(data, pos)
        count, pos = _read_varint(data, pos)
        runs.append((end + skip, count))
        end += skip + count
    return runs, pos


def _read_bitmap(data: bytes, pos: int, max_blocks: int | None = None) -> tuple[list[tuple[int, int]], int]:
    n, pos = _read_varint(data, pos)
    if max_blocks is not None and n > max_blocks:
        raise ImageError(f"heap block map of {n} blocks for a {max_blocks}-block pool")
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

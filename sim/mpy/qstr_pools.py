"""qstr pools per MicroPython generation: the layout as data, the hash, and a reader.

A qstr is an index into a chain of pools, newest first (MP_STATE_VM(last_pool)); a
pool holds qstrs total_prev_len .. total_prev_len + len - 1 (py/qstr.c, qstr.h).
Two layouts, told apart by version (and confirmed by DWARF, ``check_fields``):

- "prefixed", 1.9-1.18: ``qstr_pool_t {prev, total_prev_len, alloc, len, qstrs[]}``;
  ``qstrs[i]`` points at [hash: BYTES_IN_HASH, LE][length: BYTES_IN_LEN, LE][text][NUL].
  Runtime qstrs are packed into chunks (``qstr_last_chunk``); the entries point
  into them.
- "split", 1.19+: ``qstr_pool_t {prev, total_prev_len, alloc, len, hashes, lengths,
  qstrs[]}``; ``qstrs[i]`` points at the NUL-terminated text; ``hashes[i]``
  (``qstr_hash_t``) and ``lengths[i]`` (``qstr_len_t``) are parallel arrays.  A pool
  qstr_add() allocates carries both arrays in its own block, right after
  ``qstrs[alloc]`` (hashes, then lengths): two pointers into its own block.
  From 1.22 ``total_prev_len`` is a bit-field sharing its word with ``is_sorted``
  (the top bit); the ROM has two pools, the static qstrs (unsorted) and the port's
  (sorted, searched by bisection); heap pools are unsorted.  From 1.23 a firmware
  with MICROPY_QSTR_BYTES_IN_HASH 0 has no ``hashes`` at all and hashes on demand.
  (1.21 is not checked: no source of it here; the layout by version assumes 1.22's.)

The hash is djb2 (hash * 33 ^ byte from 5381), masked to BYTES_IN_HASH bytes
(16 bits when there is no stored hash), and never 0 (0 means "not computed").
BYTES_IN_HASH is sizeof(qstr_hash_t) in DWARF from 1.19; before, ``prefix_widths``
finds it from a ROM entry whose text is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sim.errors import FirmwareError


@dataclass(frozen=True)
class PoolLayout:
    name: str
    versions: str
    entry: str                          # "prefixed" or "split"
    fields: tuple[str, ...]             # qstr_pool_t members in order, as DWARF names them
    sorted_bit: bool = False            # total_prev_len's top bit is is_sorted
    optional: tuple[str, ...] = ()      # members a build may leave out

    def check_fields(self, members: dict[str, int]) -> None:
        """Refuse, naming it, a qstr_pool_t whose members (name -> offset, from DWARF)
        are not this layout's."""
        for f in self.fields:
            if f not in members and f not in self.optional:
                raise FirmwareError(f"qstr_pool_t has no field {f!r} (expected the {self.name} layout)")
        extra = set(members) - set(self.fields) - {"is_sorted"}
        if extra:
            raise FirmwareError(f"qstr_pool_t has unexpected field {sorted(extra)[0]!r} for the {self.name} layout")


PREFIXED = PoolLayout("prefixed", "1.9-1.18", "prefixed", ("prev", "total_prev_len", "alloc", "len", "qstrs"))
SPLIT = PoolLayout("split", "1.19-1.20", "split",
                   ("prev", "total_prev_len", "alloc", "len", "hashes", "lengths", "qstrs"))
SPLIT_SORTED = PoolLayout("split, sorted bit", "1.22", "split", SPLIT.fields, sorted_bit=True)
SPLIT_SORTED_HASHLESS = PoolLayout("split, sorted bit, optional hashes", "1.23+", "split", SPLIT.fields,
                                   sorted_bit=True, optional=("hashes",))


def layout_for(version: tuple[int, ...]) -> PoolLayout:
    major, minor = version[0], version[1]
    if (major, minor) < (1, 9):
        raise FirmwareError(f"MicroPython {'.'.join(map(str, version))} is older than 1.9, the oldest mpsim knows")
    if major > 1 or minor >= 23:
        return SPLIT_SORTED_HASHLESS
    if minor >= 21:                     # is_sorted: in 1.22 (1.21 not checked: no source of it here)
        return SPLIT_SORTED
    return SPLIT if minor >= 19 else PREFIXED


def compute_hash(data: bytes, bytes_in_hash: int) -> int:
    """qstr_compute_hash: also the hash of str/bytes objects (mp_obj_str_t.hash)."""
    h = 5381
    for b in data:
        h = ((h * 33) ^ b) & 0xFFFFFFFF
    h &= 0xFF if bytes_in_hash == 1 else 0xFFFF
    return h or 1


def prefix_widths(entry: bytes, text: bytes) -> tuple[int, int]:
    """(BYTES_IN_HASH, BYTES_IN_LEN) of a prefixed-layout entry known to hold ``text``."""
    for nh in (2, 1):
        for nl in (1, 2):
            if entry[nh + nl:nh + nl + len(text) + 1] == text + b"\0" \
                    and int.from_bytes(entry[nh:nh + nl], "little") == len(text) \
                    and int.from_bytes(entry[:nh], "little") == compute_hash(text, nh):
                return nh, nl
    raise FirmwareError(f"qstr entry for {text!r} matches no hash/length width")


@dataclass
class Pool:
    addr: int
    prev: int
    total_prev_len: int
    is_sorted: bool
    alloc: int
    len: int
    hashes: int | None                  # split layout: address of hashes[] (None: no hashes)
    lengths: int | None                 # split layout: address of lengths[]
    qstrs: int                          # address of qstrs[0]


class QstrPools:
    """Reads qstrs of a running (or saved) interpreter through its pool chain.

    ``read(addr, n)`` reads target memory; ``offsets`` maps qstr_pool_t members to
    their offsets (DWARF); the widths are BYTES_IN_HASH (0 in a hash-less 1.23 build)
    and BYTES_IN_LEN; ``word`` is sizeof(void *)."""

    def __init__(self, layout: PoolLayout, read: Callable[[int, int], bytes], offsets: dict[str, int],
                 bytes_in_hash: int, bytes_in_len: int = 1, word: int = 4):
        layout.check_fields(offsets)
        self.layout, self._read, self.off = layout, read, offsets
        self.nh, self.nl, self.word = bytes_in_hash, bytes_in_len, word

    def _int(self, addr: int, n: int) -> int:
        return int.from_bytes(self._read(addr, n), "little")

    @classmethod
    def for_firmware(cls, fw, version: tuple[int, ...], read: Callable[[int, int], bytes]) -> "QstrPools":
        """A reader for ``fw`` (sim.firmware.Firmware): the layout by version, checked
        against DWARF's qstr_pool_t; widths from DWARF's qstr_hash_t/qstr_len_t (split),
        or from the ROM entry of qstr 1, the empty string (prefixed)."""
        layout = layout_for(version)
        offsets = {k: o for k, (o, _) in fw.struct("qstr_pool_t").fields.items()}
        if layout.entry == "split":
            nh = fw.struct("qstr_hash_t").size if "hashes" in offsets else 0
            return cls(layout, read, offsets, nh, fw.struct("qstr_len_t").size, fw.word_size)
        probe = cls(layout, read, offsets, 2, word=fw.word_size)
        rom = probe.pool(fw.symbol("mp_qstr_const_pool").addr)
        while rom.prev:
            rom = probe.pool(rom.prev)
        nh, nl = prefix_widths(read(probe.entry(rom, 1), 8), b"")
        return cls(layout, read, offsets, nh, nl, fw.word_size)

    def pool(self, addr: int) -> Pool:
        w, o = self.word, self.off
        is_sorted = False
        if self.layout.sorted_bit:
            # a bit-field pair: the word before ``alloc`` (DWARF readers disagree on where
            # a bit-field member starts; the word it lives in is not in doubt)
            tpl = self._int(addr + o["alloc"] - w, w)
            is_sorted, tpl = bool(tpl >> (8 * w - 1)), tpl & ((1 << (8 * w - 1)) - 1)
        else:
            tpl = self._int(addr + o["total_prev_len"], w)
        split = self.layout.entry == "split"
        return Pool(addr, self._int(addr + o["prev"], w), tpl, is_sorted, self._int(addr + o["alloc"], w),
                    self._int(addr + o["len"], w),
                    self._int(addr + o["hashes"], w) if split and "hashes" in o else None,
                    self._int(addr + o["lengths"], w) if split else None, addr + o["qstrs"])

    def chain(self, last_pool: int, limit: int = 64) -> list[Pool]:
        """The pools from ``last_pool`` back to the ROM pool, newest first."""
        out, a = [], last_pool
        while a:
            if len(out) >= limit:
                raise FirmwareError(f"qstr pool chain from {last_pool:#x} longer than {limit} pools")
            out.append(self.pool(a))
            a = out[-1].prev
        return out

    def locate(self, pools: list[Pool], q: int) -> tuple[Pool, int]:
        for p in pools:
            if q >= p.total_prev_len:
                if q - p.total_prev_len >= p.len:
                    break
                return p, q - p.total_prev_len
        raise FirmwareError(f"qstr {q} is in no qstr pool")

    def entry(self, pool: Pool, i: int) -> int:
        """What qstrs[i] points at: the prefixed entry, or the text (split)."""
        return self._int(pool.qstrs + self.word * i, self.word)

    def length(self, pool: Pool, i: int) -> int:
        if self.layout.entry == "split":
            return self._int(pool.lengths + self.nl * i, self.nl)
        return self._int(self.entry(pool, i) + self.nh, self.nl)

    def text(self, pool: Pool, i: int) -> bytes:
        n = self.length(pool, i)
        e = self.entry(pool, i)
        return self._read(e if self.layout.entry == "split" else e + self.nh + self.nl, n)

    def stored_hash(self, pool: Pool, i: int) -> int:
        """The hash as the firmware keeps it (computed on demand in a hash-less build)."""
        if self.layout.entry == "prefixed":
            return self._int(self.entry(pool, i), self.nh)
        if pool.hashes is None:
            return compute_hash(self.text(pool, i), 0)
        return self._int(pool.hashes + self.nh * i, self.nh)

    def pointer_slots(self, pool: Pool) -> list[tuple[int, str]]:
        """Where a heap pool's block holds pointers, and to what: "pool" (prev),
        "chunk" (into qstr text chunks), "self" (hashes/lengths: into this very block)."""
        o = self.off
        out = [(pool.addr + o["prev"], "pool")]
        if self.layout.entry == "split":
            out += [(pool.addr + o[f], "self") for f in ("hashes", "lengths") if f in o]
        out += [(pool.qstrs + self.word * i, "chunk") for i in range(pool.len)]
        return out

    def heap_pool_size(self, alloc: int) -> int:
        """Bytes qstr_add() asks for a pool of ``alloc`` entries."""
        fixed = self.off["qstrs"]
        per = self.word + (self.nh + self.nl if self.layout.entry == "split" else 0)
        return fixed + per * alloc

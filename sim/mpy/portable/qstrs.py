"""Qstr lookups the portable loader needs, through the pool chain of a *running*
firmware (its ROM pool and heap pools), with widths from DWARF.

The walker and relocator read pools through sim.mpy.qstr_pools (layouts per version
as data); this small reader is the migration's own, written against DWARF field
names only. (Left as a second reader for now: folding it into qstr_pools is open.)
"""

from __future__ import annotations

from ...errors import SimError
from ..objects import Layout


class QstrPools:
    """Find a qstr's hash and text through the pool chain (ROM pool and heap pools)."""

    def __init__(self, layout: Layout):
        self.L = layout
        self.split = layout.has("qstr_pool_t.lengths")        # 1.19+
        self.has_hash = layout.has("qstr_pool_t.hashes")      # absent with MICROPY_QSTR_BYTES_IN_HASH 0
        self.len_size, self.hash_size = 1, 2                   # 1.9-1.18 entries: 2 bytes hash, 1 length
        if self.split:
            self.len_size = self._target_size("lengths", 1)
            self.hash_size = self._target_size("hashes", 2) if self.has_hash else 0

    @property
    def hash_bits(self) -> int:
        return 8 * self.hash_size

    def _target_size(self, fld: str, default: int) -> int:
        target = self.L.field(f"qstr_pool_t.{fld}").target
        try:
            return self.L.size(target) if target else default
        except SimError:
            return default

    def pool_of(self, q: int, last_pool: int, w, read) -> tuple[int, int] | None:
        """(pool address, index in it) of qstr ``q``."""
        pool = last_pool
        for _ in range(256):
            if pool == 0:
                return None
            prev_len = self.L.read_uint("qstr_pool_t.total_prev_len", pool, read)
            n = w(pool + self.L.off("qstr_pool_t.len"))
            if prev_len <= q < prev_len + n:
                return pool, q - prev_len
            pool = w(pool + self.L.off("qstr_pool_t.prev"))
        return None

    def entry(self, q: int, last_pool: int, w, read) -> tuple[int, bytes] | None:
        """(hash, text) of qstr ``q``."""
        found = self.pool_of(q, last_pool, w, read)
        if found is None:
            return None
        pool, i = found
        p = w(pool + self.L.off("qstr_pool_t.qstrs") + 4 * i)
        if not self.split:
            head = read(p, 3)
            return head[0] | head[1] << 8, read(p + 3, head[2])
        n = int.from_bytes(read(w(pool + self.L.off("qstr_pool_t.lengths")) + self.len_size * i, self.len_size),
                           "little")
        h = 0
        if self.has_hash:
            h = int.from_bytes(read(w(pool + self.L.off("qstr_pool_t.hashes")) + self.hash_size * i,
                                    self.hash_size), "little")
        return h, read(p, n)

    def entry_bytes(self, alloc: int) -> int:
        """Bytes a heap pool of ``alloc`` entries takes after its fixed fields."""
        return alloc * (4 + self.hash_size + self.len_size) if self.split else 4 * alloc

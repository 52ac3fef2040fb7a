"""Move a saved MicroPython heap to another address and/or size, exactly.

Given a heap (alloc table, pool, ``mp_state_ctx``) and a new heap region, this:

1. walks the heap precisely (sim.mpy.walk) and refuses, listing what it could not
   classify, unless every reachable block is understood;
2. lays the new heap out exactly as the firmware's ``gc_init(start, end)`` does;
3. copies the live blocks into the new pool at the same pool offsets when they fit, else
   compacted in address order (garbage is dropped either way, as the next ``gc.collect``
   would drop it), and refuses with the numbers when the live data does not fit;
4. rewrites exactly the words the walk found to be pointers (object fields, buffer
   pointers, interior pointers such as a generator's ip/sp, pointers in the ctx's vm
   part) - raw data such as a bytearray holding 0x20010440 is never touched;
5. rebuilds the alloc table (and finaliser bits, if the firmware has them) and sets
   the ctx's GC fields for the new geometry;
6. rebuilds every dict/set table in which a key's probe sequence now starts elsewhere
   (objects without ``__hash__`` hash by address; tuples and frozensets containing them
   too): each live entry goes to the first empty slot of its probe sequence, exactly as
   ``mp_map_lookup``/``mp_set_lookup`` (py/map.c) will look for it. Tables whose keys
   all hash the same as before stay byte for byte. A key whose hash the host cannot
   compute (an instance of a class defining ``__hash__``/``__eq__``) refuses.

The result is the bytes a controller writes instead of a same-address restore.

How the hibernate controller uses it (tests/relocate/test_resume_relocated.py does
exactly this): write the new heap bounds into ``mpsim_boot_params`` after reset, run to
the restore point, read this boot's geometry, then::

    rel = relocate_image(firmware, image, geo.start, geo.end)   # RelocationError: refuse
    assert rel.geometry == <this boot's HeapGeometry>
    write rel.ctx's vm and mem parts (thread stays from this boot)
    call gc_init(geo.start, geo.end)
    write rel.atb at geo.alloc_table_start (rel.ftb at the finaliser table, if any)
    write rel.pool at geo.pool_start

``relocate(firmware, ctx_addr, ctx, pool_start, atb, pool, new_start, new_end)`` is the
same on raw bytes (e.g. a RAM dump).
"""

from __future__ import annotations

import bisect
import struct
import time
from dataclasses import dataclass

from ..errors import SimError
from ..firmware import Firmware
from . import profiles
from .geometry import BLOCKS_PER_ATB, HeapGeometry, gc_layout
from .qstr_pools import QstrPools, compute_hash
from .walk import OBJ, TAGPTR, HeapWalk, Walker
from .words import Word

# MP_OBJ_NULL is 0; the deleted-entry sentinel MP_OBJ_SENTINEL is 4 in NDEBUG builds and 8
# otherwise (py/obj.h). Neither can be an object (the vector table is there), so both read
# as "no key"; the rebuild below writes only keys and zeros.
MP_OBJ_SENTINEL_VALUES = (4, 8)
EMPTY_KEYS = (0, *MP_OBJ_SENTINEL_VALUES)


def layout_holds(slots: list[bool], homes: list[tuple[int, int]], alloc: int) -> bool:
    """Whether a hash table needs no rebuild: every key at ``pos`` is reached from its
    home slot ``hash % alloc`` through used slots only (py/map.c probes linearly and
    stops at the first never-used one; a deleted entry does not stop it).
    ``slots[i]`` says slot i was ever used; ``homes`` lists (pos, hash) per key.

    Kept as it is, a table keeps its iteration order, and a dict or set iterator
    stopped part-way (a ``cur`` index into the table) goes on exactly where it was:
    rebuilding in slot order moves a key that wrapped round the end, so an iterator
    saw it twice or never."""
    for pos, h in homes:
        q = h % alloc
        while q != pos:
            if not slots[q]:
                return False
            q = (q + 1) % alloc
    return True


class RelocationError(SimError):
    pass


@dataclass
class Relocation:
    geometry: HeapGeometry
    ctx: bytes              # the whole mp_state_ctx; write its vm and mem parts
    atb: bytes
    ftb: bytes              # b"" when the firmware has no finaliser table
    pool: bytes             # the whole new pool (pool_start .. pool_end)
    moved: dict[int, int]   # old block address -> new
    live_bytes: int
    dropped_garbage_bytes: int
    rehashed_tables: int
    walk: HeapWalk
    compacted: bool = False  # blocks moved closer together (the old offsets did not fit)
    walk_s: float = 0.0
    relocate_s: float = 0.0

    @property
    def heap(self) -> bytes:
        """Everything from heap_start to pool_end (tables then pool), to write in one go."""
        g = self.geometry
        gap = g.pool_start - (g.atb_start + g.atb_len + g.ftb_len)
        return self.atb + self.ftb + bytes(gap) + self.pool


def relocate(firmware: Firmware, ctx_addr: int, ctx: bytes, pool_start: int, atb: bytes, pool: bytes,
             new_start: int, new_end: int, ftb: bytes | None = None) -> Relocation:
    """Relocate the heap described by (ctx, atb, pool at pool_start) into [new_start, new_end)."""
    t0 = time.perf_counter()
    profile = profiles.for_firmware(firmware)
    if not profile.walker:
        raise RelocationError(f"cannot relocate: the precise heap walk does not know MicroPython "
                              f"{profile.versions} objects yet (resume at the same heap address works)")
    walker = Walker(firmware, ctx_addr, ctx, pool_start, atb, pool)
    walk = walker.run()
    t1 = time.perf_counter()
    if walk.problems:
        raise RelocationError(f"cannot relocate: {len(walk.problems)} heap block(s) not understood exactly; "
                              + "; ".join(str(p) for p in walk.problems[:5])
                              + (" ..." if len(walk.problems) > 5 else ""))
    ctx_t = firmware.variable_type("mp_state_ctx")
    area_off, area_t = ctx_t.offset_of(profile.gc_area)
    has_ftb = "gc_finaliser_table_start" in area_t.fields
    block = walker.block
    geo = gc_layout(new_start, new_end, finaliser=has_ftb, block_size=block, atb_gap=profile.atb_gap)
    n_new = geo.atb_len * BLOCKS_PER_ATB
    live = sorted(walk.blocks)
    need = sum(walk.blocks[a].size for a in live) // block
    if need > n_new:
        raise RelocationError(
            f"live data does not fit the new heap: {need} blocks ({need * block} bytes) live, "
            f"the heap {new_start:#x}..{new_end:#x} ({new_end - new_start} bytes) has a pool of {n_new} blocks "
            f"({n_new * block} bytes)")
    # new addresses: the same offsets in the pool when they fit (so A -> B -> A gives back
    # the same bytes), else compacted in address order
    span = (live[-1] + walk.blocks[live[-1]].size - pool_start) if live else 0
    moved, cursor = {}, geo.pool_start
    for a in live:
        moved[a] = geo.pool_start + (a - pool_start) if span <= n_new * block else cursor
        cursor += walk.blocks[a].size
    compacted = span > n_new * block
    starts = live
    R = _Rewriter(walker, walk, moved, starts, geo, ctx_addr, ctx)
    new_pool = bytearray(geo.pool_end - geo.pool_start)
    for a in live:
        o, n = a - pool_start, walk.blocks[a].size
        d = moved[a] - geo.pool_start
        new_pool[d:d + n] = pool[o:o + n]
    R.new_pool = new_pool
    R.rewrite_slots()
    R.set_gc_fields(area_off, area_t, has_ftb)
    new_atb = bytearray(geo.atb_len)
    new_ftb = bytearray(geo.ftb_len)
    old_ftb_bits = _bits(ftb) if (has_ftb and ftb) else None
    for a in live:
        i = (moved[a] - geo.pool_start) // block
        n = walk.blocks[a].size // block
        for k in range(n):
            b = i + k
            new_atb[b // 4] |= (1 if k == 0 else 2) << (2 * (b % 4))
        if old_ftb_bits is not None and old_ftb_bits((a - pool_start) // block):
            new_ftb[i // 8] |= 1 << (i % 8)
    rehashed = R.rehash()
    t2 = time.perf_counter()
    return Relocation(geometry=geo, ctx=bytes(R.ctx), atb=bytes(new_atb), ftb=bytes(new_ftb), pool=bytes(new_pool),
                      moved=moved, live_bytes=need * block,
                      dropped_garbage_bytes=sum(n for _, n in walk.garbage), rehashed_tables=rehashed, walk=walk,
                      compacted=compacted, walk_s=t1 - t0, relocate_s=t2 - t1)


def relocate_image(firmware: Firmware, image, new_start: int, new_end: int) -> Relocation:
    """Relocate a sim.image.HibernateImage's heap (sections ctx, heap.atb, heap.pool[, heap.ftb])."""
    from ..image import unpack_used_blocks
    g = image.heap
    pool = unpack_used_blocks(image.section("heap.pool"), g.pool_end - g.pool_start, g.block_size)
    return relocate(firmware, image.ctx_addr, image.section("ctx"), g.pool_start, image.table("heap.atb"),
                    pool, new_start, new_end, image.table("heap.ftb"))


def _bits(data: bytes):
    return lambda i: (data[i // 8] >> (i % 8)) & 1


class _Rewriter:
    def __init__(self, walker: Walker, walk: HeapWalk, moved, starts, geo, ctx_addr, ctx):
        self.old = walker
        self.word: Word = walker.word
        self.W = walker.W
        self.walk = walk
        self.moved = moved
        self.starts = starts
        self.geo = geo
        self.ctx_addr = ctx_addr
        self.ctx = bytearray(ctx)
        self.new_pool = bytearray()

    # old address -> new address
    def block_of(self, v: int) -> int | None:
        i = bisect.bisect_right(self.starts, v) - 1
        if i < 0:
            return None
        a = self.starts[i]
        return a if v < a + self.walk.blocks[a].size else None

    def where(self, old_slot: int) -> tuple[bytearray, int]:
        """Buffer and offset of a slot in the new layout."""
        if self.old.in_pool(old_slot):
            b = self.block_of(old_slot)
            if b is None:
                raise RelocationError(f"internal: slot {old_slot:#x} is not in a live block")
            return self.new_pool, self.moved[b] + (old_slot - b) - self.geo.pool_start
        return self.ctx, old_slot - self.ctx_addr

    def new_value(self, v: int, tag: str, slot: int) -> int:
        if tag == OBJ:
            if v == 0 or v & 3 or not self.old.in_pool(v):
                return v
            if v not in self.moved:
                raise RelocationError(f"internal: object pointer {v:#x} at {slot:#x} is not a live block start")
            return self.moved[v]
        flags = v & 3 if tag == TAGPTR else 0
        p = v & ~3 if tag == TAGPTR else v
        if p == 0 or not self.old.in_pool(p):
            return v
        b = self.block_of(p)
        if b is None:
            raise RelocationError(f"internal: pointer {p:#x} at {slot:#x} is not inside a live block")
        return (self.moved[b] + (p - b)) | flags

    def rewrite_slots(self):
        for slot, tag in self.walk.slots.items():
            v = self.old.w(slot)
            nv = self.new_value(v, tag, slot)
            if nv != v:
                buf, off = self.where(slot)
                self.word.pack_into(buf, off, nv)

    def set_gc_fields(self, area_off: int, area_t, has_ftb: bool):
        """The GC geometry fields (``mem`` or ``mem.area``) for the new heap; the sweep
        limit of 1.22+ (``gc_last_used_block``) covers the whole pool."""
        g = self.geo
        values = {"gc_alloc_table_start": g.atb_start, "gc_alloc_table_byte_len": g.atb_len,
                  "gc_pool_start": g.pool_start, "gc_pool_end": g.pool_end, "gc_last_free_atb_index": 0}
        if has_ftb:
            values["gc_finaliser_table_start"] = g.ftb_start
        if "gc_last_used_block" in area_t.fields:
            values["gc_last_used_block"] = g.n_blocks - 1
        for name, value in values.items():
            off, t = area_t.field(name)                   # size_t or a pointer: a word; sizes from DWARF
            self.ctx[area_off + off:area_off + off + t.size] = value.to_bytes(t.size, "little")

    # -- reading the new image ----------------------------------------------------------------
    def nw(self, a: int) -> int:
        """A word of the relocated state (new pool, new ctx, or firmware)."""
        o = a - self.geo.pool_start
        if 0 <= o < len(self.new_pool):
            return self.word.unpack(self.new_pool, o)
        if self.ctx_addr <= a < self.ctx_addr + len(self.ctx):
            return self.word.unpack(self.ctx, a - self.ctx_addr)
        rom = self.old.rom.read(a, self.W)    # firmware: unchanged
        if rom is None:
            raise RelocationError(f"internal: read of {a:#x} outside the new heap, ctx and firmware")
        return self.word.unpack(rom)

    def nread(self, a: int, n: int) -> bytes:
        g = self.geo
        if g.pool_start <= a and a + n <= g.pool_end:
            return bytes(self.new_pool[a - g.pool_start:a - g.pool_start + n])
        if self.ctx_addr <= a and a + n <= self.ctx_addr + len(self.ctx):
            return bytes(self.ctx[a - self.ctx_addr:a - self.ctx_addr + n])
        rom = self.old.rom.read(a, n)
        if rom is None:
            raise RelocationError(f"internal: read of {a:#x} outside the new heap, ctx and firmware")
        return rom

    def nwrite(self, a: int, v: int):
        g = self.geo
        if g.pool_start <= a < g.pool_end:
            self.word.pack_into(self.new_pool, a - g.pool_start, v)
        else:
            self.word.pack_into(self.ctx, a - self.ctx_addr, v)

    def new_addr(self, old_struct: int) -> int:
        if self.old.in_pool(old_struct):
            b = self.block_of(old_struct)
            return self.moved[b] + (old_struct - b)
        return old_struct

    # -- hash tables ------------------------------------------------------------------------------
    def rehash(self) -> int:
        if all(old == new for old, new in self.moved.items()):
            return 0                            # nothing moved: every hash is as it was
        new_h = _Hasher(self.old, self.nw, self.nread, {n: o for o, n in self.moved.items()})
        count = 0
        L, W = self.old.L, self.W
        for old_m, kind in self.walk.tables.items():
            m = self.new_addr(old_m)
            if kind == "map":
                if self.nw(m) & 4:          # is_ordered: a plain array, no hashing
                    continue
                alloc, table, step = self.nw(m + L.off("mp_map_t.alloc")), self.nw(m + L.off("mp_map_t.table")), 2 * W
            else:
                alloc, table, step = self.nw(m + L.off("mp_set_t.alloc")), self.nw(m + L.off("mp_set_t.table")), W
            if alloc == 0:
                continue
            slots = [self.nw(table + step * i) for i in range(alloc)]
            keys = [(i, k) for i, k in enumerate(slots) if k not in EMPTY_KEYS]
            if not any(new_h.changes(k) for _, k in keys):
                continue
            if old_m in self.walk.iterated:
                raise RelocationError(
                    f"cannot relocate: an iterator (at {self.walk.iterated[old_m]:#x}) is part-way through a "
                    f"{'dict' if kind == 'map' else 'set'} whose keys hash by address; moved, the table is laid "
                    f"out again and the iterator would skip or repeat keys (resume at the same heap address)")
            # rebuild: every live entry at the first empty slot of its probe sequence, in the old
            # slot order (as mp_map_rehash would); deleted-entry sentinels disappear
            entries = [(k, self.nw(table + step * i + W) if kind == "map" else None, new_h.hash(k)) for i, k in keys]
            for i in range(alloc * step // W):
                self.nwrite(table + W * i, 0)
            for key, value, h in entries:
                pos = h % alloc
                while self.nw(table + step * pos) != 0:
                    pos = (pos + 1) % alloc
                self.nwrite(table + step * pos, key)
                if kind == "map":
                    self.nwrite(table + step * pos + W, value)
            count += 1
        return count


WORD32 = Word(4)


def _small_int(v: int, word: Word = WORD32) -> int:
    """MP_OBJ_SMALL_INT_VALUE(MP_OBJ_NEW_SMALL_INT(v)) as the mp_uint_t the lookup uses."""
    return word.hash_of_small_int(v)


class _Hasher:
    """mp_unary_op(MP_UNARY_OP_HASH, key) for the key types a host can hash exactly."""

    def __init__(self, walker: Walker, w, read, old_addr: dict[int, int]):
        self.W, self.w, self.read = walker, w, read
        self.word: Word = walker.word
        self.old_addr = old_addr          # new block address -> old
        self._class_has: dict[tuple[int, str], bool] = {}
        fw = walker.fw
        self.fn = walker.fn                # the firmware's functions by name
        self.t = walker.t
        self.pools = QstrPools.for_firmware(fw, fw.micropython_version, read)
        self.qstr_shift = walker.profile.qstr_obj_shift

    def small(self, v: int) -> int:
        return self.word.hash_of_small_int(v)

    # -- object representation A (py/obj.h) ------------------------------------------------
    def qstr_of(self, k: int) -> int | None:
        """The qstr a key is (None: not a qstr): q << 2 | 2 in 1.9, q << 3 | 2 since
        immediate objects (where x110 are None/False/True)."""
        mask = (1 << self.qstr_shift) - 1
        return k >> self.qstr_shift if k & mask == 2 else None

    def items(self, tup: int) -> list[int]:
        """The items of the tuple at ``tup`` on this side's memory."""
        return self.W.types.tuple_items(tup, self.w)

    def set_keys(self, s: int) -> list[int]:
        """The live keys of the set object at ``s``."""
        L = self.W.L
        m = s + L.off("mp_obj_set_t.set")
        alloc, table = self.w(m + L.off("mp_set_t.alloc")), self.w(m + L.off("mp_set_t.table"))
        keys = (self.w(table + self.word.size * i) for i in range(alloc))
        return [e for e in keys if e not in EMPTY_KEYS]

    def qstr_entry(self, q: int) -> tuple[int, bytes]:
        """(hash, text) of a qstr, through this side's pool chain."""
        W = self.W
        try:
            pools = self.pools.chain(self.w(W.ctx_addr + W.L.off("mp_state_ctx_t.vm.last_pool")))
            pool, i = self.pools.locate(pools, q)
            return self.pools.stored_hash(pool, i), self.pools.text(pool, i)
        except SimError as e:
            raise RelocationError(f"qstr {q}: {e}") from None

    def qstr_hash(self, q: int) -> int:
        return self.qstr_entry(q)[0]

    def qstr_text(self, q: int) -> bytes:
        return self.qstr_entry(q)[1]

    def slot(self, t: int, name: str) -> int:
        return self.W.types.slot(t, name, self.w, self.read)

    def make_new(self, t: int) -> int:
        return self.slot(t, "make_new") & ~1

    def native_bases(self, t: int) -> int:
        """instance_count_native_bases (py/objtype.c), on this side's memory."""
        return self.W.types.native_bases(t, self.w, self.read, self.fn, self.t)

    def changes(self, k: int, depth: int = 0) -> bool:
        """Whether the key's hash may differ from before the move (then its table is rebuilt)."""
        if depth > 16:
            raise RelocationError("key nested too deeply to hash")
        if k & 3 or k not in self.old_addr:
            return False                       # immediate, or not in the heap: never moved
        t = self.w(k)
        if t in (self.t.get("mp_type_str"), self.t.get("mp_type_bytes"), self.t.get("mp_type_int"),
                 self.t.get("mp_type_float")):
            return False                       # hash from contents
        if t == self.t.get("mp_type_tuple"):
            return any(self.changes(e, depth + 1) for e in self.items(k))
        if t == self.t.get("mp_type_frozenset"):
            return any(self.changes(e, depth + 1) for e in self.set_keys(k))
        if self.w(t) == self.t["mp_type_type"] and self.make_new(t) == self.fn["mp_obj_instance_make_new"]:
            self.instance_hash(k, t)           # refuses a __hash__ we cannot run
        return self.old_addr[k] != k           # identity hash: changes when the object moved

    def hash(self, k: int, depth: int = 0) -> int:
        if depth > 16:
            raise RelocationError("key nested too deeply to hash")
        word, L = self.word, self.W.L
        if k & 1:
            return self.word.small_int_value(k) & word.mask
        q = self.qstr_of(k)
        if q is not None:
            return self.qstr_hash(q)
        if k & 7 == 6 and self.qstr_shift == 3:            # None, False, True (immediate objects)
            value = k >> 3
            return self.small(k) if value == 0 else (0 if value == 1 else 1)
        t = self.w(k)
        if t in (self.t.get("mp_type_str"), self.t.get("mp_type_bytes")):
            h = L.read_uint("mp_obj_str_t.hash", k, self.read)
            if h == 0:
                n, data = self.w(k + L.off("mp_obj_str_t.len")), self.w(k + L.off("mp_obj_str_t.data"))
                h = compute_hash(self.read(data, n), self.pools.nh)
            return h
        uop = self.slot(t, "unary_op") & ~1
        name = self.W.sym_at.get(uop) if uop else None
        if name == "mp_generic_unary_op" or uop == 0:      # no unary_op: hash by identity (py/runtime.c)
            return self.small(k)
        if name == "bool_unary_op":
            return self.w(k + word.size)                   # mp_obj_bool_t {base, value} (no immediate objects)
        if name == "mp_obj_int_unary_op":
            return self.small(self.mpz_hash(k))
        if name == "float_unary_op":
            off, t_value = L.off("mp_obj_float_t.value"), L.field("mp_obj_float_t.value")
            bits = int.from_bytes(self.read(k + off, t_value.size), "little")
            return self.small(_float_hash(bits, t_value.size, word, self.W.fw.has_symbol("mp_float_hash")))
        if name == "mp_obj_tuple_unary_op":
            h = self.W.fw.symbol("mp_const_empty_tuple_obj").addr
            for e in self.items(k):
                h += self.hash(e, depth=depth + 1)
            return self.small(h)
        if name == "set_unary_op" and t == self.t.get("mp_type_frozenset"):
            h = self.t["mp_type_frozenset"]
            for e in self.set_keys(k):
                h += self.hash(e, depth=depth + 1)
            return self.small(h)
        if name == "instance_unary_op":
            return self.instance_hash(k, t)
        raise RelocationError(f"cannot compute the hash of a dict/set key at {k:#x} (unary_op {name})")

    def instance_hash(self, k: int, t: int) -> int:
        if self.native_bases(t):
            raise RelocationError(f"dict/set key at {k:#x} is an instance of a class with a native base: "
                                  "its hash is not computed on the host")
        for meth in ("__hash__", "__eq__"):
            if self.class_has(t, meth):
                raise RelocationError(f"dict/set key at {k:#x} is an instance of a class defining {meth}: "
                                      "its hash runs Python code, so the table cannot be rebuilt on the host")
        return self.small(k)

    def class_has(self, t: int, name: str, depth: int = 0) -> bool:
        key = (t, name)
        if key not in self._class_has:
            self._class_has[key] = self._lookup(t, name, depth)
        return self._class_has[key]

    def _lookup(self, t: int, name: str, depth: int) -> bool:
        W = self.W
        if depth > 32:
            raise RelocationError(f"class hierarchy too deep at {t:#x}")
        if t == 0 or self.w(t) != self.t["mp_type_type"]:
            return False
        ld = self.slot(t, "locals_dict")
        if ld:
            m = ld + W.L.off("mp_obj_dict_t.map")
            alloc, table = self.w(m + W.L.off("mp_map_t.alloc")), self.w(m + W.L.off("mp_map_t.table"))
            for i in range(alloc):
                q = self.qstr_of(self.w(table + 2 * self.word.size * i))
                if q is not None and self.qstr_text(q) == name.encode():
                    return True
        p = self.slot(t, "parent")
        if p == 0:
            return False
        if self.w(p) == self.t["mp_type_tuple"]:
            return any(self.class_has(b, name, depth + 1) for b in self.items(p))
        return self.class_has(p, name, depth + 1)

    def mpz_hash(self, k: int) -> int:
        """mpz_hash (py/mpz.c): the digits folded into an mp_uint_t, negated when negative."""
        W = self.W
        mpz = k + W.L.off("mp_obj_int_t.mpz")
        neg = self.w(mpz) & 1
        n, dig = self.w(mpz + W.L.off("mpz_t.len")), self.w(mpz + W.L.off("mpz_t.dig"))
        dig_bytes = self.dig_size()
        raw = self.read(dig, dig_bytes * n)
        val = 0
        for i in range(n - 1, -1, -1):
            d = int.from_bytes(raw[dig_bytes * i:dig_bytes * (i + 1)], "little")
            val = ((val << (8 * dig_bytes)) | d) & self.word.mask
        if neg:
            val = -val
        return val & self.word.mask

    def dig_size(self) -> int:
        """sizeof(mpz_dig_t) from DWARF (MPZ_DIG_SIZE fills it: 16 bits unless a port says otherwise)."""
        if not hasattr(self, "_dig"):
            try:
                self._dig = self.W.fw.struct("mpz_dig_t").size
            except SimError:
                self._dig = 2
        return self._dig


# mp_float_t layouts: bytes -> (fraction bits, exponent bits)
FLOAT_FORMATS = {4: (23, 8), 8: (52, 11)}


def _float_hash(bits: int, size: int = 4, word: Word = WORD32, high_quality: bool = True) -> int:
    """mp_float_hash (py/obj.h, py/objfloat.c) of a float of ``size`` bytes, as mp_int_t of
    ``word``. ``high_quality``: MICROPY_FLOAT_HIGH_QUALITY_HASH, the function in
    objfloat.c (the firmware then has the symbol ``mp_float_hash``); without it the hash
    is ``(mp_int_t)val``, truncated toward zero (out of range it saturates, as the
    soft-float and RISC-V conversions do; NaN, never found in a table, is taken as 0)."""
    if not high_quality:
        value = struct.unpack("<f" if size == 4 else "<d", bits.to_bytes(size, "little"))[0]
        if value != value:
            return 0
        limit = 1 << (word.bits - 1)
        return max(-limit, min(limit - 1, int(value) if abs(value) < 2.0 ** 1000 else
                               (limit if value > 0 else -limit))) & word.mask
    frac_bits, exp_bits = FLOAT_FORMATS[size]
    frc = bits & ((1 << frac_bits) - 1)
    exp = (bits >> frac_bits) & ((1 << exp_bits) - 1)
    adj = exp - ((1 << (exp_bits - 1)) - 1)
    if adj < 0:
        val = bits
    else:
        frc |= 1 << frac_bits
        if adj <= frac_bits:
            val = (frc >> (frac_bits - adj)) ^ (frc & ((1 << (frac_bits - adj)) - 1))
        elif adj < word.bits - 1:
            val = frc << (adj - frac_bits)
        else:
            val = frc
    if bits >> (8 * size - 1):
        val = -val
    return val & word.mask

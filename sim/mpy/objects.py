"""Object layouts that changed between MicroPython generations, read the way the
firmware's profile says (offsets from DWARF): type objects and qstr pools.

Type objects (py/obj.h): up to 1.19 ``mp_obj_type_t`` has one named field per slot
(``make_new``, ``parent``, ``locals_dict``...); since 1.20 it has one byte per slot
(``slot_index_make_new``...: 0 absent, else 1 + the index into ``slots[]``), so a
type object is only as long as the slots it uses. Slot names here are 1.20's; the
fixed layout's differ for two (``getiter``, ``buffer_p``).

qstr pools (py/qstr.h): up to 1.18 each entry points to [hash, length, text]; since
1.19 the pool holds ``hashes`` and ``lengths`` arrays (in the pool's own block) and
entries point to the bare text; since 1.22 ``total_prev_len`` shares its word with
the ``is_sorted`` bit.

Every function takes the memory to read as ``w(addr) -> word`` and ``read(addr, n)``,
so the walker (old heap) and the relocator (new heap) share them.
"""

from __future__ import annotations

from ..errors import SimError

FIXED_NAMES = {"iter": "getiter", "buffer": "buffer_p"}
SLOTS = ("make_new", "print", "call", "unary_op", "binary_op", "attr", "subscr", "iter", "buffer", "protocol",
         "parent", "locals_dict")


class Layout:
    """Field offsets from DWARF, cached (firmware.struct is cached on disk)."""

    def __init__(self, fw):
        self.fw = fw
        self._cache: dict[str, object] = {}

    def off(self, path: str) -> int:
        if path not in self._cache:
            name, _, fpath = path.partition(".")
            self._cache[path] = self.fw.struct(name).offset_of(fpath)[0]
        return self._cache[path]

    def field(self, path: str):
        key = path + ":type"
        if key not in self._cache:
            name, _, fpath = path.partition(".")
            self._cache[key] = self.fw.struct(name).offset_of(fpath)[1]
        return self._cache[key]

    def has(self, path: str) -> bool:
        key = path + ":has"
        if key not in self._cache:
            name, _, fpath = path.partition(".")
            try:
                self.fw.struct(name).offset_of(fpath)
                self._cache[key] = True
            except SimError:
                self._cache[key] = False
        return self._cache[key]

    def size(self, name: str) -> int:
        key = name + ":size"
        if key not in self._cache:
            self._cache[key] = self.fw.struct(name).size
        return self._cache[key]

    def read_uint(self, path: str, base: int, read) -> int:
        """An integer field (bitfields masked) of the struct at ``base``."""
        t = self.field(path)
        size = t.size if t.kind in ("base", "enum", "pointer") else 4
        v = int.from_bytes(read(base + self.off(path), size), "little")
        if t.bits is not None:
            v = (v >> t.bits[0]) & ((1 << t.bits[1]) - 1)
        return v


class Types:
    """Type-object slots and names for the profile's ``type_layout``."""

    def __init__(self, layout: Layout, profile):
        self.L = layout
        self.slotted = profile.type_layout == "slots"

    def slot_addr(self, t: int, name: str, read) -> int | None:
        """Address of the word holding slot ``name`` of the type at ``t`` (None: absent)."""
        if self.slotted:
            idx = read(t + self.L.off(f"mp_obj_type_t.slot_index_{name}"), 1)[0]
            return None if idx == 0 else t + self.L.off("mp_obj_type_t.slots") + 4 * (idx - 1)
        return t + self.L.off("mp_obj_type_t." + FIXED_NAMES.get(name, name))

    def slot(self, t: int, name: str, w, read) -> int:
        a = self.slot_addr(t, name, read)
        return 0 if a is None else w(a)

    def slot_addrs(self, t: int, read) -> dict[str, int]:
        out = {}
        for name in SLOTS:
            a = self.slot_addr(t, name, read)
            if a is not None:
                out[name] = a
        return out

    def name_qstr(self, t: int, read) -> int:
        return self.L.read_uint("mp_obj_type_t.name", t, read)


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

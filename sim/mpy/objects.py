"""Object layouts that changed between MicroPython generations, read the way the
firmware's profile says (offsets from DWARF): type objects.

Type objects (py/obj.h): up to 1.19 ``mp_obj_type_t`` has one named field per slot
(``make_new``, ``parent``, ``locals_dict``...); since 1.20 it has one byte per slot
(``slot_index_make_new``...: 0 absent, else 1 + the index into ``slots[]``), so a
type object is only as long as the slots it uses. Slot names here are 1.20's; the
fixed layout's differ for two (``getiter``, ``buffer_p``).

qstr pools are read by sim.mpy.qstr_pools (one reader per memory).

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
        try:
            return self._cache[path]
        except KeyError:
            name, _, fpath = path.partition(".")
            found = self._cache[path] = self.fw.struct(name).offset_of(fpath)[0]
            return found

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
        self.word = layout.fw.word_size            # slots[] holds pointers

    def slot_addr(self, t: int, name: str, read) -> int | None:
        """Address of the word holding slot ``name`` of the type at ``t`` (None: absent)."""
        if self.slotted:
            idx = read(t + self.L.off(f"mp_obj_type_t.slot_index_{name}"), 1)[0]
            return None if idx == 0 else t + self.L.off("mp_obj_type_t.slots") + self.word * (idx - 1)
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

    def tuple_items(self, tup: int, w) -> list[int]:
        """The items of the tuple object at ``tup`` (a class's bases, an exception's args)."""
        n = w(tup + self.L.off("mp_obj_tuple_t.len"))
        items = tup + self.L.off("mp_obj_tuple_t.items")
        return [w(items + self.word * i) for i in range(n)]

    def native_bases(self, t: int, w, read, funcs: dict[str, int], types: dict[str, int], depth: int = 0) -> int:
        """instance_count_native_bases (py/objtype.c) of the class at ``t``, on the memory
        ``w``/``read`` (the saved heap, or the relocated one); ``funcs`` and ``types`` map the
        firmware's function and type-object names to addresses."""
        if depth > 32:
            raise SimError(f"class hierarchy too deep at {t:#x}")
        if t == types.get("mp_type_object"):
            return 0
        if self.slot(t, "make_new", w, read) & ~1 != funcs["mp_obj_instance_make_new"]:
            return 1
        p = self.slot(t, "parent", w, read)
        if p == 0:
            return 0
        if w(p) == types["mp_type_tuple"]:
            return sum(self.native_bases(b, w, read, funcs, types, depth + 1) for b in self.tuple_items(p, w))
        return self.native_bases(p, w, read, funcs, types, depth + 1)

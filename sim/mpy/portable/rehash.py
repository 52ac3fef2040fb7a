"""Dict and set tables rebuilt with the target's hashes, on converted blocks (sim.mpy.portable.widen).

A map/set table keeps each key at ``hash % alloc`` (linear probing, py/map.c): on another
word size a small int's hash is the same value but an identity hash (an instance, a
firmware object) is the new address and an mpz's hash is its value folded into the
target's word (mpz_hash), so every table is laid out again. Keys are read from the
converted blocks (a reference or a literal word), before the references are resolved.
Refused, naming the table: a key whose hash runs Python (a class defining __hash__ or
__eq__), and key types mpsim does not hash on the host (floats, tuples).
"""

from __future__ import annotations

from ..qstr_pools import compute_hash
from ..relocate import EMPTY_KEYS, layout_holds
from . import MigrationError
from .relayout import field_value

MAP_NAMES = ("_mp_map_t", "mp_map_t")
SET_NAMES = ("_mp_set_t", "mp_set_t")


def _nested(t, off=0):
    """(offset, "map"|"set") of every mp_map_t / mp_set_t inside a struct."""
    if t.kind != "struct":
        return
    for _name, (o, ft) in t.fields.items():
        if ft.kind == "struct" and ft.name in MAP_NAMES:
            yield off + o, "map"
        elif ft.kind == "struct" and ft.name in SET_NAMES:
            yield off + o, "set"
        elif ft.kind == "struct":
            yield from _nested(ft, off + o)


class Rehasher:
    def __init__(self, ld):
        self.ld = ld
        self.W = ld.W
        self.count = 0
        self.mask = (1 << 8 * self.W) - 1
        self.hash_bytes = ld.qp.hash_size or 2

    def small(self, v: int) -> int:
        """MP_OBJ_SMALL_INT_VALUE(MP_OBJ_NEW_SMALL_INT(v)) as the mp_uint_t map.c divides."""
        bits = 8 * self.W - 1
        v &= (1 << bits) - 1
        if v >> (bits - 1):
            v -= 1 << bits
        return v & self.mask

    def tables_in(self, buf, refs, t, block, where=""):
        where = where or (block.label or block.role)
        for off, kind in _nested(t):
            st = self.ld.fw.struct("mp_map_t" if kind == "map" else "mp_set_t")
            get = lambda f: field_value(buf, off, st, f)            # noqa: E731
            if kind == "map" and get("is_ordered"):
                continue
            alloc = get("alloc")
            if alloc == 0:
                continue
            tref = refs.get(off + st.offset_of("table")[0])
            if tref is None or tref[0] != "heap":
                continue                                       # a table in ROM (a fixed map): never moves
            if self.rebuild(tref[1], alloc, 2 if kind == "map" else 1, where):
                self.count += 1

    def rebuild(self, j, alloc, step, where):
        ld, W = self.ld, self.W
        data, refs, spans = ld.conv[j]
        entries, used, homes = [], [], []
        for p in range(alloc):
            items = []
            for k in range(step):
                o = (p * step + k) * W
                items.append(refs[o] if o in refs else ("lit", int.from_bytes(data[o:o + W], "little")))
            used.append(items[0] != ("lit", 0))
            if items[0][0] == "lit" and items[0][1] in EMPTY_KEYS:
                continue
            entries.append(items)
            homes.append((p, self.hash(items[0], where)))
        if layout_holds(used, homes, alloc):
            return False                                       # order and iterators kept
        new = bytearray(len(data))
        new_refs = {o: r for o, r in refs.items() if o >= alloc * step * W}
        new[alloc * step * W:] = data[alloc * step * W:]
        taken = [False] * alloc
        for items, (_p, h) in zip(entries, homes):
            pos = h % alloc
            while taken[pos]:
                pos = (pos + 1) % alloc
            taken[pos] = True
            for k, it in enumerate(items):
                o = (pos * step + k) * W
                if it[0] == "lit":
                    new[o:o + W] = it[1].to_bytes(W, "little")
                else:
                    new_refs[o] = it
        ld.conv[j] = (new, new_refs, spans)
        return True

    def hash(self, key, where, depth=0) -> int:
        ld = self.ld
        kind = key[0]
        if kind == "lit":
            v = key[1]
            if v & 1:
                return self.small(v >> 1 | (-(1 << (8 * self.W - 1)) if v >> (8 * self.W - 1) else 0))
            raise MigrationError(f"cannot load {where}: a key that is an immediate object ({v:#x}) is not hashed "
                                 "on the host")
        if kind == "qobj":
            return compute_hash(key[1].encode("latin-1"), self.hash_bytes)
        if kind == "sym":
            return self.small(ld.symbol(key[1], key[2], where))
        if kind == "heap":
            j = key[1]
            if j in ld.replace:
                return self.hash(("lit", ld.replace[j]), where)
            b = ld.P.blocks[j]
            if b.role in ("str", "bytes"):
                return self.str_hash(b)
            if b.role == "int":
                return self.small(self.mpz_hash(ld.int_values[j]))
            if b.role == "instance":
                self.check_identity(b, where)
                return self.small(ld.addr[j])
            if depth < 16 and b.role == "tuple":
                # objtuple.c: the empty tuple's address plus the items' hashes
                return self.small(ld.symbol("mp_const_empty_tuple_obj", 0, where) +
                                  sum(self.hash(it, where, depth + 1) for it in self.items(j, "mp_obj_tuple_t")))
            if depth < 16 and b.role == "frozenset":
                # objset.c: mp_type_frozenset's address plus the elements' hashes
                return self.small(ld.symbol("mp_type_frozenset", 0, where) +
                                  sum(self.hash(it, where, depth + 1) for it in self.elements(j)))
            raise MigrationError(f"cannot load {where}: a key of type {b.role} ({b.label}) is not hashed on the host "
                                 "across word sizes")
        raise MigrationError(f"cannot load {where}: a key that is a {kind} reference is not hashed on the host")

    def items(self, j, sname):
        """The items of a converted tuple block: references or literal words."""
        data, refs, _ = self.ld.conv[j]
        t = self.ld.fw.struct(sname)
        n, base = field_value(data, 0, t, "len"), t.offset_of("items")[0]
        return [self.item(data, refs, base + k * self.W) for k in range(n)]

    def elements(self, j):
        data, refs, _ = self.ld.conv[j]
        t = self.ld.fw.struct("mp_obj_set_t")
        o = t.offset_of("set")[0]
        st = self.ld.fw.struct("mp_set_t")
        alloc = field_value(data, o, st, "alloc")
        tref = refs.get(o + st.offset_of("table")[0])
        tdata, trefs, _ = self.ld.conv[tref[1]]
        out = [self.item(tdata, trefs, k * self.W) for k in range(alloc)]
        return [e for e in out if not (e[0] == "lit" and e[1] in EMPTY_KEYS)]

    def item(self, data, refs, o):
        return refs[o] if o in refs else ("lit", int.from_bytes(data[o:o + self.W], "little"))

    def str_hash(self, b) -> int:
        ld = self.ld
        st = ld.st.layouts["mp_obj_str_t"]
        h = field_value(b.data, 0, st, "hash")
        if h:
            return h
        n = field_value(b.data, 0, st, "len")
        r = dict(b.refs).get(st.offset_of("data")[0])
        text = ld.P.blocks[r[1]].data[r[2]:r[2] + n] if r and r[0] == "heap" else b""
        return compute_hash(text, self.hash_bytes)

    def mpz_hash(self, v: int) -> int:
        """mpz_hash (py/mpz.c): the digits folded into an mp_uint_t, negated when negative."""
        val = abs(v) & self.mask
        return (-val) & self.mask if v < 0 else val

    def check_identity(self, b, where):
        """An instance hashes by identity unless its class (or a heap base) defines __hash__ or __eq__."""
        ld = self.ld
        seen, todo = set(), [r[1] for o, r in b.refs if o == 0 and r[0] == "heap"]
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            cls = ld.P.blocks[c]
            for _o, r in cls.refs:
                if r[0] != "heap":
                    continue
                child = ld.P.blocks[r[1]]
                if child.role == "type":
                    todo.append(r[1])
                elif child.role == "dict":
                    for _o2, r2 in child.refs:
                        if r2[0] == "heap" and ld.P.blocks[r2[1]].role == "map.table":
                            keys = {r3[1] for _o3, r3 in ld.P.blocks[r2[1]].refs if r3[0] == "qobj"}
                            for meth in ("__hash__", "__eq__"):
                                if meth in keys:
                                    raise MigrationError(f"cannot load {where}: its key {b.label} is an instance of "
                                                         f"a class defining {meth}, whose hash runs Python code")

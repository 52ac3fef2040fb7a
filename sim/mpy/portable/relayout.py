"""One block of the portable state laid out again in another firmware's struct layouts.

The source's layouts come with the state file (DWARF, sim.mpy.portable.carry), the
target's from its ELF. A block is converted by its struct: leaf fields matched by name
(nested structs, fixed arrays, bit-fields), pointer words that the export named
(references) placed at the target's offsets, other integer fields carried by value
(signed or unsigned as DWARF says), floats converted when exact; a flexible array at the
end (tuple items, a generator's value stack, a class's slots) element by element. Blocks
that are arrays only (list items, map tables, const tables, tracebacks) are word arrays;
strings, bytecode and bytearray items are bytes and move as they are.

Words that are not references are small ints, immediate objects or raw integers (an
inline iterator's index): all are the same signed value in either width, so a 32-bit
word is sign-extended, and a 64-bit word narrowed only when its value fits -- else a
small int becomes ("newint", value) for the loader to make an mpz, and anything else is
refused. A target field the source build lacks (a feature it was built without, such as
the native emitter's ``asm_n_pos_args``) is left zero.

Every conversion returns the block's spans, (source start, length, target start, source
element size, target element size), so an interior pointer (a generator's ``sp``, a tag
bit) lands at the same element in the target (``map_offset``).
"""

from __future__ import annotations

import struct

from . import MigrationError
from .carry import State

WORD_ROLES = {"list.items", "map.table", "set.table", "child_table", "const_table", "traceback", "deque.items"}
BYTE_ROLES = {"str.data", "bytecode", "array.items", "readline.line"}


def _signed(t) -> bool:
    return t.kind == "enum" or (t.name is not None and "unsigned" not in t.name and t.name not in ("_Bool",))


def _leaves(t, off=0, path=""):
    """(path, offset, leaf type) of a struct, arrays element-wise; a flexible array member
    is yielded once with path ``path + "[]"``."""
    if t.kind in ("struct", "union") and t.fields:
        items = sorted(t.fields.items(), key=lambda kv: kv[1][0])
        if t.kind == "union":
            items = items[:1]
        for name, (o, ft) in items:
            yield from _leaves(ft, off + o, f"{path}.{name}" if path else name)
    elif t.kind == "array":
        if not t.count:
            yield path + "[]", off, t.element
        else:
            for i in range(t.count):
                yield from _leaves(t.element, off + i * t.element.size, f"{path}[{i}]")
    else:
        yield path, off, t


class Converter:
    """Lays portable blocks out again in the target's layouts."""

    def __init__(self, st: State, fw):
        self.st, self.fw = st, fw
        self.ws, self.wt = st.header["word_bytes"], fw.struct("mp_obj_base_t").size
        self.bits_t = 8 * self.wt - 1                       # small-int value bits (REPR_A)
        self.dig_s = st.header["mpz_digit_bits"]
        from .carry import _digit_bytes
        self.dig_t = 8 * _digit_bytes(fw)
        self.converted: dict[str, int] = {}

    def count(self, what):
        self.converted[what] = self.converted.get(what, 0) + 1

    # -- words ----------------------------------------------------------------------------------------
    def word(self, v: int, where: str):
        """A word that is not a reference: the same signed value in the target's width; a
        small int too big for the target's small ints: ("newint", value), made an mpz."""
        if v >> (8 * self.ws - 1):
            v -= 1 << (8 * self.ws)
        lo, hi = -(1 << (8 * self.wt - 1)), 1 << (8 * self.wt - 1)
        if not lo <= v < hi:
            if v & 1:
                return ("newint", v >> 1)
            raise MigrationError(f"cannot load {where}: the value {v} does not fit a {self.wt}-byte word")
        return v & ((1 << 8 * self.wt) - 1)

    def value(self, raw: bytes, ts, tt, where: str) -> bytes:
        """An integer/float field (no reference) in the target's size."""
        if ts.name in ("float", "double") or tt.name in ("float", "double"):
            return self.float(raw, ts, tt, where)
        v = int.from_bytes(raw, "little", signed=_signed(ts))
        if ts.bits is not None:
            shift, width = ts.bits
            v = (int.from_bytes(raw, "little") >> shift) & ((1 << width) - 1)
        size = tt.size
        lo = -(1 << (8 * size - 1)) if _signed(tt) else 0
        hi = (1 << (8 * size - 1)) if _signed(tt) else 1 << 8 * size
        if tt.bits is None and not lo <= v < hi:
            raise MigrationError(f"cannot load {where}: {v} does not fit its {size}-byte field in the target")
        return (v & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def float(self, raw, ts, tt, where):
        fmt = {4: "<f", 8: "<d"}
        x = struct.unpack(fmt[ts.size], raw)[0]
        out = struct.pack(fmt[tt.size], x)
        if struct.unpack(fmt[tt.size], out)[0] != x and x == x:
            raise MigrationError(f"cannot load {where}: the double {x!r} has no exact single-precision value in "
                                 "the target firmware")
        if ts.size != tt.size:
            self.count("float")
        return out

    # -- one block ------------------------------------------------------------------------------------
    def block(self, i, b, sname) -> tuple[bytearray, dict, list]:
        """(target bytes, references by target offset, source->target offset spans)."""
        where = b.label or b.role
        refs = dict(b.refs)
        if sname is not None:
            ts = self.st.layouts.get(sname)
            if ts is None:
                raise MigrationError(f"cannot load {where}: the state file has no layout of {sname}")
            try:
                tt = self.fw.struct(sname)
            except Exception:  # noqa: BLE001
                raise MigrationError(f"cannot load {where}: the target firmware has no {sname}") from None
            return self.struct(b.data, refs, ts, tt, where)
        if b.role in BYTE_ROLES:
            return bytearray(b.data), refs, [(0, len(b.data), 0, 1, 1)]
        if b.role in WORD_ROLES or b.role.endswith(".items"):
            return self.words(b.data, refs, 0, 0, len(b.data) // self.ws, None, None, where)
        raise MigrationError(f"cannot load {where}: mpsim does not know the layout of a {b.role} block on "
                             "another word size")

    def struct(self, data, refs, ts, tt, where, out=None, o_s=0, o_t=0):
        src = {p: (o, t) for p, o, t in _leaves(ts)}
        out = bytearray(tt.size) if out is None else out
        new_refs, spans = {}, []
        tail_s = tail_t = None
        for p, ot, ft in _leaves(tt):
            if p.endswith("[]"):
                tail_t = (p, ot, ft)
                continue
            if p not in src:
                continue          # a field of a feature the source build lacks (e.g. asm_n_pos_args): zero
            os_, fs = src[p]
            spans.append((o_s + os_, fs.size, o_t + ot, fs.size, ft.size))
            if ft.bits is None and (o_s + os_) in refs:
                new_refs[o_t + ot] = refs[o_s + os_]
                continue
            raw = data[o_s + os_:o_s + os_ + fs.size]
            if ft.kind == "pointer":
                v = self.word(int.from_bytes(raw, "little"), f"{where}.{p}")
                if isinstance(v, tuple):
                    new_refs[o_t + ot] = v
                    continue
                out[o_t + ot:o_t + ot + ft.size] = v.to_bytes(ft.size, "little")
            elif ft.bits is not None:
                v = int.from_bytes(self.value(raw, fs, ft, f"{where}.{p}"), "little") if fs.bits else 0
                shift, width = ft.bits
                cur = int.from_bytes(out[o_t + ot:o_t + ot + ft.size], "little")
                cur |= (v & ((1 << width) - 1)) << shift
                out[o_t + ot:o_t + ot + ft.size] = cur.to_bytes(ft.size, "little")
            else:
                out[o_t + ot:o_t + ot + ft.size] = self.value(raw, fs, ft, f"{where}.{p}")
        for p, os_, fs in _leaves(ts):
            if p.endswith("[]"):
                tail_s = (p, os_, fs)
        if tail_s and tail_t:
            _p, os_, es = tail_s
            _p, ot, et = tail_t
            n = max(0, (len(data) - o_s - os_) // max(es.size, 1))
            if es.size == 1 and et.size == 1:
                out[o_t + ot:] = data[o_s + os_:]
                spans.append((o_s + os_, len(data) - o_s - os_, o_t + ot, 1, 1))
            else:
                tail, trefs, tspans = self.words(data, refs, o_s + os_, o_t + ot, n, es, et, where)
                out[o_t + ot:] = tail[o_t + ot:]
                new_refs.update(trefs)
                spans += tspans
        return out, new_refs, spans

    def words(self, data, refs, o_s, o_t, n, es, et, where):
        """``n`` elements (words, or ``es``/``et`` typed) from source offset o_s to target o_t."""
        ws, wt = (es.size if es else self.ws), (et.size if et else self.wt)
        out = bytearray(o_t + n * wt)
        new_refs = {}
        for k in range(n):
            s, d = o_s + k * ws, o_t + k * wt
            if s in refs:
                new_refs[d] = refs[s]
                continue
            raw = data[s:s + ws]
            if es is not None and es.kind not in ("pointer",) and es.kind != "struct":
                out[d:d + wt] = self.value(raw, es, et, where)
            else:
                v = self.word(int.from_bytes(raw, "little"), where)
                if isinstance(v, tuple):
                    new_refs[d] = v
                else:
                    out[d:d + wt] = v.to_bytes(wt, "little")
        return out, new_refs, [(o_s, n * ws, o_t, ws, wt)] if n else []


def map_offset(spans, off: int) -> int:
    """A source byte offset inside a block -> the target's (an interior pointer, tag bits kept).
    ``spans``: (source start, source length, target start, source element size, target element size)."""
    for s, n, d, es, et in spans:
        if s <= off < s + max(n, 1):
            k, r = divmod(off - s, es)
            return d + k * et + r
    raise MigrationError(f"internal: byte {off} of a block has no place in the target layout")


def field_value(data, base: int, t, path: str) -> int:
    """An integer field (bit-fields masked) of struct type ``t`` at ``base`` in ``data``."""
    o, ft = t.offset_of(path)
    v = int.from_bytes(data[base + o:base + o + ft.size], "little")
    if ft.bits is not None:
        v = (v >> ft.bits[0]) & ((1 << ft.bits[1]) - 1)
    return v

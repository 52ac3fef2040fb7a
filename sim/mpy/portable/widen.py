"""Load a state file into a firmware of another word size (Cortex-M3 <-> RV64).

The steps of sim.mpy.portable.load, each at the target's width: every block laid out
again by sim.mpy.portable.relayout; ints normalised first (an mpz whose value fits the
target's small ints becomes one, 2**40 on RV64; a small int past them becomes an mpz in
the target's layout; digits regrouped when the digit size differs); one heap qstr pool
for the qstrs the target's ROM lacks; the blocks placed compactly from the pool start;
every dict and set table rebuilt with the target's hashes (sim.mpy.portable.rehash);
references resolved (a function's Thumb bit set on the Cortex-M3, none on RISC-V; a
pointer into a firmware array scaled to the target's element size); the ``vm`` roots
written by name. Nothing runs on the device before the state is complete.
"""

from __future__ import annotations

import time

from ..qstr_pools import compute_hash
from . import MigrationError
from .carry import State
from .load import DROPPED_ROLES, RENAMED, Loaded, Loader, _encode_uint_padded
from .qstrs import QstrPools
from .relayout import Converter, field_value, map_offset

class AcrossLoader(Loader):
    """sim.mpy.portable.load's steps, each at the target's word size."""

    def __init__(self, st: State, fw, ctx_addr, ctx, geo):
        super().__init__(st.portable, fw, ctx_addr, ctx, geo)
        self.st = st
        self.cv = Converter(st, fw)
        self.W = self.cv.wt
        self.qp = QstrPools(self.L)

    # words at the target's width
    def word(self, a: int) -> int:
        return int.from_bytes(self.romread(a, self.W), "little")

    def put(self, buf, off, v):
        buf[off:off + self.W] = (v & ((1 << 8 * self.W) - 1)).to_bytes(self.W, "little")

    def rom_qstrs(self):
        L, g = self.L, self.geo
        last = int.from_bytes(self.ctx[L.off("mp_state_ctx_t.vm.last_pool"):][:self.W], "little")
        pool = last
        while g.pool_start <= pool < g.pool_end:
            pool = self.word(pool + L.off("qstr_pool_t.prev"))
        head = pool
        total = L.read_uint("qstr_pool_t.total_prev_len", pool, self.romread) + self.word(pool + L.off("qstr_pool_t.len"))
        table = {}
        ls = self.qp.len_size
        while pool:
            first = L.read_uint("qstr_pool_t.total_prev_len", pool, self.romread)
            n = self.word(pool + L.off("qstr_pool_t.len"))
            raw = self.romread(pool + L.off("qstr_pool_t.qstrs"), self.W * n)
            lens = self.romread(self.word(pool + L.off("qstr_pool_t.lengths")), ls * n)
            for i in range(n):
                if first + i == 0:
                    continue
                p = int.from_bytes(raw[self.W * i:self.W * (i + 1)], "little")
                length = int.from_bytes(lens[ls * i:ls * (i + 1)], "little")
                table.setdefault(self.romread(p, length), first + i)
            pool = self.word(pool + L.off("qstr_pool_t.prev"))
        return head, table, total

    NOT_FIT = "cannot load: the live data ({} bytes) does not fit the target's heap pool ({} bytes)"

    # -- the whole load ---------------------------------------------------------------------------------
    def run_across(self) -> Loaded:
        t0 = time.perf_counter()
        st, P, g, cv = self.st, self.P, self.geo, self.cv
        replace = self.ints_to_small()
        keep = [i for i, b in enumerate(P.blocks) if b.role not in DROPPED_ROLES and i not in replace
                and i not in self.dropped_digits]
        conv = {}
        for i in keep:
            b = P.blocks[i]
            if b.role == "mpz.digits" and i in self.digits_value:
                data, refs, spans = self.regroup(self.digits_value[i], b), {}, [(0, 0, 0, 1, 1)]
            else:
                data, refs, spans = cv.block(i, b, st.structs_of[i])
            if b.role == "int":
                data = self.int_digits(i, data)
            size = len(data) + (-len(data) % g.block_size) or g.block_size
            data = data + bytes(size - len(data))
            conv[i] = (data, refs, spans)
        self.conv = conv
        roots = self.convert_roots()
        keep += self.new_ints(roots)
        rom_head, rom_total, dynamic, qid = self.number_qstrs()
        addr, (qpool_addr, qpool), (chunk_addr, chunk) = self.place([(i, len(conv[i][0])) for i in keep], dynamic)
        self.fill_pool(qpool, qpool_addr, chunk_addr, dynamic, rom_head, rom_total)
        self.addr, self.qid, self.replace = addr, qid, replace
        self.rehash_all(keep, roots)
        pool = bytearray(g.pool_end - g.pool_start)
        for i in keep:
            data, refs, _spans = conv[i]
            data = bytearray(data)
            for off, ref in refs.items():
                self.resolve(data, off, ref, P.blocks[i].label or P.blocks[i].role)
            o = addr[i] - g.pool_start
            pool[o:o + len(data)] = data
        pool[qpool_addr - g.pool_start:qpool_addr - g.pool_start + len(qpool)] = qpool
        pool[chunk_addr - g.pool_start:chunk_addr - g.pool_start + len(chunk)] = chunk
        self.write_roots_across(roots, qpool_addr)
        self.write_mem()
        spans = [(addr[i], len(conv[i][0]), P.blocks[i].finaliser) for i in keep]
        spans += [(qpool_addr, len(qpool), False), (chunk_addr, len(chunk), False)]
        atb, ftb, used = self.gc_tables(spans)
        self.converted.update(cv.converted)
        return Loaded(geometry=g, ctx=bytes(self.ctx), atb=bytes(atb), ftb=bytes(ftb), pool=bytes(pool), used=used,
                      objects=len(keep), qstrs_interned=len(dynamic), rehashed_tables=self.rehashed,
                      converted=self.converted, load_s=time.perf_counter() - t0)

    # -- ints ---------------------------------------------------------------------------------------------
    def int_value(self, b) -> int:
        ts = self.st.layouts["mp_obj_int_t"]
        o, _ = ts.offset_of("mpz")
        mz = self.st.layouts["mpz_t"]
        rd = lambda p: field_value(b.data, o, mz, p)         # noqa: E731
        neg, n = rd("neg"), rd("len")
        dig_off = o + mz.offset_of("dig")[0]
        ref = dict(b.refs).get(dig_off)
        if n == 0:
            return 0
        if ref is None or ref[0] != "heap":
            raise MigrationError(f"cannot load {b.label or 'an int'}: its digits are not in the heap")
        digits = self.P.blocks[ref[1]].data[ref[2]:]
        db = self.cv.dig_s // 8
        v = int.from_bytes(digits[:n * db], "little")
        return -v if neg else v

    def ints_to_small(self) -> dict[int, int]:
        """mpz ints whose value fits the target's small ints: index -> the small-int word."""
        out, self.dropped_digits, self.int_values, self.digits_value = {}, set(), {}, {}
        B = self.cv.bits_t
        for i, b in enumerate(self.P.blocks):
            if b.role != "int":
                continue
            v = self.int_value(b)
            self.int_values[i] = v
            for _o, r in b.refs:
                if r[0] == "heap" and self.P.blocks[r[1]].role == "mpz.digits":
                    digits_of = r[1]
                    break
            else:
                digits_of = None
            if -(1 << (B - 1)) <= v < (1 << (B - 1)):
                out[i] = ((v << 1) | 1) & ((1 << 8 * self.W) - 1)
                if digits_of is not None:
                    self.dropped_digits.add(digits_of)
                self.count_conv("int to small int")
            elif digits_of is not None:
                self.digits_value[digits_of] = abs(v)
        return out

    def new_ints(self, roots) -> list[int]:
        """Small ints too big for the target's small ints (("newint", v) references) made mpz
        objects in the target's layout: the new blocks' indices."""
        from .export import PBlock
        new = []
        tt, mz = self.fw.struct("mp_obj_int_t"), self.fw.struct("mpz_t")
        base = tt.offset_of("mpz")[0]
        g = self.geo
        tables = [refs for _d, refs, _s in self.conv.values()] + [refs for _b, refs, _t in roots.values()]
        for refs in tables:
            for off, r in list(refs.items()):
                if r[0] != "newint":
                    continue
                v = r[1]
                n = self.ndigits(abs(v))
                digits = bytearray(abs(v).to_bytes(n * self.cv.dig_t // 8, "little"))
                digits += bytes(-len(digits) % g.block_size)
                di = len(self.P.blocks)
                self.P.blocks.append(PBlock("mpz.digits", f"digits of {v}", len(digits), bytes(digits), []))
                self.st.structs_of.append(None)
                self.conv[di] = (digits, {}, [(0, len(digits), 0, 1, 1)])
                obj = bytearray(tt.size + (-tt.size % g.block_size))
                for f, value in (("neg", int(v < 0)), ("fixed_dig", 0), ("alloc", n), ("len", n)):
                    o, ft = mz.offset_of(f)
                    cur = int.from_bytes(obj[base + o:base + o + ft.size], "little")
                    cur |= value << ft.bits[0] if ft.bits else value
                    obj[base + o:base + o + ft.size] = cur.to_bytes(ft.size, "little")
                ii = len(self.P.blocks)
                self.P.blocks.append(PBlock("int", f"int {v}", len(obj), bytes(obj), []))
                self.st.structs_of.append(None)
                self.conv[ii] = (obj, {0: ("sym", "mp_type_int", 0), base + mz.offset_of("dig")[0]: ("heap", di, 0)},
                                 [(0, len(obj), 0, 1, 1)])
                self.int_values[ii] = v
                refs[off] = ("heap", ii, 0)
                new += [di, ii]
                self.count_conv("small int to int")
        return new

    def count_conv(self, what):
        self.cv.count(what)

    def ndigits(self, v: int) -> int:
        return max(1, -(-v.bit_length() // self.cv.dig_t))

    def regroup(self, v: int, b) -> bytearray:
        """An mpz's digits in the target's digit size (the value, little-endian digits)."""
        if self.cv.dig_s != self.cv.dig_t:
            self.count_conv("mpz digits regrouped")
        n = self.ndigits(v) * self.cv.dig_t // 8
        return bytearray(v.to_bytes(max(n, len(b.data)) if self.cv.dig_s == self.cv.dig_t else n, "little"))

    def int_digits(self, i, data):
        """An mpz kept as an mpz: ``len`` and ``alloc`` in the target's digits."""
        if self.cv.dig_s == self.cv.dig_t:
            return data
        tt, mz = self.fw.struct("mp_obj_int_t"), self.fw.struct("mpz_t")
        base = tt.offset_of("mpz")[0]
        n = self.ndigits(abs(self.int_values[i]))
        out = bytearray(data)
        for f in ("len", "alloc"):
            o, ft = mz.offset_of(f)
            cur = int.from_bytes(out[base + o:base + o + ft.size], "little")
            if ft.bits:
                mask = ((1 << ft.bits[1]) - 1) << ft.bits[0]
                cur = (cur & ~mask) | (n << ft.bits[0])
            else:
                cur = n
            out[base + o:base + o + ft.size] = cur.to_bytes(ft.size, "little")
        return out

    # -- qstr pool at the target's width --------------------------------------------------------------------
    def fill_pool(self, buf, at, chunk_addr, texts, rom_head, total):
        L, qp, W = self.L, self.qp, self.W
        alloc = max(len(texts), 1)

        def put(name, v):
            t = L.field("qstr_pool_t." + name)
            off = L.off("qstr_pool_t." + name)
            if t.bits is not None:
                cur = int.from_bytes(buf[off:off + t.size], "little")
                cur |= (v & ((1 << t.bits[1]) - 1)) << t.bits[0]
                v = cur
            buf[off:off + t.size] = v.to_bytes(t.size, "little")
        put("prev", rom_head)
        put("total_prev_len", total)
        put("alloc", alloc)
        put("len", len(texts))
        q0 = L.off("qstr_pool_t.qstrs")
        hashes = q0 + W * alloc
        lengths = hashes + qp.hash_size * alloc
        if qp.has_hash:
            put("hashes", at + hashes)
        put("lengths", at + lengths)
        p = chunk_addr
        for k, t in enumerate(texts):
            self.put(buf, q0 + W * k, p)
            p += len(t) + 1
            if qp.has_hash:
                buf[hashes + qp.hash_size * k:hashes + qp.hash_size * (k + 1)] = \
                    compute_hash(t, qp.hash_size).to_bytes(qp.hash_size, "little")
            if len(t) >= 1 << (8 * qp.len_size):
                raise MigrationError(f"cannot load: the string {t[:20]!r}... is too long for a target qstr")
            buf[lengths + qp.len_size * k:lengths + qp.len_size * (k + 1)] = len(t).to_bytes(qp.len_size, "little")

    def qstr_pool(self, texts) -> bytearray:
        alloc = max(len(texts), 1)
        n = self.L.off("qstr_pool_t.qstrs") + alloc * (self.W + self.qp.hash_size + self.qp.len_size)
        return bytearray(n)

    # -- references ---------------------------------------------------------------------------------------------
    def resolve(self, buf, off, ref, where):
        kind = ref[0]
        if kind == "heap":
            if ref[1] in self.replace:
                if ref[2]:
                    raise MigrationError(f"internal: {where} points inside an int made small")
                self.put(buf, off, self.replace[ref[1]])
                return
            if ref[1] not in self.conv:
                raise MigrationError(f"internal: {where} refers to a block that was not kept ({ref})")
            spans = self.conv[ref[1]][2]
            self.put(buf, off, self.addr[ref[1]] + (map_offset(spans, ref[2]) if ref[2] else 0))
        elif kind == "lit":
            self.put(buf, off, ref[1])
        elif kind == "sym":
            self.put(buf, off, self.symbol(ref[1], ref[2], where))
        elif kind == "ctx":
            o, t = self.vm_fields.get(ref[1], (None, None))
            if o is None:
                raise MigrationError(f"cannot load: {where} refers to vm.{ref[1]}, which the target firmware does "
                                     "not have")
            inner = map_offset(self.root_spans[ref[1]], ref[2]) if ref[2] and ref[1] in self.root_spans else ref[2]
            self.put(buf, off, self.ctx_addr + self.vm_off + o + inner)
        elif kind == "qobj":
            self.put(buf, off, self.q(ref[1]) << 3 | 2)
        elif kind == "qword":
            self.put(buf, off, self.q(ref[1]))
        elif kind == "qshort":
            buf[off:off + 2] = self.q(ref[1]).to_bytes(2, "little")
        elif kind == "qvar":
            buf[off:off + ref[2]] = _encode_uint_padded(self.q(ref[1]), ref[2], ref[1])
        else:
            raise MigrationError(f"internal: unknown reference kind {kind!r}")

    def q(self, text):
        return self.qid[text.encode("latin-1")]

    def symbol(self, name, delta, where):
        s = self.fw.symbols.get(name) or self.fw.symbols.get(RENAMED.get(name, ""))
        if s is None:
            raise MigrationError(f"cannot load: {where} refers to {name}, which does not exist in the target firmware")
        if s.kind == "func":
            return s.addr | (1 if self.W == 4 else 0)       # Thumb bit on the Cortex-M3, none on RISC-V
        if delta:
            src = self.st.sym_sizes.get(name, 0)
            if src and src != s.size:
                if delta * s.size % src:
                    raise MigrationError(f"cannot load: {where} points {delta} bytes into {name}, which has no "
                                         "counterpart in the target's layout")
                delta = delta * s.size // src
        if not 0 <= delta < max(s.size, 1):
            raise MigrationError(f"cannot load: {where} points {delta} bytes into {name} ({s.size} bytes in the target)")
        return s.addr + delta

    # -- mp_state_ctx.vm --------------------------------------------------------------------------------------
    def convert_roots(self):
        ctx_t = self.fw.variable_type("mp_state_ctx")
        self.vm_off, vm = ctx_t.field("vm")
        self.vm_fields = vm.fields
        self.root_spans = {}
        out = {}
        for name, (data, refs) in self.P.roots.items():
            if name not in vm.fields:
                if any(data):
                    raise MigrationError(f"cannot load: the interpreter's vm.{name} is in use and the target firmware "
                                         "has no such field")
                continue
            ts, tt = self.st.vm.fields[name][1], vm.fields[name][1]
            refs = dict(refs)
            if ts.kind == "array" and ts.element.size == 1 and tt.element is not None and tt.element.size == 1:
                buf = bytearray(tt.size)
                buf[:min(len(data), tt.size)] = data[:tt.size]
                spans = [(0, len(data), 0, 1, 1)]
            else:
                buf, refs, spans = self.cv.struct(data, refs, _wrap(ts), _wrap(tt), f"vm.{name}")
                buf = buf[:tt.size]
            self.root_spans[name] = spans
            out[name] = (buf, refs, tt)
        return out

    def write_roots_across(self, roots, qpool_addr):
        vm = self.vm_fields
        for name, (buf, refs, _tt) in roots.items():
            buf = bytearray(buf)
            for off, ref in refs.items():
                self.resolve(buf, off, ref, f"vm.{name}")
            o = vm[name][0]
            self.ctx[self.vm_off + o:self.vm_off + o + len(buf)] = buf
        for name, value in (("last_pool", qpool_addr), ("qstr_last_chunk", 0), ("qstr_last_alloc", 0),
                            ("qstr_last_used", 0)):
            o, t = vm[name]
            self.ctx[self.vm_off + o:self.vm_off + o + t.size] = value.to_bytes(t.size, "little")
        if "map_lookup_cache" in vm:
            o, t = vm["map_lookup_cache"]
            self.ctx[self.vm_off + o:self.vm_off + o + t.size] = bytes(t.size)

    # -- dicts and sets with the target's hashes -------------------------------------------------------------------
    def rehash_all(self, keep, roots):
        from .rehash import Rehasher
        r = Rehasher(self)
        for i in keep:
            sname = self.st.structs_of[i]
            if sname:
                r.tables_in(self.conv[i][0], self.conv[i][1], self.fw.struct(sname), self.P.blocks[i])
        for name, (buf, refs, tt) in roots.items():
            r.tables_in(buf, refs, _wrap(tt), None, where=f"vm.{name}")
        self.rehashed = r.count


class _Wrap:
    """A root field's type as a one-field struct (so nested maps are found by path)."""

    def __init__(self, t):
        self.kind, self.fields, self.size, self.name, self.bits = "struct", {"v": (0, t)}, t.size, None, None
        self.count, self.element = None, None

    def offset_of(self, path):
        return self.fields["v"]


def _wrap(t):
    return _Wrap(t)



def load_across(st: State, fw, ctx_addr: int, ctx: bytes, geo) -> Loaded:
    return AcrossLoader(st, fw, ctx_addr, ctx, geo).run_across()

"""Rebuild a portable state (sim.mpy.portable.export) in another firmware's heap.

Host-side, on bytes: the target is described by a fresh boot of the new firmware
stopped at its restore point (its ``mp_state_ctx``, its heap geometry). Measured
simpler and exact than calling the target's allocators: the blocks are laid out
compactly from the pool start in their old order, so the alloc table is written
directly, and nothing runs on the device before the state is complete.

Steps: check every block's layout against the target's DWARF (a struct that changed
is converted when a converter exists, else refused naming the object); intern the
qstrs the target's ROM lacks into one new heap pool (+ one chunk of text); resolve
each reference (a missing symbol refuses, naming the object that needs it); write
the root fields of ``vm`` by name; set the GC fields for the target's heap; rebuild
every dict/set table with the target's hashes; walk the result with the target
firmware: any problem refuses.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from ..geometry import BLOCKS_PER_ATB, HeapGeometry
from ..objects import Layout
from .qstrs import QstrPools
from ..qstr_pools import compute_hash
from ..relocate import EMPTY_KEYS, _Hasher, layout_holds
from ..walk import Walker, _Rom
from . import MigrationError
from .convert import CONVERTERS, move_sys_path
from .export import Portable, _Names

_U32 = struct.Struct("<I")
DROPPED_ROLES = ("qstr.pool", "qstr.chunk")       # rebuilt: the target numbers its qstrs itself

# the struct that lays out a block of each role (compared between the two firmwares)
ROLE_STRUCT = {
    "raw_code": "mp_raw_code_t", "fun_bc": "mp_obj_fun_bc_t", "gen_wrap": "mp_obj_fun_bc_t",
    "gen_instance": "mp_obj_gen_instance_t", "instance": "mp_obj_instance_t", "str": "mp_obj_str_t",
    "bytes": "mp_obj_str_t", "type": "mp_obj_type_t", "module_context": "mp_module_context_t",
    "module": "mp_obj_module_t", "list": "mp_obj_list_t", "dict": "mp_obj_dict_t", "set": "mp_obj_set_t",
    "frozenset": "mp_obj_set_t", "int": "mp_obj_int_t", "float": "mp_obj_float_t", "closure": "mp_obj_closure_t",
    "tuple": "mp_obj_tuple_t", "bytearray": "mp_obj_array_t", "array": "mp_obj_array_t",
    "memoryview": "mp_obj_array_t", "deque": "mp_obj_deque_t", "namedtuple": "mp_obj_tuple_t",
    "bound_meth": "mp_obj_bound_meth_t", "cell": "mp_obj_cell_t", "property": "mp_obj_property_t",
}
# firmware objects renamed between releases (1.21 dropped the "u" of the u-modules): the
# same object, so a reference to the old name resolves to the new one
RENAMED = {"mp_module_ustruct": "mp_module_struct", "mp_module_uarray": "mp_module_array",
           "mp_module_uerrno": "mp_module_errno", "mp_module_ucollections": "mp_module_collections"}
EXTRA_STRUCTS = ("mp_code_state_t", "mp_obj_exception_t", "mp_map_t", "mp_set_t", "mpz_t", "mp_module_constants_t")


@dataclass
class Loaded:
    geometry: HeapGeometry
    ctx: bytes
    atb: bytes
    ftb: bytes
    pool: bytes
    used: list[bool]
    objects: int
    qstrs_interned: int
    rehashed_tables: int
    converted: dict[str, int]
    load_s: float


def _struct_shape(fw, name):
    try:
        s = fw.struct(name)
    except Exception:  # noqa: BLE001 - a struct this build does not have
        return None
    return s.size, tuple(sorted((k, o, t.size, t.bits) for k, (o, t) in s.fields.items()))


class Loader:
    def __init__(self, portable: Portable, fw, ctx_addr: int, ctx: bytes, geo: HeapGeometry):
        self.P, self.fw, self.ctx_addr, self.geo = portable, fw, ctx_addr, geo
        self.ctx = bytearray(ctx)
        self.L = Layout(fw)
        self.rom = _Rom(fw)
        self.names = _Names(fw)
        self.converted: dict[str, int] = {}

    # -- layouts ------------------------------------------------------------------------------------
    def check_layouts(self, source_fw) -> set[str]:
        """Roles whose struct differs between the firmwares: converted (raw_code) or refused."""
        changed = set()
        roles = {b.role for b in self.P.blocks}
        for role in roles:
            s = ROLE_STRUCT.get(role)
            if s is None or _struct_shape(source_fw, s) == _struct_shape(self.fw, s):
                continue
            changed.add(role)
        for s in EXTRA_STRUCTS:
            if _struct_shape(source_fw, s) != _struct_shape(self.fw, s):
                raise MigrationError(f"cannot migrate: {s} differs between the firmwares and mpsim has no converter")
        for role in changed - set(CONVERTERS):
            b = next(b for b in self.P.blocks if b.role == role)
            raise MigrationError(f"cannot migrate {b.label or role}: the layout of {ROLE_STRUCT[role]} differs "
                                 "in the new firmware and mpsim has no converter for it")
        return changed

    # -- qstrs --------------------------------------------------------------------------------------
    def rom_qstrs(self) -> tuple[int, dict[bytes, int], int]:
        """(address of the newest ROM pool, text -> qstr of every ROM qstr, count)."""
        L, g = self.L, self.geo
        pools = QstrPools(L)
        pool = _U32.unpack_from(self.ctx, L.off("mp_state_ctx_t.vm.last_pool"))[0]
        while g.pool_start <= pool < g.pool_end:          # a pool the fresh boot made: not kept
            pool = self.word(pool + L.off("qstr_pool_t.prev"))
        head = pool
        total = L.read_uint("qstr_pool_t.total_prev_len", pool, self.romread) + self.word(pool + L.off("qstr_pool_t.len"))
        table: dict[bytes, int] = {}
        ls = pools.len_size
        while pool:                                       # every ROM pool, newest first
            first = L.read_uint("qstr_pool_t.total_prev_len", pool, self.romread)
            n = self.word(pool + L.off("qstr_pool_t.len"))
            ptrs = struct.unpack(f"<{n}I", self.romread(pool + L.off("qstr_pool_t.qstrs"), 4 * n))
            lens = self.romread(self.word(pool + L.off("qstr_pool_t.lengths")), ls * n)
            for i, p in enumerate(ptrs):
                if first + i == 0:
                    continue                              # MP_QSTRnull: never a reference's qstr
                length = int.from_bytes(lens[ls * i:ls * (i + 1)], "little")
                table.setdefault(self.romread(p, length), first + i)
            pool = self.word(pool + L.off("qstr_pool_t.prev"))
        return head, table, total

    def romread(self, a: int, n: int) -> bytes:
        got = self.rom.read(a, n)
        if got is None:
            raise MigrationError(f"internal: {a:#x} is not in the new firmware's image")
        return got

    def word(self, a: int) -> int:
        return _U32.unpack(self.romread(a, 4))[0]

    # -- the whole load -----------------------------------------------------------------------------
    def run(self, source_fw) -> Loaded:
        t0 = time.perf_counter()
        P, L, g = self.P, self.L, self.geo
        if move_sys_path(P, self.fw.variable_type("mp_state_ctx").field("vm")[1].fields):
            self.converted["sys.path"] = 1
        changed = self.check_layouts(source_fw)
        keep = [i for i, b in enumerate(P.blocks) if b.role not in DROPPED_ROLES]
        blocks = list(P.blocks)
        src_L = Layout(source_fw)
        for i in keep:
            if blocks[i].role in changed:
                blocks[i] = CONVERTERS[blocks[i].role](blocks[i], src_L, L)
                self.converted[blocks[i].role] = self.converted.get(blocks[i].role, 0) + 1
        _rom_head, _rom_total, dynamic, qid = self.number_qstrs()
        addr, (qpool_addr, qpool), (chunk_addr, chunk) = self.place([(i, blocks[i].size) for i in keep], dynamic)
        self.fill_qstr_pool(qpool, qpool_addr, chunk_addr, dynamic)
        pool = bytearray(g.pool_end - g.pool_start)
        resolve = _Resolver(self, addr, qid, set(range(len(P.blocks))) - set(keep))
        resolve.source_fw = source_fw
        for i in keep:
            b = blocks[i]
            data = bytearray(b.data)
            for off, ref in b.refs:
                resolve.apply(data, off, ref, b)
            o = addr[i] - g.pool_start
            pool[o:o + b.size] = data
        o = qpool_addr - g.pool_start
        pool[o:o + len(qpool)] = qpool
        o = chunk_addr - g.pool_start
        pool[o:o + len(chunk)] = chunk
        self.write_roots(resolve, qpool_addr)
        self.write_mem()
        spans = [(addr[i], blocks[i].size, blocks[i].finaliser) for i in keep]
        spans += [(qpool_addr, len(qpool), False), (chunk_addr, len(chunk), False)]
        atb, ftb, used = self.gc_tables(spans)
        # hash tables with the target's hashes, then the proof: the target's own walk
        tw = Walker(self.fw, self.ctx_addr, bytes(self.ctx), g.pool_start, bytes(atb), pool)
        walk = tw.run()
        if walk.problems:
            p = walk.problems[0]
            raise MigrationError(f"cannot migrate: the rebuilt heap has {len(walk.problems)} object(s) the new "
                                 f"firmware's walk does not understand, first {p}")
        rehashed = self.rehash(tw, walk, pool)
        if len(walk.blocks) != len(spans):
            raise MigrationError(f"internal: rebuilt {len(spans)} blocks but {len(walk.blocks)} are reachable")
        return Loaded(geometry=g, ctx=bytes(self.ctx), atb=bytes(atb), ftb=bytes(ftb), pool=bytes(pool), used=used,
                      objects=len(keep), qstrs_interned=len(dynamic), rehashed_tables=rehashed,
                      converted=self.converted, load_s=time.perf_counter() - t0)

    # -- where everything goes in the target pool ----------------------------------------------------
    NOT_FIT = "cannot migrate: the live data ({} bytes) does not fit the new firmware's heap pool ({} bytes)"

    def number_qstrs(self) -> tuple[int, int, list[bytes], dict[bytes, int]]:
        """ROM qstrs keep their target numbers; the rest follow them, in one new pool."""
        rom_head, rom, rom_total = self.rom_qstrs()
        dynamic = sorted(t for t in self.P.qstrs if t not in rom)
        qid = dict(rom)
        qid.update((t, rom_total + k) for k, t in enumerate(dynamic))
        return rom_head, rom_total, dynamic, qid

    def place(self, sizes: list[tuple[int, int]], dynamic: list[bytes]):
        """Blocks (index, bytes) one after another from the pool's start, then the new qstr
        pool and the chunk of its texts, each a whole number of GC blocks: their addresses,
        (pool address, zeroed pool), (chunk address, chunk). Refused when it does not fit."""
        g, bs = self.geo, self.geo.block_size
        addr, cursor = {}, g.pool_start
        for i, size in sizes:
            addr[i] = cursor
            cursor += size
        qpool = self.qstr_pool(dynamic)
        qpool += bytes(-len(qpool) % bs)
        qpool_addr, cursor = cursor, cursor + len(qpool)
        chunk = b"".join(t + b"\0" for t in dynamic)
        chunk += bytes(-len(chunk) % bs or (bs if not chunk else 0))
        chunk_addr, cursor = cursor, cursor + len(chunk)
        if cursor > g.pool_end:
            raise MigrationError(self.NOT_FIT.format(cursor - g.pool_start, g.pool_end - g.pool_start))
        return addr, (qpool_addr, qpool), (chunk_addr, chunk)

    def gc_tables(self, spans: list[tuple[int, int, bool]]) -> tuple[bytearray, bytearray, list[bool]]:
        """The alloc and finaliser tables for blocks (address, bytes, has a finaliser), and
        which GC blocks are used."""
        g, bs = self.geo, self.geo.block_size
        atb, ftb = bytearray(g.atb_len), bytearray(g.ftb_len)
        used = [False] * g.n_blocks
        for a, size, fin in spans:
            first = (a - g.pool_start) // bs
            for k in range(size // bs):
                j = first + k
                atb[j // BLOCKS_PER_ATB] |= (1 if k == 0 else 2) << (2 * (j % BLOCKS_PER_ATB))
                used[j] = True
            if fin and ftb:
                ftb[first // 8] |= 1 << (first % 8)
        return atb, ftb, used

    # -- the new heap qstr pool (split layout, 1.19+) -----------------------------------------------
    def qstr_pool(self, texts) -> bytearray:
        qp = QstrPools(self.L)
        alloc = max(len(texts), 1)
        return bytearray(self.L.off("qstr_pool_t.qstrs") + qp.entry_bytes(alloc))

    def fill_qstr_pool(self, buf, at, chunk_addr, texts):
        L, qp = self.L, QstrPools(self.L)
        alloc = max(len(texts), 1)
        rom_head = _U32.unpack_from(self.ctx, L.off("mp_state_ctx_t.vm.last_pool"))[0]
        while self.geo.pool_start <= rom_head < self.geo.pool_end:
            rom_head = self.word(rom_head + L.off("qstr_pool_t.prev"))
        total = L.read_uint("qstr_pool_t.total_prev_len", rom_head, self.romread) + \
            self.word(rom_head + L.off("qstr_pool_t.len"))
        put = lambda name, v: _U32.pack_into(buf, L.off("qstr_pool_t." + name), v)  # noqa: E731
        put("prev", rom_head)
        put("total_prev_len", total)             # is_sorted (1.22+, the top bit) stays 0: a heap pool
        put("alloc", alloc)
        put("len", len(texts))
        q0 = L.off("qstr_pool_t.qstrs")
        hashes = q0 + 4 * alloc
        lengths = hashes + qp.hash_size * alloc
        if qp.has_hash:
            put("hashes", at + hashes)
        put("lengths", at + lengths)
        p = chunk_addr
        for i, t in enumerate(texts):
            _U32.pack_into(buf, q0 + 4 * i, p)
            p += len(t) + 1
            if qp.has_hash:
                buf[hashes + qp.hash_size * i:hashes + qp.hash_size * (i + 1)] = \
                    compute_hash(t, qp.hash_size).to_bytes(qp.hash_size, "little")
            if len(t) >= 1 << (8 * qp.len_size):
                raise MigrationError(f"cannot migrate: the string {t[:20]!r}... is longer than a qstr of the new "
                                     "firmware can be")
            buf[lengths + qp.len_size * i:lengths + qp.len_size * (i + 1)] = len(t).to_bytes(qp.len_size, "little")

    # -- mp_state_ctx ---------------------------------------------------------------------------------
    def write_roots(self, resolve, qpool_addr):
        ctx_t = self.fw.variable_type("mp_state_ctx")
        vm_off, vm = ctx_t.field("vm")
        for name, (data, refs) in self.P.roots.items():
            if name not in vm.fields:
                if any(data):
                    raise MigrationError(f"cannot migrate: the interpreter's vm.{name} is in use and the new "
                                         "firmware has no such field")
                continue
            o, t = vm.fields[name]
            if t.size != len(data):
                if any(data):
                    raise MigrationError(f"cannot migrate: vm.{name} is {len(data)} bytes here and {t.size} in "
                                         "the new firmware")
                continue
            buf = bytearray(data)
            for off, ref in refs:
                resolve.apply(buf, off, ref, None, where=f"vm.{name}")
            self.ctx[vm_off + o:vm_off + o + len(buf)] = buf
        for name, value in (("last_pool", qpool_addr), ("qstr_last_chunk", 0), ("qstr_last_alloc", 0),
                            ("qstr_last_used", 0)):
            o, t = vm.fields[name]
            self.ctx[vm_off + o:vm_off + o + t.size] = value.to_bytes(t.size, "little")
        if "map_lookup_cache" in vm.fields:       # indexes into maps: a hint, start cold
            o, t = vm.fields["map_lookup_cache"]
            self.ctx[vm_off + o:vm_off + o + t.size] = bytes(t.size)

    def write_mem(self):
        from .. import profiles
        ctx_t = self.fw.variable_type("mp_state_ctx")
        profile = profiles.for_firmware(self.fw)
        area_off, area_t = ctx_t.offset_of(profile.gc_area)
        g = self.geo
        values = {"gc_last_free_atb_index": 0}
        if "gc_last_used_block" in area_t.fields:
            values["gc_last_used_block"] = g.n_blocks - 1
        for name, value in values.items():
            off, t = area_t.field(name)
            self.ctx[area_off + off:area_off + off + t.size] = value.to_bytes(t.size, "little")
        for name, value in self.P.mem.items():
            for path in (profile.gc_area, "mem"):
                try:
                    off, t = ctx_t.offset_of(f"{path}.{name}")
                except Exception:  # noqa: BLE001
                    continue
                self.ctx[off:off + t.size] = value.to_bytes(t.size, "little")
                break

    # -- dict/set tables ------------------------------------------------------------------------------
    def rehash(self, tw: Walker, walk, pool: bytearray) -> int:
        h = _TargetHasher(tw, tw.w, tw.read, {})
        L, count = tw.L, 0
        for m, kind in walk.tables.items():
            if kind == "map":
                if tw.w(m) & 4:                   # is_ordered: a plain array
                    continue
                alloc, table, step = tw.w(m + L.off("mp_map_t.alloc")), tw.w(m + L.off("mp_map_t.table")), 8
            else:
                alloc, table, step = tw.w(m + L.off("mp_set_t.alloc")), tw.w(m + L.off("mp_set_t.table")), 4
            if alloc == 0:
                continue
            base = table - self.geo.pool_start
            keys = [(i, tw.w(table + step * i)) for i in range(alloc)]
            entries = [(k, tw.w(table + step * i + 4) if kind == "map" else None, h.hash(k))
                       for i, k in keys if k not in EMPTY_KEYS]
            live = [i for i, k in keys if k not in EMPTY_KEYS]
            if layout_holds([k != 0 for _i, k in keys], [(i, hv) for i, (_k, _v, hv) in zip(live, entries)], alloc):
                continue                          # found where they are: order and iterators kept
            if m in walk.iterated:
                raise MigrationError(f"an iterator is part-way through a {'dict' if kind == 'map' else 'set'} whose "
                                     f"keys hash differently on the new firmware: it would skip or repeat keys")
            pool[base:base + step * alloc] = bytes(step * alloc)
            for key, value, hv in entries:
                pos = hv % alloc
                while _U32.unpack_from(pool, base + step * pos)[0] != 0:
                    pos = (pos + 1) % alloc
                _U32.pack_into(pool, base + step * pos, key)
                if kind == "map":
                    _U32.pack_into(pool, base + step * pos + 4, value)
            count += 1
        return count


class _TargetHasher(_Hasher):
    """The relocator's hasher on the rebuilt heap; a hash-less qstr build hashes text on demand."""

    def qstr_hash(self, q: int) -> int:
        h, text = self.qstr_entry(q)
        return h or compute_hash(text, 2)

    def hash(self, k: int, depth: int = 0) -> int:
        if k & 7 == 2:                               # MP_OBJ_NEW_QSTR in the 1.19+ representation
            return self.qstr_hash(k >> 3)
        return super().hash(k, depth)


class _Resolver:
    def __init__(self, loader: Loader, addr, qid, dropped):
        self.ld, self.addr, self.qid, self.dropped = loader, addr, qid, dropped
        self.syms = loader.fw.symbols
        self.vm_off, self.vm = loader.fw.variable_type("mp_state_ctx").field("vm")

    def apply(self, buf: bytearray, off: int, ref: tuple, block, where: str = ""):
        kind = ref[0]
        if kind == "heap":
            if ref[1] in self.dropped:
                raise MigrationError(f"internal: a reference to a rebuilt qstr block from {where or block.role}")
            _U32.pack_into(buf, off, self.addr[ref[1]] + ref[2])
        elif kind == "sym":
            _U32.pack_into(buf, off, self.symbol(ref[1], ref[2], block, where))
        elif kind == "ctx":
            o, t = self.vm.fields.get(ref[1], (None, None))
            if o is None:
                raise MigrationError(f"cannot migrate: {self.who(block, where)} refers to vm.{ref[1]}, which the "
                                     "new firmware does not have")
            _U32.pack_into(buf, off, self.ld.ctx_addr + self.vm_off + o + ref[2])
        elif kind == "qobj":
            _U32.pack_into(buf, off, self.q(ref[1]) << 3 | 2)
        elif kind == "qword":
            _U32.pack_into(buf, off, self.q(ref[1]))
        elif kind == "qshort":
            q = self.q(ref[1])
            if q > 0xFFFF:
                raise MigrationError(f"cannot migrate: qstr {ref[1]!r} is numbered beyond 16 bits in the new firmware")
            buf[off:off + 2] = q.to_bytes(2, "little")
        elif kind == "qvar":
            buf[off:off + ref[2]] = _encode_uint_padded(self.q(ref[1]), ref[2], ref[1])
        else:
            raise MigrationError(f"internal: unknown reference kind {kind!r}")

    def source_type_name(self, sym: str) -> str:
        """A firmware type's Python name (module.Name when it is a module's), from the old firmware."""
        from ..objects import Types
        from .. import profiles
        fw = self.source_fw
        rom = _Rom(fw)
        read = lambda a, n: rom.read(a, n) or bytes(n)          # noqa: E731
        w = lambda a: _U32.unpack(read(a, 4))[0]                 # noqa: E731
        L = Layout(fw)
        try:
            q = Types(L, profiles.for_firmware(fw)).name_qstr(fw.symbol(sym).addr, read)
            head = fw.symbol("mp_qstr_const_pool").addr
            found = QstrPools(L).entry(q, head, w, read)
        except Exception:  # noqa: BLE001 - a name for a message: the symbol will do
            found = None
        name = found[1].decode() if found else sym
        module = sym.split("_")[0] if not sym.startswith("mp_type_") else ""
        return f"{module}.{name}" if module else name

    def q(self, text: str) -> int:
        return self.qid[text.encode("latin-1")]

    def who(self, block, where):
        return where or (block.label or block.role)

    def symbol(self, name: str, delta: int, block, where) -> int:
        s = self.syms.get(name)
        if s is None and name in RENAMED:
            s = self.syms.get(RENAMED[name])
        if s is None:
            if block is not None and delta == 0 and block.role == name.removeprefix("mp_type_"):
                t = self.source_type_name(name)
                raise MigrationError(f"cannot migrate: instance of {t}: type {t} does not exist in the new firmware "
                                     f"(no {name})")
            what = "the builtin " if name.endswith("_obj") or name.startswith("mp_module_") else ""
            raise MigrationError(f"cannot migrate: {self.who(block, where)} refers to {what}{name}, which does not "
                                 "exist in the new firmware")
        d = delta & ~1 if s.kind == "func" else delta
        if not 0 <= d < max(s.size, 1):
            raise MigrationError(f"cannot migrate: {self.who(block, where)} points {d} bytes into {name}, which is "
                                 f"{s.size} bytes in the new firmware")
        return s.addr + delta


def _encode_uint_padded(v: int, width: int, text: str) -> bytes:
    """mp_encode_uint with leading 0x80 bytes to keep the old width (the decoder accepts them)."""
    groups = []
    while True:
        groups.append(v & 0x7F)
        v >>= 7
        if not v:
            break
    if len(groups) > width:
        raise MigrationError(f"cannot migrate: the bytecode operand for qstr {text!r} needs {len(groups)} bytes "
                             f"in the new firmware, {width} in the old")
    groups += [0] * (width - len(groups))
    out = [g | 0x80 for g in reversed(groups)]
    out[-1] &= 0x7F
    return bytes(out)


def load(portable: Portable, source_fw, target_fw, ctx_addr: int, ctx: bytes, geo: HeapGeometry) -> Loaded:
    return Loader(portable, target_fw, ctx_addr, ctx, geo).run(source_fw)

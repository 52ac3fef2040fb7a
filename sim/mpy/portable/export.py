"""Walk a saved heap and name every reference symbolically: the portable form.

The walk is the relocator's (sim.mpy.walk): it already knows every pointer-holding
word. On top of it, this module finds the words a *firmware change* moves that a
heap move does not: type words of objects whose type is in the firmware, function
pointers (polymorphic iterators, slots of classes made at run time), and qstrs
wherever an object keeps one (object slots as MP_OBJ_NEW_QSTR, the u16 name of a
class, the fields of a namedtuple class, traceback entries, and the var-uint qstr
operands of bytecode, including the function and argument names of its prelude).

A reference (``Ref``) is one of
  ("heap", block index, byte offset)   a pointer into another live block
  ("sym", name, byte offset)           a pointer into the firmware (Thumb bit in the offset)
  ("ctx", vm field, byte offset)       a pointer into mp_state_ctx.vm (e.g. sys.path)
  ("qobj", text)                       an MP_OBJ_NEW_QSTR word
  ("qword", text) / ("qshort", text)   a qstr stored as a word / as 16 bits
  ("qvar", text, width)                a var-uint qstr operand of ``width`` bytes
Everything else in a block is plain data and is carried as it is.
"""

from __future__ import annotations

import bisect
import struct
import time
from dataclasses import dataclass, field

from ...errors import SimError
from ..geometry import HeapGeometry
from ..walk import OBJ, Walker
from ..walk_context import prelude_signature
from . import GenerationError, MigrationError

_U32 = struct.Struct("<I").unpack_from
GENERATION = "mpy_v6"      # what this package migrates between (1.19 and later)


@dataclass
class PBlock:
    role: str
    label: str
    size: int                       # bytes (whole GC blocks)
    data: bytes                     # the block as saved; words named in refs are rewritten on load
    refs: list                      # (byte offset, Ref) pairs, in no particular order
    finaliser: bool = False


@dataclass
class Portable:
    source: dict                    # version, firmware name, fingerprint
    blocks: list[PBlock]
    roots: dict[str, tuple[bytes, list[tuple[int, tuple]]]]   # vm field -> (bytes, refs)
    mem: dict[str, int]             # GC settings kept across (threshold, auto collect)
    export_s: float = 0.0
    qstrs: set[bytes] = field(default_factory=set)

    @property
    def live_bytes(self) -> int:
        return sum(b.size for b in self.blocks)


class _Names:
    """Firmware addresses -> symbol names (objects and functions), by bisection."""

    def __init__(self, fw):
        rows = sorted((addr, max(size, 1), n) for n, (addr, size, kind) in fw.symbols.rows().items()
                      if kind in ("object", "func") and addr)
        self.starts = [r[0] for r in rows]
        self.rows = rows

    def name(self, v: int) -> tuple[str, int] | None:
        a = v & ~1
        i = bisect.bisect_right(self.starts, a) - 1
        # several symbols may start at one address (aliases): the first that contains it
        while i >= 0 and self.starts[i] <= a:
            s, n, name = self.rows[i]
            if a < s + n:
                return name, v - s
            i -= 1
            if a - self.starts[i + 1] > 65536:
                break
        return None


class Exporter:
    def __init__(self, fw, ctx_addr: int, ctx: bytes, geo: HeapGeometry, atb: bytes, pool: bytes,
                 ftb: bytes | None):
        self.fw = fw
        self.W = Walker(fw, ctx_addr, ctx, geo.pool_start, atb, pool)
        if self.W.profile.bytecode != GENERATION:
            raise GenerationError(f"MicroPython {_v(fw)}: only mpy v6 firmware (1.19 and later) can be migrated "
                                 f"(this one's bytecode is {self.W.profile.bytecode})")
        self.geo, self.ftb = geo, ftb
        self.names = _Names(fw)
        self.qstrs: set[bytes] = set()
        self.target = None              # the new firmware, when known: names what it lacks
        self.typed: dict[int, tuple] = {}  # type object address -> (role, its "sym" reference)

    def run(self) -> Portable:
        t0 = time.perf_counter()
        W = self.W
        walk = W.run()
        if walk.problems:
            self.refuse_missing_types(walk.problems)
            p = walk.problems[0]
            names = self.global_names(p.addr)
            named = f"the global {' and '.join(repr(n) for n in names)}: " if names else ""
            raise MigrationError(f"cannot migrate: {len(walk.problems)} heap object(s) not understood exactly, "
                                 f"first {named}{p}")
        self.order = sorted(walk.blocks)
        self.index = {a: i for i, a in enumerate(self.order)}
        self.walk = walk
        # each slot the walk found, by the block (or ctx) holding it
        by_block: dict[int, list] = {}
        ctx_slots = []
        head_of, start, size = W.head_of, W.pool_start, W.block
        for slot, tag in walk.slots.items():
            if W.in_pool(slot):
                h = head_of[(slot - start) // size]
                by_block.setdefault(start + h * size, []).append((slot, tag))
            else:
                ctx_slots.append((slot, tag))
        blocks = []
        pool, ref, w = W.pool, self.ref, W.w
        for a in self.order:
            blk = walk.blocks[a]
            refs: dict[int, tuple] = {}
            mine = by_block.get(a)
            if mine:
                mine.sort()
                for slot, tag in mine:
                    r = ref(w(slot), tag, slot)
                    if r is not None:
                        refs[slot - a] = r
            self.firmware_words(a, blk.role, refs)
            o = a - start
            blocks.append(PBlock(blk.role, blk.label, blk.size, pool[o:o + blk.size], list(refs.items()),
                                 self.finaliser(a)))
        roots, mem = self.roots(ctx_slots)
        return Portable(source=dict(version=list(fw_version(self.fw)), firmware=self.fw.path.name,
                                    fingerprint=self.fw.fingerprint),
                        blocks=blocks, roots=roots, mem=mem, export_s=time.perf_counter() - t0, qstrs=self.qstrs)

    def global_names(self, addr: int) -> list[str]:
        """The names in ``__main__``'s globals (vm.dict_main) bound to the object at ``addr``:
        what a refusal calls the object, so the user knows which one it is."""
        W, L = self.W, self.W.L
        try:
            m = W.ctx_addr + L.off("mp_state_ctx_t.vm.dict_main") + L.off("mp_obj_dict_t.map")
            alloc, table = W.w(m + L.off("mp_map_t.alloc")), W.w(m + L.off("mp_map_t.table"))
            out = []
            for i in range(min(alloc, 4096)):
                k, v = W.w(table + 2 * W.W * i), W.w(table + 2 * W.W * i + W.W)
                if v == addr and k & 7 == 2:
                    out.append(self.qstr_text(k >> 3).decode("latin-1"))
            return sorted(out)
        except SimError:
            return []

    def refuse_missing_types(self, problems) -> None:
        """An object of a firmware type the walk has no layout for cannot move anyway; when
        the new firmware does not even have the type, say that (the user can act on it)."""
        W, target = self.W, self.target
        for p in problems:
            name = p.type_name
            if target is None or not name or target.has_symbol(name) or not self.fw.has_symbol(name):
                continue
            t = self.fw.symbol(name).addr
            module = "" if name.startswith("mp_type_") else name.split("_")[0] + "."
            pyname = module + W.type_name(t)
            raise MigrationError(f"cannot migrate: instance of {pyname}: type {pyname} does not exist in the new "
                                 f"firmware ({name})")

    # -- references ------------------------------------------------------------------------------
    def ref(self, v: int, tag: str, where: int) -> tuple | None:
        W = self.W
        if tag == OBJ and v & 3:
            if v & 7 == 2:
                return self.qstr("qobj", v >> 3)
            return None                          # small int or immediate object: the same everywhere
        p = v & ~3 if tag == "tagptr" else v
        if p == 0:
            return None
        if W.in_pool(p):
            b = W.block_start(p)
            if b is None or b not in self.index:
                raise MigrationError(f"internal: pointer {p:#x} at {where:#x} is not in a live block")
            return ("heap", self.index[b], v - b)
        if W.in_ctx(p):
            return self.ctx_ref(v, where)
        return self.sym(v, where)

    def sym(self, v: int, where: int) -> tuple:
        found = self.names.name(v)
        if found is None:
            raise MigrationError(f"cannot migrate: the word at {where:#x} points to {v:#x} in the firmware, "
                                 "which no symbol names")
        return ("sym", found[0], found[1])

    def ctx_ref(self, v: int, where: int) -> tuple:
        W = self.W
        vm_off, vm = self.fw.variable_type("mp_state_ctx").field("vm")
        off = v - W.ctx_addr - vm_off
        for name, (o, t) in vm.fields.items():
            if o <= off < o + max(t.size, 1):
                return ("ctx", name, off - o)
        raise MigrationError(f"cannot migrate: the word at {where:#x} points into mp_state_ctx outside vm")

    def qstr(self, kind: str, q: int, *extra) -> tuple:
        text = self.qstr_text(q)
        self.qstrs.add(text)
        return (kind, text.decode("latin-1"), *extra)

    def qstr_text(self, q: int) -> bytes:
        W = self.W
        last = W.w(W.ctx_addr + W.L.off("mp_state_ctx_t.vm.last_pool"))
        try:
            pool, i = W.qstrs.locate(W.qstrs.chain(last), q)
        except SimError:
            raise MigrationError(f"cannot migrate: qstr {q} is in no qstr pool") from None
        return W.qstrs.text(pool, i)

    # -- words the heap walk leaves alone: firmware pointers and qstrs -----------------------------
    def firmware_words(self, a: int, role: str, refs: dict[int, tuple]) -> None:
        W = self.W
        t = W.w(a)
        typed = self.typed.get(t)
        if typed is None and t in W.type_names:
            typed = self.typed[t] = (W.role_for(W.type_names[t]), ("sym", W.type_names[t], 0))
        if typed is not None and typed[0] == role:
            refs[0] = typed[1]                   # an object whose type is in the firmware
        handler = self.ROLE_WORDS.get(role)
        if handler is not None:
            handler = getattr(self, handler)
            handler(a, refs)

    # roles whose blocks hold firmware pointers or qstrs outside the walk's slots
    ROLE_WORDS = {"polymorph_iter": "role_polymorph_iter", "type": "role_type", "traceback": "role_traceback",
                  "bytecode": "role_bytecode", "gen_instance": "role_gen_instance"}

    def role_gen_instance(self, a, refs):
        """Iterators a suspended for-loop keeps inline in the generator's value stack
        (mp_obj_iter_buf_t): their type word, and a polymorphic iterator's iternext, point
        into the firmware. Found with the walk's own stack typing at the generator's ip."""
        W, L = self.W, self.W.L
        cs = a + L.off("mp_obj_gen_instance_t.code_state")
        ip, sp = W.w(cs + L.off("mp_code_state_t.ip")), W.w(cs + L.off("mp_code_state_t.sp"))
        if ip == 0:
            return
        state = cs + L.off("mp_code_state_t.state")
        depth = (sp - state) // W.W + 1
        if depth <= 0:
            return
        fun = W.w(cs + L.off("mp_code_state_t.fun_bc"))
        code = W.w(fun + L.off("mp_obj_fun_bc_t.bytecode"))
        pre, insns = W.ctx_code(code, a)
        gen = W.bytecode_generation()
        n_exc = L.read_uint("mp_code_state_t.exc_sp_idx", cs, W.read)
        shapes = {tuple(gen.slot_kind(t) for t in s) for s, blocks in gen.stack_shapes(pre, insns).get(ip - code, ())
                  if len(s) == depth and len(blocks) == n_exc}
        shape = shapes.pop()                     # the walk refused anything but exactly one
        i = 0
        while i < depth:
            if shape[i] == "iter":
                slot = state + W.W * i
                t = W.w(slot)
                if t:
                    refs[slot - a] = self.sym(t, slot)
                    if W.type_names.get(t) == "mp_type_polymorph_iter":
                        refs[slot + W.W - a] = self.sym(W.w(slot + W.W), slot + W.W)
                i += 3
            i += 1

    def role_polymorph_iter(self, a, refs):
        W = self.W
        refs[W.W] = self.sym(W.w(a + W.W), a + W.W)

    def role_type(self, a, refs):
        """A class made at run time: its name, its slots (functions in the firmware), and a
        namedtuple class's field names."""
        W, L = self.W, self.W.L
        refs[L.off("mp_obj_type_t.name")] = self.qstr("qshort", W.types.name_qstr(a, W.read))
        for name, slot in W.types.slot_addrs(a, W.read).items():
            v = W.w(slot)
            if name not in ("parent", "locals_dict") and v:
                refs[slot - a] = self.sym(v, slot)
        if W.is_namedtuple_type(a):
            n_off = L.off("mp_obj_namedtuple_type_t.n_fields")
            f_off = L.off("mp_obj_namedtuple_type_t.fields")
            for i in range(W.w(a + n_off)):
                q = int.from_bytes(W.read(a + f_off + _qstr_size(L) * i, _qstr_size(L)), "little")
                refs[f_off + _qstr_size(L) * i] = self.qstr("qshort" if _qstr_size(L) == 2 else "qword", q)

    def role_traceback(self, a, refs):
        W, L = self.W, self.W.L
        exc = self.walk.blocks[a].parent
        n = L.read_uint("mp_obj_exception_t.traceback_len", exc, W.read)
        for i in range(0, n - n % 3, 3):         # (file qstr, line, block qstr) per entry
            for k in (0, 2):
                off = W.W * (i + k)
                refs[off] = self.qstr("qword", W.w(a + off))

    def role_bytecode(self, a, refs):
        W = self.W
        gen = W.bytecode_generation()
        code = W.read(a, self.walk.blocks[a].size)
        pre, insns = gen.decode(code, a)
        # the code info: simple name, then one qstr per argument (mpy v6)
        p = pre.info_start
        for _ in range(1 + pre.n_args):
            q, p2 = _read_uint(code, p)
            refs[p] = self.qstr("qvar", q, p2 - p)
            p = p2
        for ins in insns:
            if ins.ref == "qstr":
                q, p2 = _read_uint(code, ins.pos + 1)
                refs[ins.pos + 1] = self.qstr("qvar", q, p2 - ins.pos - 1)

    def finaliser(self, a: int) -> bool:
        if not self.ftb:
            return False
        i = (a - self.geo.pool_start) // self.W.block
        return bool(self.ftb[i // 8] >> (i % 8) & 1)

    # -- mp_state_ctx.vm and the GC settings in mem --------------------------------------------------
    SKIP_ROOTS = ("last_pool", "qstr_last_chunk", "qstr_last_alloc", "qstr_last_used", "map_lookup_cache")

    def roots(self, ctx_slots):
        W = self.W
        ctx_t = self.fw.variable_type("mp_state_ctx")
        vm_off, vm = ctx_t.field("vm")
        out = {}
        spans = sorted((o, max(t.size, 0), n) for n, (o, t) in vm.fields.items())
        by_field: dict[str, list] = {}
        for slot, tag in ctx_slots:
            off = slot - W.ctx_addr - vm_off
            for o, size, n in spans:
                if o <= off < o + size:
                    by_field.setdefault(n, []).append((off - o, W.w(slot), tag, slot))
                    break
        for o, size, n in spans:
            if n in self.SKIP_ROOTS:
                continue
            data = W.ctx[vm_off + o:vm_off + o + size]
            refs = []
            t = vm.fields[n][1]
            head = int.from_bytes(data[:W.W], "little") if size >= W.W else None
            if t.kind == "struct" and head in W.type_names:
                refs.append((0, ("sym", W.type_names[head], 0)))   # an inline object's type
            for rel, v, tag, slot in sorted(by_field.get(n, ())):
                r = self.ref(v, tag, slot)
                if r is not None:
                    refs.append((rel, r))
            out[n] = (bytes(data), refs)
        mem = {}
        area_off, area_t = ctx_t.offset_of(W.profile.gc_area)
        for name in ("gc_auto_collect_enabled", "gc_alloc_amount", "gc_alloc_threshold"):
            for path, t in ((W.profile.gc_area, area_t), ("mem", ctx_t.field("mem")[1])):
                try:
                    off, ft = ctx_t.offset_of(f"{path}.{name}")
                except Exception:  # noqa: BLE001 - a field this build does not have
                    continue
                mem[name] = int.from_bytes(W.ctx[off:off + ft.size], "little")
                break
        return out, mem


def _qstr_size(L) -> int:
    return L.field("mp_obj_namedtuple_type_t.fields").element.size


def _read_uint(code: bytes, p: int) -> tuple[int, int]:
    v = 0
    while True:
        b = code[p]
        p += 1
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            return v, p


def fw_version(fw) -> tuple[int, ...]:
    return tuple(fw.micropython_version or ())


def _v(fw) -> str:
    return ".".join(map(str, fw_version(fw)))


def export_image(fw, image, target=None) -> Portable:
    """The portable form of a hibernate image written by ``fw`` (``target``: the firmware it
    is meant for, to name what that one lacks)."""
    from ...image import unpack_used_blocks
    g = image.heap
    pool = unpack_used_blocks(image.section("heap.pool"), g.pool_end - g.pool_start, g.block_size)
    t0 = time.perf_counter()
    ex = Exporter(fw, image.ctx_addr, image.section("ctx"), g, image.table("heap.atb"), pool, image.table("heap.ftb"))
    ex.target = target
    p = ex.run()
    p.export_s = time.perf_counter() - t0       # with the walker's set-up from the firmware
    return p


__all__ = ["Portable", "PBlock", "export_image", "prelude_signature"]

"""A precise, type-aware walk of a MicroPython GC heap (1.9 to 1.23, 32- and 64-bit),
from the GC roots.

No conservative guessing: the walk starts at the root-pointer section of
``mp_state_ctx.vm`` (field by field, typed from DWARF), identifies every object it
reaches by its type pointer (the firmware's type symbols, or a class object in the
heap whose own type is ``mp_type_type``), and follows exactly the fields that hold
pointers for that type (py/obj*.c, py/objtype.c, py/qstr.c, py/emitglue.c are the
reference; offsets come from the ELF's DWARF). Owned raw buffers (str/bytes data,
bytearray/array storage, mpz digits, qstr chunks, tracebacks) are leaves: they are
classified, never looked into. Bytecode is decoded (sim.mpy.bytecode) to find the
object and raw-code pointers it embeds, and a suspended generator's value stack is
typed by a data-flow analysis of its bytecode.

Anything the walker cannot classify exactly is reported (address, what pointed to
it, its type if known) and makes ``HeapWalk.relocatable`` false: relocation is then
refused, never guessed. Blocks that are allocated but not reachable from the roots
are garbage (the next gc.collect would free them; e.g. the REPL's line buffer, held
only by the C stack).

Word widths: one walker for both. The machine word (mp_obj_t, pointers, size_t) is
``self.word`` (sim.mpy.words, from the ELF class), a GC block is ``self.block`` bytes
(4 words), and struct fields come from DWARF; no offset here assumes 4-byte words.

Result: every pointer-holding word ("slot", by absolute address, with how its value
is to be read), every block with its role, the hash tables to rebuild after a move,
and a census (objects by kind: count and bytes).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

from ..errors import SimError
from ..firmware import Firmware
from . import profiles
from .geometry import AT_FREE, AT_TAIL
from .objects import Layout, Types
from .qstr_pools import QstrPools
from .state import MpState
from .walk_context import ContextCode, gen_errors
from .words import Word

# The 32-bit values, for callers not yet on ``Walker.block``/``Walker.word`` (the
# walker itself reads both from the firmware).
BYTES_PER_BLOCK = 16
WORD = 4
# slot tags: how to read and rewrite a word
OBJ = "obj"        # mp_obj_t (or pointer to an object): immediates and NULL pass through
PTR = "ptr"        # pointer to (or into) a buffer: rewritten relative to its block
TAGPTR = "tagptr"  # PTR with flags in the low 2 bits (exception stack val_sp)

LEAF_ROLES = {"str.data", "array.items", "mpz.digits", "qstr.chunk", "traceback", "readline.line",
              "memoryview.buffer"}


class WalkError(SimError):
    pass


@dataclass
class Problem:
    addr: int
    reason: str
    parent: int | None = None
    type_name: str | None = None

    def __str__(self) -> str:
        s = f"{self.addr:#010x}: {self.reason}"
        if self.type_name:
            s += f" (type {self.type_name})"
        if self.parent is not None:
            s += f", reached from {self.parent:#010x}"
        return s


@dataclass
class Block:
    addr: int
    size: int           # bytes: the whole GC allocation
    role: str           # what it is: "list", "list.items", "instance", "type", ...
    parent: int | None  # who reached it first (None: a root)
    label: str = ""     # for people: "class A", "instance of A" (census groups by it)


@dataclass
class HeapWalk:
    pool_start: int
    pool_end: int
    ctx_addr: int
    ctx_size: int
    block_size: int                                               # bytes per GC block
    blocks: dict[int, Block] = field(default_factory=dict)
    slots: dict[int, str] = field(default_factory=dict)          # absolute address -> tag
    tables: dict[int, str] = field(default_factory=dict)         # mp_map_t/mp_set_t address -> "map"/"set"
    iterated: dict[int, int] = field(default_factory=dict)       # table address -> an iterator part-way through it
    problems: list[Problem] = field(default_factory=list)
    garbage: list[tuple[int, int]] = field(default_factory=list)  # (addr, bytes) allocated, unreachable
    used_bytes: int = 0

    @property
    def relocatable(self) -> bool:
        return not self.problems

    def census(self) -> dict[str, tuple[int, int]]:
        """Role -> (count, bytes), largest first."""
        c: Counter = Counter()
        n: Counter = Counter()
        for b in self.blocks.values():
            c[b.label or b.role] += b.size
            n[b.label or b.role] += 1
        return {k: (n[k], c[k]) for k, _ in c.most_common()}

    def live_bytes(self) -> int:
        return sum(b.size for b in self.blocks.values())

    def report(self) -> str:
        lines = [f"heap {self.pool_start:#010x}..{self.pool_end:#010x}: {self.used_bytes} bytes allocated, "
                 f"{self.live_bytes()} live in {len(self.blocks)} blocks, "
                 f"{sum(g[1] for g in self.garbage)} garbage in {len(self.garbage)}"]
        lines += [f"  {role:32s} {cnt:6d} {size:8d}" for role, (cnt, size) in self.census().items()]
        if self.problems:
            lines.append(f"unclassified ({len(self.problems)}): relocation refused")
            lines += ["  " + str(p) for p in self.problems[:50]]
        return "\n".join(lines)


class _Rom:
    """Reads the firmware's load segments (code RAM never changes at run time)."""

    def __init__(self, fw: Firmware):
        self.segs = sorted((s.addr, s.data) for s in fw.segments)

    def read(self, addr: int, n: int) -> bytes | None:
        for base, data in self.segs:
            if base <= addr and addr + n <= base + len(data):
                return data[addr - base:addr - base + n]
        return None


# type -> the fields of its objects that hold objects (struct.field as DWARF names them;
# "a/b": array a whose length is field b); raw fields (counters, cursors) are not listed.
OBJECT_FIELDS = {
    "mp_type_cell": ("mp_obj_cell_t.obj",),
    "mp_type_bound_meth": ("mp_obj_bound_meth_t.meth", "mp_obj_bound_meth_t.self"),
    "mp_type_property": ("mp_obj_property_t.proxy",),
    "mp_type_staticmethod": ("mp_obj_static_class_method_t.fun",),
    "mp_type_classmethod": ("mp_obj_static_class_method_t.fun",),
    "mp_type_checked_fun": ("mp_obj_checked_fun_t.type", "mp_obj_checked_fun_t.fun"),
    "mp_type_super": ("mp_obj_super_t.type", "mp_obj_super_t.obj"),
    "mp_type_slice": ("mp_obj_slice_t.start", "mp_obj_slice_t.stop", "mp_obj_slice_t.step"),
    "mp_type_zip": ("mp_obj_zip_t.iters/mp_obj_zip_t.n_iters",),
    "mp_type_map": ("mp_obj_map_t.fun", "mp_obj_map_t.iters/mp_obj_map_t.n_iters"),
    "mp_type_filter": ("mp_obj_filter_t.fun", "mp_obj_filter_t.iter"),
    "mp_type_enumerate": ("mp_obj_enumerate_t.iter",),
    "mp_type_reversed": ("mp_obj_reversed_t.seq",),
}
# iterator types that may live inline in a generator's for-loop slots
ITERATORS = {
    "range_it_type": (),
    "array_it_type": ("mp_obj_array_it_t.array",),
    "dict_view_it_type": ("mp_obj_dict_view_it_t.dict",),
    "it_type": ("mp_obj_getitem_iter_t.args",),
}
# 1.20 renamed the file-local types (MP_DEFINE_CONST_OBJ_TYPE): their layouts are as before
RENAMED = {"mp_type_range_it": "range_it_type", "mp_type_array_it": "array_it_type",
           "mp_type_dict_view_it": "dict_view_it_type", "mp_type_dict_view": "dict_view_type", "mp_type_it": "it_type"}
# polymorphic iterators: iternext function -> the field holding the container
POLY_ITERNEXT = {
    "list_it_iternext": "mp_obj_list_it_t.list", "tuple_it_iternext": "mp_obj_tuple_it_t.tuple",
    "str_it_iternext": "mp_obj_str8_it_t.str", "bytes_it_iternext": "mp_obj_str8_it_t.str",
    "dict_it_iternext": "mp_obj_dict_it_t.dict", "set_it_iternext": "mp_obj_set_it_t.set",
    "deque_it_iternext": "mp_obj_deque_it_t.deque",
}

# iterators that keep an index into a hash table: their container field -> the table in it
TABLE_OF = {"mp_obj_dict_it_t.dict": "mp_obj_dict_t.map", "mp_obj_set_it_t.set": "mp_obj_set_t.set",
            "mp_obj_dict_view_it_t.dict": "mp_obj_dict_t.map"}


def type_objects(firmware: Firmware, rom: _Rom) -> dict[int, str]:
    """address -> name of the firmware's type objects: every object whose first word
    is ``&mp_type_type`` (type objects are variable-length since 1.20, so their size
    does not tell)."""
    tt = firmware.symbol("mp_type_type").addr
    word = Word.of(firmware)
    out = {}
    for name, (addr, size, kind) in firmware.symbols.rows().items():
        if kind == "object" and size >= 2 * word.size:
            head = rom.read(addr, word.size)
            if head is not None and word.unpack(head) == tt:
                out[addr] = name
    return out


def _heads(atb: bytes) -> tuple[list[int], dict[int, int]]:
    """(head block index of every block, -1 where free; head index -> blocks in its
    allocation) from the alloc table (2 bits a block, 4 blocks a byte)."""
    kinds = [(byte >> (2 * i)) & 3 for byte in atb for i in range(4)]
    head_of = [-1] * len(kinds)
    extent: dict[int, int] = {}
    head = -1
    for i, k in enumerate(kinds):
        if k == AT_FREE:
            head = -1
        elif k == AT_TAIL:
            if head >= 0:
                head_of[i] = head
                extent[head] += 1
        else:                       # head (or marked head)
            head = i
            head_of[i] = i
            extent[i] = 1
    return head_of, extent


class Walker(ContextCode):
    def __init__(self, firmware: Firmware, ctx_addr: int, ctx: bytes, pool_start: int, atb: bytes,
                 pool: bytes):
        self.fw = firmware
        self.profile = profiles.for_firmware(firmware)
        self.L = Layout(firmware)
        self.types = Types(self.L, self.profile)
        self.rom = _Rom(firmware)
        self.ctx_addr, self.ctx = ctx_addr, ctx
        self.pool_start, self.pool = pool_start, pool
        self.word = Word.of(firmware)
        self.W = self.word.size                   # bytes per word
        self.block = self.word.block_size         # bytes per GC block
        self.n_blocks = len(atb) * 4
        self.pool_end = pool_start + self.n_blocks * self.block
        self.head_of, self.extent = _heads(atb)
        rows = firmware.symbols.rows()           # raw (addr, size, kind): no Symbol per name
        self.sym_at: dict[int, str] = {}        # function pointers carry the Thumb bit: look up v & ~1
        for name, (addr, _size, _kind) in rows.items():
            self.sym_at.setdefault(addr, name)
        self.type_names = type_objects(firmware, self.rom)
        self.t = {n: a for a, n in self.type_names.items()}
        self.fn = {n: addr for n, (addr, _size, kind) in rows.items() if kind == "func"}
        self._handlers: dict[str, tuple] = {}   # type name -> how visit_obj treats its objects
        self._unpack = self.word._s.unpack_from
        self._last_word = len(pool) - self.W     # offset of the pool's last whole word
        self._words: dict[int, struct.Struct] = {}   # n -> Struct of n words (bulk reads)
        self.result = HeapWalk(pool_start, self.pool_end, ctx_addr, len(ctx), self.block)
        self.result.used_bytes = sum(self.extent.values()) * self.block
        self.work: list = []
        self._bc_cache: dict[int, tuple] = {}
        self.qstrs = QstrPools.for_firmware(firmware, firmware.micropython_version, self.read)

    # -- memory ---------------------------------------------------------------------
    def in_pool(self, a: int) -> bool:
        return self.pool_start <= a < self.pool_end

    def in_ctx(self, a: int) -> bool:
        return self.ctx_addr <= a < self.ctx_addr + len(self.ctx)

    def read(self, a: int, n: int) -> bytes:
        if self.in_pool(a) and a + n <= self.pool_end:
            o = a - self.pool_start
            return self.pool[o:o + n]
        if self.in_ctx(a) and a + n <= self.ctx_addr + len(self.ctx):
            o = a - self.ctx_addr
            return self.ctx[o:o + n]
        got = self.rom.read(a, n)
        if got is None:
            raise WalkError(f"cannot read {n} bytes at {a:#010x} (not heap, ctx or firmware)")
        return got

    def w(self, a: int) -> int:
        """The word at ``a``."""
        o = a - self.pool_start
        if 0 <= o <= self._last_word:
            return self._unpack(self.pool, o)[0]
        return self._unpack(self.read(a, self.W))[0]

    def words(self, a: int, n: int) -> tuple[int, ...]:
        """The ``n`` words from ``a``, read at once."""
        o = a - self.pool_start
        data = self.pool if 0 <= o <= len(self.pool) - self.W * n else self.read(a, self.W * n)
        if data is not self.pool:
            o = 0
        st = self._words.get(n)
        if st is None:
            st = self._words[n] = struct.Struct(("<%dI" if self.W == 4 else "<%dQ") % n)
        return st.unpack_from(data, o)

    def block_start(self, a: int) -> int | None:
        """Start address of the allocation containing ``a`` (None: free or outside)."""
        if not self.pool_start <= a < self.pool_end:
            return None
        h = self.head_of[(a - self.pool_start) // self.block]
        return None if h < 0 else self.pool_start + h * self.block

    def block_size(self, start: int) -> int:
        return self.extent[(start - self.pool_start) // self.block] * self.block

    def problem(self, addr, reason, parent=None, type_name=None):
        self.result.problems.append(Problem(addr, reason, parent, type_name))

    # -- claiming blocks ----------------------------------------------------------------
    def claim(self, start: int, role: str, parent: int | None) -> bool:
        """Record a block's role; True if it is new (its contents must be walked)."""
        b = self.result.blocks.get(start)
        if b is None:
            size = self.extent[(start - self.pool_start) // self.block] * self.block
            self.result.blocks[start] = Block(start, size, role, parent)
            return True
        if b.role == role or (b.role in LEAF_ROLES and role in LEAF_ROLES):
            return False
        self.problem(start, f"reached as {role!r} but already classified as {b.role!r}", parent)
        return False

    # -- slots ----------------------------------------------------------------------------
    def obj(self, slot: int, parent: int | None):
        """A word holding an mp_obj_t (or a pointer to an object, or NULL)."""
        self.result.slots[slot] = OBJ
        v = self.w(slot)
        if v and not v & 3 and self.pool_start <= v < self.pool_end:
            self.work.append(("obj", v, parent))

    def objs(self, addr: int, n: int, parent):
        """``n`` consecutive mp_obj_t words from ``addr`` (as ``obj`` each, read at once)."""
        if n <= 0:
            return
        slots, work, W = self.result.slots, self.work, self.W
        lo, hi = self.pool_start, self.pool_end
        for i, v in enumerate(self.words(addr, n)):
            slots[addr + W * i] = OBJ
            if v and not v & 3 and lo <= v < hi:
                work.append(("obj", v, parent))

    def buf(self, slot: int, role: str, parent, handler=None, arg=None, tag=PTR, allow_interior=True):
        """A word pointing to (or into) a buffer owned by the object at ``parent``."""
        self.result.slots[slot] = tag
        v = self.w(slot)
        if tag == TAGPTR:
            v &= ~3
        if v == 0 or not self.pool_start <= v < self.pool_end:
            return
        self.work.append(("buf", v, parent, role, handler, arg, allow_interior))

    # -- the walk ---------------------------------------------------------------------------
    def run(self) -> HeapWalk:
        self.roots()
        while self.work:
            item = self.work.pop()
            if item[0] == "obj":
                self.visit_obj(item[1], item[2])
            else:
                _, v, parent, role, handler, arg, interior = item
                start = self.block_start(v)
                if start is None:
                    self.problem(v, f"pointer to a free heap block (as {role})", parent)
                    continue
                if start != v and not interior:
                    self.problem(v, f"pointer into the middle of a block (as {role})", parent)
                    continue
                if self.claim(start, role, parent) and handler is not None:
                    handler(start, parent, arg)
        live = set(self.result.blocks)
        for h, n in self.extent.items():          # made in block order
            a = self.pool_start + h * self.block
            if a not in live:
                self.result.garbage.append((a, n * self.block))
        return self.result

    def visit_obj(self, a: int, parent):
        start = self.block_start(a)
        if start is None:
            self.problem(a, "object pointer to a free heap block", parent)
            return
        if start != a:
            self.problem(a, "object pointer into the middle of a block", parent)
            return
        t = self.w(a)
        name = self.type_names.get(t)
        if name is not None:
            how = self._handlers.get(name)
            if how is None:
                how = self._handlers[name] = self._how(name, t)
            role, handler, layout = how
            if self.claim(a, role, parent):
                if layout is not None:
                    self.fields(a, parent, layout)
                elif handler is not None:
                    handler(a, parent)
                else:
                    self.problem(a, "no layout known for this type", parent, name)
            return
        if self.in_pool(t) and self.block_start(t) == t and self.w(t) == self.t["mp_type_type"]:
            self.obj(a, a)                       # the type word: the class object, in the heap
            self.visit_instance(a, t, parent)
            return
        if self.claim(a, "unknown", parent):
            self.problem(a, f"first word {t:#010x} is not a known type", parent)

    def _how(self, name: str, t: int) -> tuple:
        """(role, handler, object fields) for the objects of the firmware type ``name`` at
        ``t``: found once per type (by name), then reused for each of its objects."""
        handler = getattr(self, "h_" + RENAMED.get(name, name), None)
        if handler is None and name in OBJECT_FIELDS:
            return self.role_for(name), None, OBJECT_FIELDS[name]
        if handler is None and self.is_exception_type(t):
            return self.role_for(name), self.h_exception, None
        if handler is None:
            return name, None, None
        return self.role_for(name), handler, None

    def role_for(self, name: str) -> str:
        return name[len("mp_type_"):] if name.startswith("mp_type_") else name

    def is_exception_type(self, t: int) -> bool:
        return self.make_new(t) == self.fn.get("mp_obj_exception_make_new")

    def make_new(self, t: int) -> int:
        return self.type_slot(t, "make_new") & ~1

    def type_slot(self, t: int, name: str) -> int:
        return self.types.slot(t, name, self.w, self.read)

    def type_name(self, t: int) -> str:
        return self.qstr_name(self.types.name_qstr(t, self.read))

    def qstr_name(self, q: int) -> str:
        """A qstr's text, through the pool chain (ROM pool and heap pools)."""
        last_pool = self.w(self.ctx_addr + self.L.off("mp_state_ctx_t.vm.last_pool"))
        try:
            return self.qstrs.text(*self.qstrs.locate(self.qstrs.chain(last_pool), q)).decode(errors="replace")
        except SimError:
            return f"qstr#{q}"

    # -- roots: mp_state_ctx.vm root-pointer section ------------------------------------------
    def roots(self):
        vm_t = self.fw.variable_type("mp_state_ctx").field("vm")
        vm_off, vm = vm_t
        vm_addr = self.ctx_addr + vm_off
        end = vm.field("qstr_last_chunk")[0]
        for name, (off, ftype) in sorted(vm.fields.items(), key=lambda kv: kv[1][0]):
            a = vm_addr + off
            if name == "qstr_last_chunk":
                self.buf(a, "qstr.chunk", None)
            if off >= end:
                continue
            if name == "last_pool":
                self.buf(a, "qstr.pool", None, self.h_qstr_pool, allow_interior=False)
            elif name in ("mp_emergency_exception_obj", "mp_kbd_exception"):
                self.exception_fields(a, None)
            elif name == "mp_emergency_exception_buf":
                pass   # raw storage used only through mp_emergency_exception_obj (walked there)
            elif name in ("mp_loaded_modules_dict", "dict_main"):
                self.map_fields(a + self.L.off("mp_obj_dict_t.map"), None)
            elif name == "readline_hist":
                for i in range(ftype.count or 0):
                    self.buf(a + self.W * i, "readline.line", None, allow_interior=False)
            elif ftype.kind in ("base", "enum"):
                pass   # an integer (mpsim_clock_hi, board_leds: a port's counters), never an object
            elif ftype.kind == "pointer" or (ftype.name or "").startswith("mp_obj"):
                self.obj(a, None)            # mp_obj_t / object pointers (pending exception, override dict...)
            elif ftype.kind == "struct" and (ftype.name or "").lstrip("_") == "mp_obj_list_t":
                self.h_mp_type_list(a, None)     # an inline list (sys.path, sys.argv)
            elif ftype.kind == "array" and ftype.element is not None and ftype.element.kind == "pointer":
                self.objs(a, ftype.count or 0, None)     # e.g. sys_mutable: sys.ps1, sys.ps2, ...
            else:
                raw = self.read(a, max(ftype.size, 0))
                if any(raw):
                    self.problem(a, f"root field vm.{name} ({ftype.kind} {ftype.name}) has no known layout")

    # -- containers -----------------------------------------------------------------------------
    def map_fields(self, m: int, parent):
        """An mp_map_t at ``m`` (inline in a dict, instance or type)."""
        alloc = self.w(m + self.L.off("mp_map_t.alloc"))
        flags = self.w(m)
        if not flags & 2:                     # is_fixed tables live in ROM
            self.result.tables[m] = "map"
        self.buf(m + self.L.off("mp_map_t.table"), "map.table", parent, self.h_map_table, alloc,
                 allow_interior=False)

    def h_map_table(self, start, parent, alloc):
        if alloc * 2 * self.W > self.block_size(start):
            self.problem(start, f"map table of {alloc} entries is larger than its block", parent)
            return
        self.objs(start, 2 * alloc, start)

    def set_fields(self, s: int, parent):
        alloc = self.w(s + self.L.off("mp_set_t.alloc"))
        self.result.tables[s] = "set"
        self.buf(s + self.L.off("mp_set_t.table"), "set.table", parent, self.h_set_table, alloc,
                 allow_interior=False)

    def h_set_table(self, start, parent, alloc):
        if alloc * self.W > self.block_size(start):
            self.problem(start, f"set table of {alloc} entries is larger than its block", parent)
            return
        self.objs(start, alloc, start)

    def h_mp_type_dict(self, a, parent):
        self.map_fields(a + self.L.off("mp_obj_dict_t.map"), a)

    h_mp_type_ordereddict = h_mp_type_dict

    def h_mp_type_set(self, a, parent):
        self.set_fields(a + self.L.off("mp_obj_set_t.set"), a)

    h_mp_type_frozenset = h_mp_type_set

    def h_mp_type_list(self, a, parent):
        n = self.w(a + self.L.off("mp_obj_list_t.len"))
        alloc = self.w(a + self.L.off("mp_obj_list_t.alloc"))
        self.buf(a + self.L.off("mp_obj_list_t.items"), "list.items", a, self.h_list_items, (n, alloc),
                 allow_interior=False)

    def h_list_items(self, start, parent, arg):
        n, alloc = arg
        if alloc * self.W > self.block_size(start) or n > alloc:
            self.problem(start, f"list of len {n}/alloc {alloc} does not fit its block", parent)
            return
        self.objs(start, n, parent)          # items past len are dead (NULL or stale)

    def tuple_items(self, a, parent):
        n = self.w(a + self.L.off("mp_obj_tuple_t.len"))
        if self.L.off("mp_obj_tuple_t.items") + self.W * n > self.block_size(a):
            self.problem(a, f"tuple of {n} items does not fit its block", parent)
            return n
        self.objs(a + self.L.off("mp_obj_tuple_t.items"), n, a)
        return n

    def h_mp_type_tuple(self, a, parent):
        self.tuple_items(a, parent)

    def h_mp_type_attrtuple(self, a, parent):
        n = self.tuple_items(a, parent)
        fields = a + self.L.off("mp_obj_tuple_t.items") + self.W * n    # const qstr *fields (ROM)
        if self.in_pool(self.w(fields)):
            self.buf(fields, "attrtuple.fields", a)

    # -- scalars and buffers ------------------------------------------------------------------------
    def h_mp_type_str(self, a, parent):
        self.buf(a + self.L.off("mp_obj_str_t.data"), "str.data", a)

    h_mp_type_bytes = h_mp_type_str

    def h_mp_type_bytearray(self, a, parent):
        self.buf(a + self.L.off("mp_obj_array_t.items"), "array.items", a)

    h_mp_type_array = h_mp_type_bytearray

    def h_mp_type_memoryview(self, a, parent):
        self.buf(a + self.L.off("mp_obj_array_t.items"), "memoryview.buffer", a)

    def h_mp_type_int(self, a, parent):
        self.buf(a + self.L.off("mp_obj_int_t.mpz") + self.L.off("mpz_t.dig"), "mpz.digits", a)

    def h_mp_type_float(self, a, parent):
        pass

    def h_mp_type_object(self, a, parent):
        pass

    def h_mp_type_range(self, a, parent):
        pass            # start, stop, step are raw machine ints

    h_range_it_type = h_mp_type_range

    # -- functions, code ------------------------------------------------------------------------------
    def h_mp_type_fun_bc(self, a, parent):
        if self.profile.fun_bc == "context":
            return self.ctx_fun_bc(a, parent)
        L = self.L
        self.obj(a + L.off("mp_obj_fun_bc_t.globals"), a)
        code = self.w(a + L.off("mp_obj_fun_bc_t.bytecode"))
        self.buf(a + L.off("mp_obj_fun_bc_t.bytecode"), "bytecode", a, self.h_bytecode, allow_interior=False)
        self.buf(a + L.off("mp_obj_fun_bc_t.const_table"), "const_table", a, self.h_const_table,
                 allow_interior=False)
        pre = self.code_info(code, a)
        if pre is None:
            return
        n_extra = pre[0].n_extra_args
        self.objs(a + L.off("mp_obj_fun_bc_t.extra_args"), n_extra, a)

    def code_info(self, code: int, parent):
        """(prelude, instructions) of the bytecode at ``code``, or None after a problem."""
        return self.ctx_code(code, parent)

    def h_bytecode(self, start, parent, arg):
        info = self.code_info(start, parent)
        if info is None:
            return
        for ref in self.bytecode_generation().references(*info):
            if ref.word is None:
                continue                      # qstrs, or indexes into tables walked elsewhere
            if ref.kind == "obj":
                self.obj(start + ref.word, start)
            elif ref.kind == "child":
                self.buf(start + ref.word, "raw_code", start, self.h_raw_code, allow_interior=False)

    def h_const_table(self, start, parent, arg):
        self.objs(start, self.block_size(start) // self.W, start)     # arg-name qstrs, zero padding

    def h_raw_code(self, start, parent, arg):
        kind = self.w(start) & 7
        if kind != 2:                   # MP_CODE_BYTECODE
            self.problem(start, f"raw code of kind {kind} (native code in the heap is not relocatable)", parent)
            return
        L = self.L
        if L.has("mp_raw_code_t.fun_data"):           # 1.18: named fields
            code, table = start + L.off("mp_raw_code_t.fun_data"), start + L.off("mp_raw_code_t.const_table")
        else:                                         # 1.9: a union whose bytecode part is (code, const_table)
            code = start + L.off("mp_raw_code_t.data")
            table = code + self.W
        self.buf(code, "bytecode", start, self.h_bytecode, allow_interior=False)
        self.buf(table, "const_table", start, self.h_const_table, allow_interior=False)

    def h_mp_type_fun_native(self, a, parent):
        self.problem(a, "native (@micropython.native) function: machine code in the heap is not relocatable",
                     parent, "fun_native")

    h_mp_type_fun_viper = h_mp_type_fun_native

    def h_mp_type_gen_wrap(self, a, parent):
        if not self.L.has("mp_obj_gen_wrap_t.fun"):  # 1.18+: a bytecode function with another type
            return self.h_mp_type_fun_bc(a, parent)
        self.obj(a + self.L.off("mp_obj_gen_wrap_t.fun"), a)

    def h_closure_type(self, a, parent):
        L = self.L
        self.obj(a + L.off("mp_obj_closure_t.fun"), a)
        n = self.w(a + L.off("mp_obj_closure_t.n_closed"))
        self.objs(a + L.off("mp_obj_closure_t.closed"), n, a)

    h_mp_type_closure = h_closure_type

    def h_mp_type_deque(self, a, parent):
        """collections.deque (1.19+): a ring of ``alloc`` slots; popped slots are NULL."""
        L = self.L
        alloc = self.w(a + L.off("mp_obj_deque_t.alloc"))
        self.buf(a + L.off("mp_obj_deque_t.items"), "deque.items", a, self.h_deque_items, alloc,
                 allow_interior=False)

    def h_deque_items(self, start, parent, alloc):
        if self.W * alloc > self.block_size(start):
            self.problem(start, f"deque of {alloc} slots does not fit its block", parent)
            return
        self.objs(start, alloc, parent)

    def h_mp_type_module(self, a, parent):
        self.obj(a + self.L.off("mp_obj_module_t.globals"), a)
        if self.profile.fun_bc == "context":
            self.ctx_module_constants(a, parent)

    # -- iterators -------------------------------------------------------------------------------------
    def iterator_fields(self, a, parent, type_name, inline=False):
        """Fields of iterator objects that may also live inline in a for-loop's stack slots."""
        if type_name == "mp_type_polymorph_iter":
            fn = self.sym_at.get(self.w(a + self.L.off("mp_obj_polymorph_iter_t.iternext")) & ~1)
            layout = POLY_ITERNEXT.get(fn)
            if layout is None:
                self.problem(a, f"polymorphic iterator with unknown iternext {fn}", parent, type_name)
                return
            self.obj(a + self.L.off(layout), parent)      # the container; cur is raw
            if layout in TABLE_OF:
                self.note_iterated(a, layout)
        elif RENAMED.get(type_name, type_name) in ITERATORS:
            self.fields(a, parent, ITERATORS[RENAMED.get(type_name, type_name)])
            if RENAMED.get(type_name, type_name) == "dict_view_it_type":
                self.note_iterated(a, "mp_obj_dict_view_it_t.dict")
        else:
            self.problem(a, "iterator type not known to live in a for-loop's stack slots", parent, type_name)

    def note_iterated(self, a, field_path):
        """An iterator at ``a`` holds an index (``cur``) into its dict's or set's table:
        that table's layout must not change under it (sim.mpy.relocate.layout_holds)."""
        container = self.w(a + self.L.off(field_path))
        self.result.iterated[container + self.L.off(TABLE_OF[field_path])] = a

    def h_mp_type_polymorph_iter(self, a, parent):
        self.iterator_fields(a, a, "mp_type_polymorph_iter")

    def h_array_it_type(self, a, parent):
        self.iterator_fields(a, a, "array_it_type")

    def h_dict_view_it_type(self, a, parent):
        self.iterator_fields(a, a, "dict_view_it_type")

    def h_it_type(self, a, parent):
        self.iterator_fields(a, a, "it_type")

    def h_dict_view_type(self, a, parent):
        self.obj(a + self.L.off("mp_obj_dict_view_t.dict"), a)

    # -- exceptions -----------------------------------------------------------------------------------
    def exception_fields(self, a, parent):
        L = self.L
        self.buf(a + L.off("mp_obj_exception_t.traceback_data"), "traceback", a, allow_interior=False)
        self.obj(a + L.off("mp_obj_exception_t.args"), a)
        args = self.w(a + L.off("mp_obj_exception_t.args"))
        if self.in_ctx(args) and args != a:   # the emergency exception's args tuple in the emergency buffer
            n = self.w(args + L.off("mp_obj_tuple_t.len"))
            items = args + L.off("mp_obj_tuple_t.items")
            if items + self.W * n <= self.ctx_addr + len(self.ctx):
                self.objs(items, n, a)

    def h_exception(self, a, parent):
        self.exception_fields(a, parent)

    def fields(self, a, parent, layout: tuple[str, ...]):
        """The object fields ``layout`` names (struct.field, from DWARF); an array field is
        walked whole, or as long as the count field before it says ("iters/n_iters")."""
        for spec in layout:
            path, _, count = spec.partition("/")
            t = self.L.field(path)
            if count:
                self.objs(a + self.L.off(path), self.w(a + self.L.off(count)), a)
            elif t.kind == "array":
                self.objs(a + self.L.off(path), t.count or 0, a)
            else:
                self.obj(a + self.L.off(path), a)

    # -- classes and instances --------------------------------------------------------------------------
    def h_mp_type_type(self, a, parent):
        """A class object in the heap (mp_obj_new_type, or a namedtuple type)."""
        for fname, slot in self.types.slot_addrs(a, self.read).items():
            if fname in ("parent", "locals_dict"):
                self.obj(slot, a)
            elif self.in_pool(self.w(slot)):
                self.problem(a, f"type slot {fname} points into the heap", parent, "type")
        name = self.type_name(a)
        self.result.blocks[a].label = f"class {name}" if not self.is_namedtuple_type(a) else f"namedtuple class {name}"

    def is_namedtuple_type(self, t: int) -> bool:
        return self.make_new(t) == self.fn.get("namedtuple_make_new")

    def native_bases(self, t: int) -> int:
        return self.types.native_bases(t, self.w, self.read, self.fn, self.t)

    def visit_instance(self, a, t, parent):
        if self.is_namedtuple_type(t):
            if self.claim(a, "namedtuple", parent):
                self.result.blocks[a].label = f"namedtuple {self.type_name(t)}"
                self.tuple_items(a, parent)
            return
        if self.make_new(t) != self.fn["mp_obj_instance_make_new"]:
            if self.claim(a, "unknown", parent):
                self.problem(a, "instance of a heap class with an unknown constructor", parent)
            return
        if not self.claim(a, "instance", parent):
            return
        self.result.blocks[a].label = f"instance of {self.type_name(t)}"
        self.map_fields(a + self.L.off("mp_obj_instance_t.members"), a)
        n = self.native_bases(t)
        self.objs(a + self.L.off("mp_obj_instance_t.subobj"), n, a)

    # -- qstr pools ----------------------------------------------------------------------------------
    def h_qstr_pool(self, start, parent, arg):
        pool = self.qstrs.pool(start)
        size = self.block_size(start)
        if self.qstrs.heap_pool_size(pool.alloc) > size or pool.len > pool.alloc:
            self.problem(start, f"qstr pool of {pool.len}/{pool.alloc} entries does not fit its block", parent)
            return
        for slot, what in self.qstrs.pointer_slots(pool):
            if what == "pool":
                self.buf(slot, "qstr.pool", start, self.h_qstr_pool, allow_interior=False)
            elif what == "chunk":
                self.buf(slot, "qstr.chunk", start)
            else:                                # 1.19+: hashes/lengths inside the pool's own block
                self.result.slots[slot] = PTR
                if not start <= self.w(slot) < start + size:
                    self.problem(start, "qstr pool's hashes/lengths array is outside its block", parent)
                    return

    # -- generators -----------------------------------------------------------------------------------
    def h_mp_type_gen_instance(self, a, parent):
        if self.L.has("mp_code_state_t.exc_sp_idx"):          # 1.18+: pend_exc, n_state, exc_sp_idx
            return self.ctx_gen_instance(a, parent)
        L, W = self.L, self.W
        cs = a + L.off("mp_obj_gen_instance_t.code_state")
        self.obj(a + L.off("mp_obj_gen_instance_t.globals"), a)
        fun = self.w(cs + L.off("mp_code_state_t.fun_bc"))
        self.obj(cs + L.off("mp_code_state_t.fun_bc"), a)
        self.obj(cs + L.off("mp_code_state_t.old_globals"), a)
        size = self.block_size(a)
        ip_slot, sp_slot = cs + L.off("mp_code_state_t.ip"), cs + L.off("mp_code_state_t.sp")
        exc_slot = cs + L.off("mp_code_state_t.exc_sp")
        state = cs + L.off("mp_code_state_t.state")
        for s in (sp_slot, exc_slot):            # point into this generator's own block
            self.result.slots[s] = TAGPTR if s == exc_slot else PTR
            v = self.w(s) & ~3
            if v and not a <= v < a + size:
                self.problem(a, f"generator {'sp' if s == sp_slot else 'exc_sp'} {v:#x} outside its block",
                             parent, "generator")
                return
        if self.in_pool(fun) and self.w(fun) == self.t["mp_type_fun_bc"]:
            code = self.w(fun + L.off("mp_obj_fun_bc_t.bytecode"))
        else:
            self.problem(a, "generator whose function is not a bytecode function", parent, "generator")
            return
        info = self.code_info(code, a)
        if info is None:
            return
        pre, insns = info
        entry = self.exc_entry_size()
        if state + W * pre.n_state + entry * pre.n_exc_stack > a + size:
            self.problem(a, "generator state does not fit its block", parent, "generator")
            return
        ip = self.w(ip_slot)
        self.result.slots[ip_slot] = PTR
        if ip == 0:
            return                                   # finished: nothing in the state is live
        self.buf(ip_slot, "bytecode", a, self.h_bytecode)
        if self.block_start(ip) != code:
            self.problem(a, "generator ip is not inside its function's bytecode", parent, "generator")
            return
        # locals: the top n_locals slots of the state (fastn[-i])
        nl = self.bytecode_generation().n_locals(pre, insns)
        self.objs(state + W * (pre.n_state - nl), nl, a)
        # exception stack entries 0..exc_sp
        exc_base = state + W * pre.n_state
        exc_top = self.w(exc_slot) & ~3
        n_exc = (exc_top - exc_base) // entry + 1
        if not 0 <= n_exc <= pre.n_exc_stack or (exc_top - exc_base) % entry:
            self.problem(a, f"generator exception stack pointer {exc_top:#x} is not an entry", parent, "generator")
            return
        self.exc_stack(a, exc_base, n_exc)
        # value stack 0..sp (1.9.2's emitter does not count the 3 slots that unwinding through
        # a finally pushes, so the stack may run into the locals: allowed where both say "object")
        self.value_stack(a, parent, state, self.w(sp_slot), pre.n_state, nl, n_exc, ip - code, pre, insns)

    def exc_entry_size(self) -> int:
        """sizeof(mp_exc_stack_t): handler, val_sp (tagged), prev_exc."""
        return self.L.size("mp_exc_stack_t")

    def exc_stack(self, a, exc_base: int, n_exc: int):
        """A generator's exception-stack entries 0..n_exc-1, inside its block at ``a``."""
        L, entry = self.L, self.exc_entry_size()
        for i in range(n_exc):
            e = exc_base + entry * i
            self.buf(e + L.off("mp_exc_stack_t.handler"), "bytecode", a, None)   # into the bytecode
            self.result.slots[e + L.off("mp_exc_stack_t.val_sp")] = TAGPTR      # into this block
            self.obj(e + L.off("mp_exc_stack_t.prev_exc"), a)

    def value_stack(self, a, parent, state: int, sp: int, n_state: int, nl: int, n_exc: int, offset: int,
                    pre, insns):
        """The value stack state[0]..sp of the generator at ``a``, typed by the data-flow
        analysis of its bytecode at ``offset`` (the same for every bytecode generation)."""
        depth = (sp - state) // self.W + 1
        if depth == 0:
            return
        if depth < 0 or depth > n_state:
            self.problem(a, f"generator stack depth {depth} out of range", parent, "generator")
            return
        gen = self.bytecode_generation()
        try:
            shapes = gen.stack_shapes(pre, insns)
            cand = {s for s, blocks in shapes.get(offset, ()) if len(s) == depth and len(blocks) == n_exc}
            kinds = {tuple(gen.slot_kind(t) for t in s) for s in cand}
        except gen_errors() as e:
            self.problem(a, f"generator stack analysis failed: {e}", parent, "generator")
            return
        if len(kinds) != 1:
            self.problem(a, f"generator stack shape at offset {offset} is "
                         f"{'unknown' if not kinds else 'ambiguous'}", parent, "generator")
            return
        shape = kinds.pop()
        if any(k != "obj" for k in shape[n_state - nl:]):
            self.problem(a, "generator stack overlaps its locals with non-object slots", parent, "generator")
            return
        for i, k in enumerate(shape):            # "iterpart" and "raw" slots hold no pointers
            slot = state + self.W * i
            if k == "obj":
                self.obj(slot, a)
            elif k == "code":
                self.buf(slot, "bytecode", a, None)
            elif k == "iter":
                t = self.w(slot)
                if t == 0:
                    self.obj(slot + self.W, a)      # a heap iterator; the other 2 slots are dead
                elif t in self.type_names:
                    self.iterator_fields(slot, a, self.type_names[t], inline=True)
                else:
                    self.problem(slot, f"inline iterator with unknown type {t:#x}", a, "generator")

def walk(firmware: Firmware, ctx_addr: int, ctx: bytes, pool_start: int, atb: bytes, pool: bytes) -> HeapWalk:
    """Walk a heap given as bytes: ``ctx`` is mp_state_ctx, ``atb`` the alloc table,
    ``pool`` the whole pool (len(atb) * 4 blocks) starting at ``pool_start``."""
    block = Word.of(firmware).block_size
    if len(pool) != len(atb) * 4 * block:
        raise WalkError(f"pool is {len(pool)} bytes, the alloc table describes {len(atb) * 4 * block}")
    return Walker(firmware, ctx_addr, ctx, pool_start, atb, pool).run()


def walk_memory(memory, firmware: Firmware) -> HeapWalk:
    """Walk the heap of a running (or dumped) interpreter: ``memory`` has read(addr, n)."""
    st = MpState(memory, firmware)
    geo = st.geometry()
    atb = memory.read(geo.atb_start, geo.atb_len)
    pool = memory.read(geo.pool_start, geo.pool_end - geo.pool_start)
    return walk(firmware, st.ctx_addr, st.read_ctx(), geo.pool_start, atb, pool)


class RamImage:
    """A bytes-backed memory (e.g. a RAM dump from QEMU) with the read/write protocol."""

    def __init__(self, base: int, data: bytes):
        self.base, self.data = base, bytearray(data)

    def read(self, addr: int, n: int) -> bytes:
        o = addr - self.base
        if o < 0 or o + n > len(self.data):
            raise WalkError(f"read of {n} bytes at {addr:#010x} outside the RAM image")
        return bytes(self.data[o:o + n])

    def write(self, addr: int, data: bytes) -> None:
        o = addr - self.base
        if o < 0 or o + len(data) > len(self.data):
            raise WalkError(f"write of {len(data)} bytes at {addr:#010x} outside the RAM image")
        self.data[o:o + len(data)] = data


def main(argv=None) -> int:
    """``python -m sim.mpy.walk RAM.bin [--base ADDR] [--elf FIRMWARE]``: the census of a
    RAM dump (e.g. from tools/dump-qemu-ram)."""
    import argparse
    import sys
    from ..paths import default_firmware
    p = argparse.ArgumentParser(prog="python -m sim.mpy.walk", description=main.__doc__.split("\n")[0])
    p.add_argument("dump")
    p.add_argument("--base", type=lambda s: int(s, 0), default=0x20000000)
    p.add_argument("--elf", default=None)
    a = p.parse_args(argv)
    try:
        fw = Firmware.load(a.elf or default_firmware("mps2-an385"))
        with open(a.dump, "rb") as f:
            w = walk_memory(RamImage(a.base, f.read()), fw)
    except (SimError, OSError) as e:
        print(f"heapwalk: {e}", file=sys.stderr)
        return 1
    print(w.report())
    return 0 if w.relocatable else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""sim.mpy.bytecode on bytecode the firmware itself compiled at its REPL, read out of
the real heap of the real firmware in the emulator: generators suspended in a
try/finally in a for loop (with a closure), in a with in a for loop, in an except
handler, and at a yield from.

Checked for each version whose firmware is built (tests/firmware_versions.py; skipped,
with the reason, when absent).  Such firmware compiles at run time without MICROPY_PERSISTENT_CODE unless
it can load .mpy: qstrs in its bytecode are qstr numbers (no qstr table), resolved
here through the qstr pools (sim.mpy.qstr_pools)."""

from __future__ import annotations

import re

import pytest

from sim.device import Board
from sim.firmware import Firmware
from sim.mpy import bytecode, qstr_pools
from tests.firmware_versions import VERSIONS, firmware_for

CODE = """
def keeper(n, *rest, k=3):
    total = 0
    def add(v):
        nonlocal total
        total += v
        return total
    for i in list(range(n)):
        try:
            yield add(i) + len(rest) + k
        finally:
            total -= 1
    return 'done'
g = keeper(5, 'x', k=2)
first = next(g)
second = next(g)
class CM:
    def __enter__(self):
        return self
    def __exit__(self, *a):
        return False
def in_with(items):
    for a in items:
        with CM() as c:
            yield a
def in_except():
    try:
        raise ValueError(1)
    except ValueError as e:
        yield e
def delegating():
    r = yield from in_with([7, 8])
    yield r
g2 = in_with([1, 2])
g3 = in_except()
g4 = delegating()
third = (next(g2), next(g3).args, next(g4))
"""
ITER = ["iter", "iterpart", "iterpart", "iterpart"]
# the generator, and what each slot of its suspended value stack must hold
EXPECTED = {
    "g": ITER + ["obj"],                        # for over a list, in a try/finally: the yielded value
    "g2": ITER + ["obj", "obj", "obj"],         # for, with: __exit__, the manager, the yielded value
    "g3": ["obj"],                              # in an except handler (the exception stored in e)
    "g4": ["obj", "obj"],                       # at yield from: the inner generator, the value
}


def version_of(fw: Firmware, board: Board) -> tuple[int, int, int]:
    banner = board.boot_output
    m = re.search(r"MicroPython v(\d+)\.(\d+)(?:\.(\d+))?", banner)
    assert m, banner
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


class Heap:
    def __init__(self, board: Board):
        self.m, self.fw = board.machine, board.firmware

    def word(self, a: int) -> int:
        return self.m.read_u32(a)

    def off(self, struct: str, path: str) -> int:
        return self.fw.struct(struct).offset_of(path)[0]

    def block_bytes(self, addr: int) -> int:
        """Size of the GC allocation starting at ``addr``, from the alloc table
        (2 bits a block: 1 head, 2 tail; py/gc.c)."""
        ctx_t, ctx = self.fw.variable_type("mp_state_ctx"), self.fw.symbol("mp_state_ctx").addr
        area = "mem.area." if "area" in ctx_t.offset_of("mem")[1].fields else "mem."
        atb = self.word(ctx + ctx_t.offset_of(area + "gc_alloc_table_start")[0])
        pool = self.word(ctx + ctx_t.offset_of(area + "gc_pool_start")[0])

        def kind(b):
            return (self.m.read(atb + b // 4, 1)[0] >> (2 * (b % 4))) & 3
        b = (addr - pool) // 16
        assert addr == pool + 16 * b and kind(b) == 1, f"{addr:#x} is not the head of a heap block"
        n = 1
        while kind(b + n) == 2:
            n += 1
        return 16 * n

    def code(self, addr: int, bc):
        return bc.decode(self.m.read(addr, self.block_bytes(addr)), addr)


@pytest.mark.parametrize("version", VERSIONS)
def test_bytecode_compiled_by_the_firmware_decodes_and_types_suspended_generators(version):
    path = firmware_for(version)
    with Board("mps2-an385", path) as board:
        board.boot()
        v = version_of(board.firmware, board)
        assert ".".join(map(str, v)).startswith(version)
        board.repl.exec(CODE)
        assert board.repl.eval("(first, second)") == (3, 3)
        h = Heap(board)
        fw = board.firmware
        if v >= (1, 19):
            persistent = "qstr_table" in fw.struct("mp_module_constants_t").fields
        else:
            persistent = bytecode.built_with_persistent_code(fw.has_symbol)
        bc = bytecode.for_version(v, persistent_code=persistent)
        cs = board.repl.eval("id(g)") + h.off("mp_obj_gen_instance_t", "code_state")
        code_addr = h.word(h.word(cs + h.off("mp_code_state_t", "fun_bc")) + h.off("mp_obj_fun_bc_t", "bytecode"))
        pre, insns = h.code(code_addr, bc)
        assert pre.is_generator and pre.n_pos_args == 1 and pre.n_kwonly_args == 1 and len(pre.cells) == 1
        # the simple name and every qstr operand resolve through the qstr pools
        pools = qstr_pools.QstrPools.for_firmware(fw, v, h.m.read)
        nh = pools.nh
        ctx = fw.symbol("mp_state_ctx").addr + fw.variable_type("mp_state_ctx").offset_of("vm.last_pool")[0]
        chain = pools.chain(h.word(ctx))
        names = {}
        for ref in bc.references(pre, insns):
            if ref.kind == "qstr" and ref.table is None:
                pool, i = pools.locate(chain, ref.index)
                names[ref.index] = pools.text(pool, i).decode()
                assert pools.stored_hash(pool, i) == qstr_pools.compute_hash(pools.text(pool, i), nh)
        assert names[pre.name] == "keeper"
        heap_pool = pools.locate(chain, pre.name)[0]     # "keeper" was interned at run time:
        size = h.block_bytes(heap_pool.addr)              # its pool is a heap block
        assert pools.heap_pool_size(heap_pool.alloc) <= size
        for slot, kind in pools.pointer_slots(heap_pool):
            if kind == "self":                      # split layout: hashes/lengths inside the pool block
                assert heap_pool.addr <= h.word(slot) < heap_pool.addr + size
        assert {"range", "len", "list"} <= set(names.values())
        ip = h.word(cs + h.off("mp_code_state_t", "ip")) - code_addr
        raw = h.m.read(code_addr, h.block_bytes(code_addr))
        assert bc.source_line(raw, pre, ip - 1) == 10            # yield add(i) + ...
        # each suspended state: ip, sp and the exception stack agree with one analysed state
        assert board.repl.eval("third") == (1, (1,), 7)
        for name, want in EXPECTED.items():
            assert suspended_kinds(h, bc, board.repl.eval(f"id({name})")) == want, name


def suspended_kinds(h: Heap, bc, gen: int) -> list[str]:
    cs = gen + h.off("mp_obj_gen_instance_t", "code_state")
    code_addr = h.word(h.word(cs + h.off("mp_code_state_t", "fun_bc")) + h.off("mp_obj_fun_bc_t", "bytecode"))
    pre, insns = h.code(code_addr, bc)
    ip = h.word(cs + h.off("mp_code_state_t", "ip"))
    sp = h.word(cs + h.off("mp_code_state_t", "sp"))
    state = cs + h.off("mp_code_state_t", "state")
    depth = (sp - state) // 4 + 1
    if "exc_sp_idx" in h.fw.struct("mp_code_state_t").fields:
        n_exc = int.from_bytes(h.m.read(cs + h.off("mp_code_state_t", "exc_sp_idx"), 2), "little")
    else:
        exc_sp = h.word(cs + h.off("mp_code_state_t", "exc_sp")) & ~3
        n_exc = (exc_sp - (state + 4 * pre.n_state)) // 12 + 1
    states = bc.stack_shapes(pre, insns)
    cands = {s for s, blocks in states[ip - code_addr] if len(s) == depth and len(blocks) == n_exc}
    assert len(cands) == 1, (ip - code_addr, depth, n_exc, states.get(ip - code_addr))
    return [bc.slot_kind(t) for t in cands.pop()]


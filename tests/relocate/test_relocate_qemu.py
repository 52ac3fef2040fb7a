"""Relocation on real heaps captured from QEMU, checked on the host: A -> B -> A gives the
same bytes, pointer-looking raw data is never touched, compaction, and the numbers."""

from __future__ import annotations

import struct
import time

import pytest

from sim.mpy.walk import walk
from sim.mpy.state import MpState
from sim.mpy.geometry import gc_layout
from sim.mpy.relocate import RelocationError, relocate

from state_code import STATE

HEAVY = STATE + """
heavy = [[n, str(n) * 2, (n, n + 1), {n: n}, n * 1.5] for n in range(600)]
gc.collect()
"""


def heap_of(firmware, ram):
    st = MpState(ram, firmware)
    geo = st.geometry()
    return dict(firmware=firmware, ctx_addr=st.ctx_addr, ctx=st.read_ctx(), pool_start=geo.pool_start,
                atb=ram.read(geo.atb_start, geo.atb_len),
                pool=ram.read(geo.pool_start, geo.pool_end - geo.pool_start)), geo


def entries(w, buf_pool, pool_start):
    """Per table block: its live entries, order-free (deleted-entry sentinels 4/8 and the
    stale values they keep are not entries)."""
    out = {}
    for a, b in w.blocks.items():
        if b.role not in ("map.table", "set.table"):
            continue
        raw = buf_pool[a - pool_start:a - pool_start + b.size]
        words = struct.unpack(f"<{b.size // 4}I", raw)
        if b.role == "map.table":
            items = [(words[i], words[i + 1]) for i in range(0, len(words), 2) if words[i] not in (0, 4, 8)]
        else:
            items = [x for x in words if x not in (0, 4, 8)]
        out[a] = sorted(items)
    return out


def test_round_trip_a_b_a_gives_the_same_bytes(firmware, qemu_capture):
    h, geo = heap_of(firmware, qemu_capture(STATE, steps=["x_hist = 77"]))
    b = relocate(**h, new_start=0x20100000, new_end=0x20140000)
    assert not b.compacted and b.rehashed_tables > 0
    a2 = relocate(firmware, h["ctx_addr"], b.ctx, b.geometry.pool_start, b.atb, b.pool, geo.start, geo.end)
    assert a2.geometry.pool_start == geo.pool_start
    w0 = walk(**h)
    vm_off, vm = firmware.variable_type("mp_state_ctx").field("vm")
    assert a2.ctx[vm_off:vm_off + vm.size] == h["ctx"][vm_off:vm_off + vm.size]
    for a, blk in w0.blocks.items():
        o = a - geo.pool_start
        if blk.role in ("map.table", "set.table"):
            continue                     # rebuilt tables may order their entries differently
        assert a2.pool[o:o + blk.size] == h["pool"][o:o + blk.size], f"{blk.role} at {a:#x} changed"
    assert entries(w0, a2.pool, geo.pool_start) == entries(w0, h["pool"], geo.pool_start)
    # garbage is dropped, live blocks keep their offsets, the alloc table marks exactly them
    assert sum(1 for x in a2.atb for i in range(4) if (x >> 2 * i) & 3 == 1) == len(w0.blocks)


def test_raw_buffers_holding_heap_addresses_are_not_rewritten(firmware, qemu_capture):
    h, geo = heap_of(firmware, qemu_capture(STATE))
    w0 = walk(**h)
    b = relocate(**h, new_start=0x20100000, new_end=0x20140000)
    delta = b.geometry.pool_start - geo.pool_start
    raw = [a for a, blk in w0.blocks.items() if blk.role == "array.items"]
    assert raw
    for a in raw:
        size = w0.blocks[a].size
        assert b.pool[a + delta - b.geometry.pool_start:][:size] == h["pool"][a - geo.pool_start:][:size]
    # ... while the array objects' own items pointers moved
    assert any(struct.pack("<I", a + delta) in b.pool for a in raw)


def test_shrink_compacts_and_walks_clean(firmware, qemu_capture):
    h, geo = heap_of(firmware, qemu_capture(STATE))
    small = relocate(**h, new_start=0x20100000, new_end=0x20100000 + 0x4000)
    assert small.compacted
    w = walk(firmware, h["ctx_addr"], small.ctx, small.geometry.pool_start, small.atb, small.pool)
    assert w.relocatable and len(w.blocks) == len(walk(**h).blocks)
    back = relocate(firmware, h["ctx_addr"], small.ctx, small.geometry.pool_start, small.atb, small.pool,
                    geo.start, geo.end)
    assert walk(firmware, h["ctx_addr"], back.ctx, back.geometry.pool_start, back.atb, back.pool).relocatable


def test_too_small_is_refused_with_the_numbers(firmware, qemu_capture):
    h, _ = heap_of(firmware, qemu_capture(STATE))
    with pytest.raises(RelocationError, match=r"live data does not fit the new heap: (\d+) blocks"):
        relocate(**h, new_start=0x20100000, new_end=0x20100000 + 0x1000)


def test_gc_geometry_is_gc_init(firmware, qemu_capture):
    ram = qemu_capture(STATE, heap=(0x20100000, 0x20137ff0))  # the firmware wants 16-byte aligned bounds
    geo = MpState(ram, firmware).geometry()
    g = gc_layout(0x20100000, 0x20137ff0, finaliser=False, block_size=16, atb_gap=0)
    assert (g.atb_start, g.atb_len, g.pool_start, g.pool_end) == \
        (geo.atb_start, geo.atb_len, geo.pool_start, geo.pool_end)


def test_timing_on_a_full_128k_heap(firmware, qemu_capture):
    h, geo = heap_of(firmware, qemu_capture(HEAVY))
    t0 = time.thread_time()                  # CPU time: a loaded host cannot inflate it
    rel = relocate(**h, new_start=0x20100000, new_end=0x20140000)
    total = time.thread_time() - t0
    print(f"\n128 KiB heap, {rel.live_bytes} live bytes in {len(rel.walk.blocks)} blocks: "
          f"walk {rel.walk_s * 1e3:.1f} ms, relocate {rel.relocate_s * 1e3:.1f} ms, total {total * 1e3:.1f} ms")
    assert rel.live_bytes > 64 * 1024
    assert total < 5.0

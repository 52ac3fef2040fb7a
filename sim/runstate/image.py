"""Run-state images: the machine at an instruction boundary, as small as what is live.

Capture (any moment after the firmware's ``gc_init``; the CPU stopped between
two instructions):

- ``run.cpu``     every core register (incl. xPSR: handler mode and the exception
                  number being served) and the virtual clock, JSON;
- ``run.devices`` every device's state (JSON): the NVIC's enabled/pending/active
                  tables (exception nesting), SysTick and the timers' counters
                  (pending timer events), the UARTs' registers;
- ``run.ram``     the statics (mp_state_ctx among them) and the used C stack
                  (``sim.runstate.live``);
- ``run.heap``    the GC heap's tables and only the reachable blocks of its pool
                  (``sim.runstate.reach``); dead blocks come back as zeros.

Restore: reset the board (the ELF's code and initial data are back), write those
ranges, the heap and the ctx, then the devices, the clock and the CPU registers
last. Nothing is relocated: the stack holds untyped words, so the image is
refused unless firmware, board, ctx layout and heap bounds are exactly the same.
"""

from __future__ import annotations

import json
import struct
import zlib


from ..errors import ImageError
from ..image import (HibernateImage, ImageKind, _inflate, check_heap_inside, check_shape, check_used_blocks,
                     pack_used_blocks, unpack_used_blocks)
from ..mpy.state import MpState
from . import live, reach

SECTION_CPU, SECTION_RAM, SECTION_HEAP, SECTION_DEVICES = "run.cpu", "run.ram", "run.heap", "run.devices"
SECTIONS = (SECTION_CPU, SECTION_RAM, SECTION_HEAP, SECTION_DEVICES)
NOT_CAPTURED = {"nor_flash"}        # storage, not volatile state: it keeps its contents anyway
_RANGE = struct.Struct("<II")
_HEAP = struct.Struct("<III")       # alloc table, finaliser table, packed pool lengths
MAX_RAM = 64 << 20


def captured_peripherals(machine):
    return {n: p for n, p in machine.peripherals.items() if getattr(p, "type_name", "") not in NOT_CAPTURED}


def _json(value) -> bytes:
    return zlib.compress(json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), 9)


def capture(machine) -> HibernateImage:
    """The run-state image of ``machine`` as it stands (the caller stopped it).
    Four zlib-compressed sections: each costs header bytes, and every byte is
    flash program time paid out of the hold-up budget."""
    fw = machine.firmware
    state = MpState(machine, fw)
    geo = state.geometry()
    image = HibernateImage(fingerprint=fw.fingerprint, board=machine.board.name, heap=geo,
                           ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash(),
                           word_size=fw.word_size, kind=ImageKind.RUN_STATE)
    image.check_saveable(machine.board)
    stack = live.stack_range(machine)
    ranges = live.static_ranges(fw, [(geo.heap_start, geo.heap_end), stack]) + [stack]
    atb = machine.read(geo.atb_start, geo.atb_len)
    ftb = machine.read(geo.ftb_start, geo.ftb_len) if geo.has_ftb else b""
    raw_pool = machine.read(geo.pool_start, geo.pool_end - geo.pool_start)
    ram = [(a, machine.read(a, b - a)) for a, b in ranges]
    roots = [w for _, data in ram for w in reach.words(data, fw.word_size)]
    roots += [v for v in machine.cpu_state().values()]
    pool = pack_used_blocks(raw_pool, geo.block_size, reach.live_blocks(geo, atb, ftb, raw_pool, roots))
    image.sections[SECTION_CPU] = _json({"cpu": machine.cpu_state(), "now_ns": machine.clock.now()})
    image.sections[SECTION_RAM] = zlib.compress(b"".join(_RANGE.pack(a, len(d)) + d for a, d in ram), 9)
    image.sections[SECTION_HEAP] = zlib.compress(_HEAP.pack(len(atb), len(ftb), len(pool)) + atb + ftb + pool, 9)
    image.sections[SECTION_DEVICES] = _json({n: p.state() for n, p in captured_peripherals(machine).items()})
    return image


def _load_json(image: HibernateImage, name: str):
    try:
        return json.loads(_inflate(image.section(name), name, None, 1 << 20))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ImageError(f"section {name!r} is not valid JSON") from None


def check_resumable(machine, image: HibernateImage, heap: tuple[int, int] | None = None):
    """Everything a restore needs, checked before the machine is touched: returns
    (cpu section, RAM ranges, (atb, ftb, pool), device states). ``heap``: the bounds
    the user asked for (None: any)."""
    if image.kind is not ImageKind.RUN_STATE:
        raise ImageError(f"image #{image.sequence} is a {image.kind.label} image, not a run-state image")
    state = MpState(machine, machine.firmware)
    image.check_matches(fingerprint=machine.firmware.fingerprint, board=machine.board.name,
                        ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash())
    geo = image.heap
    if heap is not None and (geo.heap_start, geo.heap_end) != (heap[0], heap[1] & ~15):
        raise ImageError(f"run-state image has heap {geo.heap_start:#x}..{geo.heap_end:#x}, "
                         f"not the requested {heap[0]:#x}..{heap[1]:#x}: its stack holds untyped words, "
                         f"so it cannot be relocated")
    image.check_consistent()
    check_heap_inside(geo, machine.board)
    cpu = _load_json(image, SECTION_CPU)
    check_shape(cpu, {"cpu": machine.cpu_state(), "now_ns": 0}, SECTION_CPU)
    devices = _load_json(image, SECTION_DEVICES)
    mine = captured_peripherals(machine)
    check_shape(devices, {n: p.state() for n, p in mine.items()}, SECTION_DEVICES)
    for name, st in devices.items():
        try:
            mine[name].check_state(st)
        except ValueError as e:
            raise ImageError(f"section {SECTION_DEVICES!r}: {name}: {e}") from None
    ranges = _ranges(machine, _inflate(image.section(SECTION_RAM), SECTION_RAM, None, MAX_RAM))
    return cpu, ranges, _heap(image), devices


def _heap(image: HibernateImage) -> tuple[bytes, bytes, bytes]:
    geo = image.heap
    raw = _inflate(image.section(SECTION_HEAP), SECTION_HEAP, None, MAX_RAM)
    if len(raw) < _HEAP.size:
        raise ImageError(f"section {SECTION_HEAP!r} is truncated")
    n_atb, n_ftb, n_pool = _HEAP.unpack_from(raw)
    if (n_atb, n_ftb) != (geo.atb_len, geo.ftb_len if geo.has_ftb else 0) or _HEAP.size + n_atb + n_ftb + n_pool != len(raw):
        raise ImageError(f"section {SECTION_HEAP!r} does not hold the tables of its heap geometry")
    atb = raw[_HEAP.size:_HEAP.size + n_atb]
    ftb = raw[_HEAP.size + n_atb:_HEAP.size + n_atb + n_ftb]
    packed = raw[_HEAP.size + n_atb + n_ftb:]
    check_used_blocks(packed, geo.pool_end - geo.pool_start, geo.block_size)
    return atb, ftb, unpack_used_blocks(packed, geo.pool_end - geo.pool_start, geo.block_size)


def _ranges(machine, raw: bytes) -> list[tuple[int, bytes]]:
    spans = [(r.base, r.end) for r in machine.board.memory if not getattr(r, "rom", False)]
    out, pos = [], 0
    while pos < len(raw):
        if pos + _RANGE.size > len(raw):
            raise ImageError(f"section {SECTION_RAM!r} is truncated at byte {pos}")
        addr, n = _RANGE.unpack_from(raw, pos)
        pos += _RANGE.size
        if pos + n > len(raw) or not any(a <= addr and addr + n <= b for a, b in spans):
            raise ImageError(f"section {SECTION_RAM!r}: range {addr:#x}+{n:#x} is not inside this board's RAM")
        out.append((addr, raw[pos:pos + n]))
        pos += n
    return out


def restore(machine, image: HibernateImage, heap: tuple[int, int] | None = None) -> None:
    """Power on into ``image``: the CPU continues at the very instruction it was
    stopped before."""
    cpu, ranges, (atb, ftb, pool), devices = check_resumable(machine, image, heap)
    geo = image.heap
    machine.reset()
    for addr, data in ranges:
        machine.write(addr, data)
    machine.write(geo.atb_start, atb)
    if ftb:
        machine.write(geo.ftb_start, ftb)
    machine.write(geo.pool_start, pool)
    machine.uc.ctl_flush_tb()
    machine.clock.set(cpu["now_ns"])
    for name, st in devices.items():
        machine.peripherals[name].load_state(st)
    machine.load_cpu_state(cpu["cpu"])

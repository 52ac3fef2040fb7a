"""Run-state images: the machine at an instruction boundary, as small as what is live.

Capture (any moment after the firmware's ``gc_init``; the CPU stopped between
two instructions):

- ``run.cpu``   every core register (incl. xPSR: handler mode and the exception
                number being served) and the virtual clock, JSON;
- ``periph.*``  every device's state, as the prompt-time image has it: the NVIC's
                enabled/pending/active tables (exception nesting), SysTick and the
                timers' counters (pending timer events), the UARTs' registers;
- ``run.ram``   the statics and the used C stack (``sim.runstate.live``);
- ``ctx``       mp_state_ctx, and the GC heap as the prompt-time image stores it:
                its tables and only the used blocks of the pool.

Restore: reset the board (the ELF's code and initial data are back), write those
ranges, the heap and the ctx, then the devices, the clock and the CPU registers
last. Nothing is relocated: the stack holds untyped words, so the image is
refused unless firmware, board, ctx layout and heap bounds are exactly the same.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from ..errors import ImageError
from ..image import (SECTION_ATB, SECTION_CTX, SECTION_FTB, SECTION_POOL, HibernateImage, ImageKind,
                     check_shape, pack_used_blocks, unpack_used_blocks, _inflate)
from ..mpy.state import MpState
from . import live

SECTION_CPU, SECTION_RAM = "run.cpu", "run.ram"
NOT_CAPTURED = {"nor_flash"}        # storage, not volatile state: it keeps its contents anyway
_RANGE = struct.Struct("<II")
MAX_RAM = 64 << 20


def captured_peripherals(machine):
    return {n: p for n, p in machine.peripherals.items() if getattr(p, "type_name", "") not in NOT_CAPTURED}


def capture(machine) -> HibernateImage:
    """The run-state image of ``machine`` as it stands (the caller stopped it)."""
    fw = machine.firmware
    state = MpState(machine, fw)
    geo = state.geometry()
    image = HibernateImage(fingerprint=fw.fingerprint, board=machine.board.name, heap=geo,
                           ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash(),
                           kind=ImageKind.RUN_STATE)
    image.check_saveable(machine.board)
    stack = live.stack_range(machine)
    ctx = (state.ctx_addr, state.ctx_addr + state.ctx_size)
    ranges = live.static_ranges(fw, [(geo.heap_start, geo.heap_end), stack, ctx]) + [stack]
    image.sections[SECTION_CPU] = zlib.compress(json.dumps(
        {"cpu": machine.cpu_state(), "now_ns": machine.clock.now()}, sort_keys=True).encode(), 9)
    image.sections[SECTION_RAM] = zlib.compress(b"".join(
        _RANGE.pack(a, b - a) + machine.read(a, b - a) for a, b in ranges), 9)
    image.sections[SECTION_CTX] = state.read_ctx()
    image.set_table(SECTION_ATB, machine.read(geo.atb_start, geo.atb_len))
    if geo.has_ftb:
        image.set_table(SECTION_FTB, machine.read(geo.ftb_start, geo.ftb_len))
    pool = machine.read(geo.pool_start, geo.pool_end - geo.pool_start)
    image.sections[SECTION_POOL] = pack_used_blocks(pool, geo.block_size, state.used_blocks(geo))
    for name, periph in captured_peripherals(machine).items():
        image.set_peripheral_state(name, periph.state())
    return image


def check_resumable(machine, image: HibernateImage, heap: tuple[int, int] | None = None) -> tuple[dict, list]:
    """Everything a restore needs, checked before the machine is touched: returns
    (cpu section, RAM ranges). ``heap``: the bounds the user asked for (None: any)."""
    if image.kind is not ImageKind.RUN_STATE:
        raise ImageError(f"image #{image.sequence} is a {image.kind.label} image, not a run-state image")
    state = MpState(machine, machine.firmware)
    image.check_matches(fingerprint=machine.firmware.fingerprint, board=machine.board.name,
                        ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash())
    if heap is not None and (image.heap.heap_start, image.heap.heap_end) != (heap[0], heap[1] & ~15):
        raise ImageError(f"run-state image has heap {image.heap.heap_start:#x}..{image.heap.heap_end:#x}, "
                         f"not the requested {heap[0]:#x}..{heap[1]:#x}: its stack holds untyped words, "
                         f"so it cannot be relocated")
    for name in (SECTION_CPU, SECTION_RAM, SECTION_CTX, SECTION_ATB, SECTION_POOL):
        image.section(name)
    image.check_usable(machine.board, captured_peripherals(machine))
    try:
        cpu = json.loads(_inflate(image.sections[SECTION_CPU], SECTION_CPU, None, 1 << 16))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ImageError(f"section {SECTION_CPU!r} is not valid JSON") from None
    check_shape(cpu, {"cpu": machine.cpu_state(), "now_ns": 0}, SECTION_CPU)
    return cpu, _ranges(machine, _inflate(image.sections[SECTION_RAM], SECTION_RAM, None, MAX_RAM))


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


def restore(machine, image: HibernateImage, heap: tuple[int, int] | None = None) -> dict[str, Any]:
    """Power on into ``image``: the CPU continues at the very instruction it was
    stopped before. Returns what was restored (bytes per part)."""
    cpu, ranges = check_resumable(machine, image, heap)
    geo = image.heap
    atb, ftb = image.table(SECTION_ATB), image.table(SECTION_FTB)
    pool = unpack_used_blocks(image.section(SECTION_POOL), geo.pool_end - geo.pool_start, geo.block_size)
    machine.reset()
    for addr, data in ranges:
        machine.write(addr, data)
    machine.write(image.ctx_addr, image.section(SECTION_CTX))
    machine.write(geo.atb_start, atb)
    if geo.has_ftb and ftb is not None:
        machine.write(geo.ftb_start, ftb)
    machine.write(geo.pool_start, pool)
    machine.uc.ctl_flush_tb()
    machine.clock.set(cpu["now_ns"])
    for name, st in image.peripheral_states().items():
        machine.peripherals[name].load_state(st)
    machine.load_cpu_state(cpu["cpu"])
    return {"ram_bytes": sum(len(d) for _, d in ranges), "ctx_bytes": image.ctx_size,
            "pool_bytes": len(image.section(SECTION_POOL))}

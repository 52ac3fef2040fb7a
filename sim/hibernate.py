"""The hibernate controller: MicroPython issue #3833's procedure, step by step.

Save (at a safe point: the firmware idle at the REPL, waiting for input):
  1. copy the GC heap (alloc table, finaliser table, used blocks of the pool),
  2. copy ``mp_state_ctx``,
  then capture each peripheral's state in its own section and commit the image
  to the flash's hibernate partition (power-loss safe, see sim.slots).

Resume (same firmware, same heap location and size):
  0. boot the same firmware to its *restore point*, where nothing on the C stack
     or in statics holds a heap pointer yet (before the REPL allocates its line
     buffer: restoring into a boot already sitting at the prompt leaves the REPL's
     stack-held vstr aimed into the replaced heap -> corruption on typing),
  1. the heap area in RAM is the fresh boot's, checked equal to the image's,
  2. restore ``mp_state_ctx``'s ``vm`` and ``mem`` parts; the ``thread`` part holds
     addresses on the *current* C stack (stack_top, nlr_top, dict pointers) and
     is kept from this boot,
  3. call the firmware's own ``gc_init(start, end)``: it resets the heap tables and
     re-derives the GC pointers, exactly as on the device,
  4. copy the saved heap back (tables + used blocks),
  then re-apply peripheral state and let the firmware continue to its prompt.

Heap objects point into the firmware image (type objects, the ROM qstr pool,
builtin functions), so an image is refused unless the firmware fingerprint, board,
heap geometry and ctx layout all match, with a message naming what differs.
Nothing below this module knows about hibernation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import ImageError, SimError
from .image import (SECTION_ATB, SECTION_CTX, SECTION_FTB, SECTION_POOL, HibernateImage, decode,
                    pack_used_blocks, unpack_used_blocks)
from .mpy import heap_config
from .mpy.state import MpState
from .mpy.support import RESTORE_POINTS
from .slots import Partition

# Peripherals whose state is persistent storage or host plumbing, not volatile hardware state.
NOT_CAPTURED = {"nor_flash"}


@dataclass
class SaveReport:
    image_bytes: int
    heap_bytes: int
    used_heap_bytes: int
    ctx_bytes: int
    slot: int
    sequence: int
    sectors_erased: int
    flash_ops: int
    flash_time_us: int
    host_time_s: float


@dataclass
class ResumeReport:
    sequence: int
    image_bytes: int
    used_heap_bytes: int
    host_time_s: float
    skipped: list[str] = field(default_factory=list)   # one line per image not used, and why
    relocated: str = ""                                  # how the heap was moved, when it was


class Hibernator:
    def __init__(self, machine, flash, heap: tuple[int, int] | None = None):
        self.machine = machine
        self.heap = heap                 # heap bounds for the boot-parameter block (None: firmware default)
        self.flash = flash
        self.firmware = machine.firmware
        self.partition = Partition(flash)

    # -- save ---------------------------------------------------------------------
    def save(self) -> SaveReport:
        t0 = time.perf_counter()
        state = MpState(self.machine, self.firmware)
        self._require_safe_point(state)
        geo = state.geometry()
        image = HibernateImage(fingerprint=self.firmware.fingerprint, board=self.machine.board.name, heap=geo,
                               ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash(),
                               word_size=self.firmware.word_size)
        image.check_saveable(self.machine.board)
        # 1. the GC heap: its tables whole, and only the used blocks of the pool
        used = state.used_blocks(geo)
        image.set_table(SECTION_ATB, self.machine.read(geo.atb_start, geo.atb_len))
        if geo.has_ftb:
            image.set_table(SECTION_FTB, self.machine.read(geo.ftb_start, geo.ftb_len))
        pool = self.machine.read(geo.pool_start, geo.pool_end - geo.pool_start)
        image.sections[SECTION_POOL] = pack_used_blocks(pool, geo.block_size, used)
        # 2. mp_state_ctx (whole; resume takes only vm and mem from it)
        image.sections[SECTION_CTX] = state.read_ctx()
        # hardware state, each peripheral in its own section
        for name, periph in self._captured_peripherals():
            image.set_peripheral_state(name, periph.state())
        # commit to flash: the previous image stays intact until this one is complete
        seq = self.partition.next_sequence()
        image.sequence = seq
        data = image.encode()
        erases0, ops0, busy0 = self.flash.erase_ops, self.flash.ops_count, self.flash.busy_us
        slot = self.partition.write(data, sequence=seq)
        return SaveReport(image_bytes=len(data), heap_bytes=geo.end - geo.start,
                          used_heap_bytes=sum(used) * geo.block_size, ctx_bytes=state.ctx_size, slot=slot,
                          sequence=seq, sectors_erased=self.flash.erase_ops - erases0,
                          flash_ops=self.flash.ops_count - ops0, flash_time_us=self.flash.busy_us - busy0,
                          host_time_s=time.perf_counter() - t0)

    def _require_safe_point(self, state: MpState) -> None:
        if not self.machine.is_waiting_for_input():
            raise SimError("cannot hibernate now: the firmware is not idle waiting for input "
                           "(hibernate at the REPL prompt)")
        if state.gc_locked():
            raise SimError("cannot hibernate now: the GC is locked (inside an interrupt handler or allocation)")

    def _captured_peripherals(self):
        for name, periph in self.machine.peripherals.items():
            if getattr(periph, "type_name", "") not in NOT_CAPTURED:
                yield name, periph

    # -- resume -------------------------------------------------------------------
    def latest_usable_image(self) -> tuple[HibernateImage | None, list[str]]:
        """Newest image that decodes and matches this firmware/board/geometry; older
        valid slots are the fallback. Returns (image or None, reasons for each skip)."""
        skipped: list[str] = []
        for info in self.partition.scan():
            if not info.valid and info.reason and not info.reason.startswith("empty"):
                skipped.append(f"slot {info.slot.index}: {info.reason}")
        for info, data in self.partition.images_newest_first():
            try:
                image = decode(data)
                self._check_compatible(image)
                return image, skipped
            except ImageError as e:
                skipped.append(f"slot {info.slot.index} (image #{info.sequence}): {e}")
        return None, skipped

    def _check_compatible(self, image: HibernateImage) -> None:
        image.check_matches(fingerprint=self.firmware.fingerprint, board=self.machine.board.name)
        for name in (SECTION_CTX, SECTION_ATB, SECTION_POOL):
            image.section(name)
        image.check_usable(self.machine.board, dict(self._captured_peripherals()))

    def resume(self, image: HibernateImage | None = None) -> ResumeReport:
        """Boot the firmware and restore ``image`` (default: the newest usable one).
        The machine is left running the firmware just past its restore point."""
        t0 = time.perf_counter()
        skipped: list[str] = []
        if image is None:
            image, skipped = self.latest_usable_image()
            if image is None:
                why = ("; ".join(skipped)) if skipped else "the hibernate partition is empty"
                raise ImageError(f"no valid hibernate image to resume ({why})")
        # 0. a fresh boot, stopped where nothing holds heap pointers yet
        restore_point = self._restore_point()
        self.machine.reset()
        heap_config.apply(self.machine, self.heap)
        # Unicorn honours a stop address only in blocks translated after the call:
        # drop the cached translation of the restore point from the previous boot.
        self.machine.uc.ctl_remove_cache(restore_point, restore_point + 2)
        self.machine.run_until(restore_point)
        state = MpState(self.machine, self.firmware)
        # 1. the heap area in RAM: this boot's, where the image's was -- or, when the
        #    heap has moved or changed size, the image relocated into it by a precise,
        #    type-aware walk (sim.mpy.relocate); an image it cannot walk is refused.
        geo = state.geometry()
        heap_config.check_applied(self.heap, geo.start, geo.end)
        image.check_matches(ctx_addr=state.ctx_addr, ctx_size=state.ctx_size, ctx_layout=state.layout_hash())
        ctx, atb, ftb, pool = image.section(SECTION_CTX), image.table(SECTION_ATB), image.table(SECTION_FTB), None
        relocated = ""
        if image.heap != geo:
            from .mpy.relocate import relocate_image
            rel = relocate_image(self.firmware, image, geo.start, geo.end)
            ctx, atb, ftb, pool = rel.ctx, rel.atb, rel.ftb, rel.pool
            relocated = (f"heap relocated from {image.heap.heap_start:#x}..{image.heap.heap_end:#x} to "
                         f"{geo.start:#x}..{geo.end:#x} ({rel.live_bytes} B live, {rel.rehashed_tables} tables "
                         f"rehashed)")
        # 2. restore mp_state_ctx: vm and mem from the image, thread from this boot
        self._write_ctx_parts(state, ctx, ("vm", "mem"))
        # 3. gc_init(start, end) in the firmware: reset the tables, fix the GC pointers;
        #    then mem again, so what gc_init resets (gc.disable(), gc.threshold(), the
        #    sweep limit) is as it was at hibernation
        self.machine.call(self.firmware.symbol("gc_init").addr, geo.start, geo.end)
        self._write_ctx_parts(state, ctx, ("mem",))
        state.heap_in_use_limit(geo)
        # 4. copy the saved heap back
        self.machine.write(geo.atb_start, atb)
        if geo.has_ftb and ftb is not None:
            self.machine.write(geo.ftb_start, ftb)
        if pool is None:
            pool = unpack_used_blocks(image.section(SECTION_POOL), geo.pool_end - geo.pool_start, geo.block_size)
        self.machine.write(geo.pool_start, pool)
        # hardware state as it was at hibernation
        for name, st in image.peripheral_states().items():
            if name in self.machine.peripherals:
                self.machine.peripherals[name].load_state(st)
        used = sum(MpState(self.machine, self.firmware).used_blocks()) * geo.block_size
        return ResumeReport(sequence=image.sequence, image_bytes=image.encoded_size or len(image.encode()), used_heap_bytes=used,
                            host_time_s=time.perf_counter() - t0, skipped=skipped, relocated=relocated)

    def _write_ctx_parts(self, state: MpState, ctx: bytes, parts: tuple[str, ...]) -> None:
        for part in parts:
            addr, size = state.part(part)
            off = addr - state.ctx_addr
            self.machine.write(addr, ctx[off:off + size])

    def _restore_point(self) -> int:
        for name in RESTORE_POINTS:
            if self.firmware.has_symbol(name):
                return self.firmware.symbol(name).addr
        raise SimError(f"{self.firmware.path.name} has no restore point (needs one of: {', '.join(RESTORE_POINTS)})")


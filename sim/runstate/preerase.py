"""Slot writes that only erase what is not erased yet, and keeping the next slot erased.

A prompt-time hibernate erases its target sectors first (``sim.slots``): at 45 ms
per 4 KiB sector that is most of its flash time, far more than a hold-up
capacitor gives. Here a write is first *planned*: the sectors of the target span
that are not already all ``erase_value`` are erased, then the image pages and the
commit record are programmed, in the same order and with the same power-loss
argument as ``sim.slots.Partition.write``. ``erase_next`` erases, while the board
runs (power is good), the slot the next write will target, so a power-fail
hibernate finds it erased and only programs.

The plan knows each operation's emulated duration, so a hold-up budget can tell
before writing which operation the power dies in.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FlashError, ImageError
from ..slots import Partition, commit_record


@dataclass(frozen=True)
class Op:
    kind: str           # "erase" | "program"
    offset: int
    data: bytes = b""

    def duration_us(self, flash) -> int:
        return flash.sector_erase_us if self.kind == "erase" else flash.page_program_us


@dataclass(frozen=True)
class Plan:
    slot: int
    sequence: int
    ops: list[Op]

    def duration_us(self, flash) -> int:
        return sum(op.duration_us(flash) for op in self.ops)

    def erases(self) -> int:
        return sum(op.kind == "erase" for op in self.ops)

    def unprepared_us(self, flash, image_len: int) -> int:
        """This write's time had every sector of its span needed an erase first."""
        span = -(-(flash.page_size + image_len) // flash.sector_size)
        return self.duration_us(flash) + (span - self.erases()) * flash.sector_erase_us

    def ops_within(self, flash, budget_us: int) -> int:
        """How many operations complete within ``budget_us``."""
        spent = 0
        for i, op in enumerate(self.ops):
            spent += op.duration_us(flash)
            if spent > budget_us:
                return i
        return len(self.ops)


def plan_write(part: Partition, image: bytes) -> Plan:
    flash = part.flash
    if len(image) > part.capacity:
        raise ImageError(f"hibernate image is {len(image)} bytes; a slot holds at most {part.capacity}")
    infos = part.scan()
    seq = part.next_sequence(infos)
    slot = part._target(infos)
    page, sector = flash.page_size, flash.sector_size
    span = -(-(page + len(image)) // sector) * sector
    erased = bytes([flash.erase_value]) * sector
    ops = [Op("erase", s) for s in range(slot.offset, slot.offset + span, sector)
           if flash.read(s, sector) != erased]
    body = slot.offset + page
    for pos in range(0, len(image), page):
        chunk = image[pos:pos + page]
        if chunk.count(flash.erase_value) != len(chunk):
            ops.append(Op("program", body + pos, chunk))
    ops.append(Op("program", slot.offset, commit_record(seq, image)))
    return Plan(slot.index, seq, ops)


def execute(part: Partition, plan: Plan, image: bytes) -> int:
    """Carry out ``plan`` (made for ``image`` on this partition); returns the slot index."""
    flash = part.flash
    slot = part.slots[plan.slot]
    *work, commit = plan.ops
    for op in work:
        if op.kind == "erase":
            flash.erase_sector(op.offset)
        else:
            flash.program(op.offset, op.data)
    if flash.read(slot.offset + flash.page_size, len(image)) != image:
        raise FlashError(f"read-back of the image in slot {slot.index} differs from what was programmed",
                         address=flash.base + slot.offset + flash.page_size, op="verify")
    flash.program(commit.offset, commit.data)
    return slot.index


def erase_next(part: Partition) -> int:
    """Erase every not-erased sector of the slot the next write will target (the
    newest image is never in it). Returns the sectors erased. The slot is read
    once and compared a sector's bytes at a time (~1 ms for 2 MiB; a read per
    sector took ~7 ms, memoryview comparisons ~12 ms)."""
    flash = part.flash
    slot = part._target(part.scan())
    data, sector = flash.read(slot.offset, slot.size), flash.sector_size
    erased, n = bytes([flash.erase_value]) * sector, 0
    for s in range(0, slot.size, sector):
        if data[s:s + sector] != erased:
            flash.erase_sector(slot.offset + s)
            n += 1
    return n

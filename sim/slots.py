"""Power-loss-safe storage of hibernate images in the flash's hibernate partition.

The partition (``hibernate_offset``/``hibernate_size`` in the board file) is cut
into equal, sector-aligned slots (two by default). Each slot is::

    page 0         commit record: magic, sequence, image length, image CRC32,
                   and a CRC32 over those fields. Left erased until the very end.
    page 1 ...     the image bytes

Writing an image (``write``), in this order, so that a power cut at any
operation leaves either the previous image or the new one readable, never a mix:

1. check that the image fits a slot, before anything is erased;
2. choose a target slot that is *not* the one holding the newest valid image
   (that image must survive until the new one is committed);
3. erase the sectors the new image needs, the commit record's sector first, so
   whatever older image the slot held stops validating at once;
4. program the image pages, then read them back;
5. program the commit record, last. Only now does the new image exist.

A torn program can only clear some of the bits that were to be cleared, so a
torn commit record differs from the intended one and fails its own CRC (or, if
every bit made it, *is* the intended record, over a body already verified);
a torn body fails the image CRC; a torn erase of the target slot breaks that
slot's older record or body, and the newest image is in the other slot anyway.

Reading (``read_latest``) returns the valid image with the highest sequence
number, plus one line per slot that did not validate; erased or zeroed flash is
"no valid image" (``None``), a state, not an error. Nothing here parses images.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

from .errors import BoardError, FlashError, ImageError
from .peripherals.nor_flash import NorFlash

SLOT_MAGIC = b"MPSSLOT1"
_RECORD = struct.Struct("<8sQII")   # magic, sequence, image length, image CRC32
_RECORD_CRC = struct.Struct("<I")
RECORD_SIZE = _RECORD.size + _RECORD_CRC.size


@dataclass(frozen=True)
class Slot:
    index: int
    offset: int     # from the flash's base
    size: int


@dataclass(frozen=True)
class SlotInfo:
    slot: Slot
    state: str                  # "valid" | "empty" | "invalid"
    sequence: int | None = None  # from a commit record whose own CRC holds
    length: int | None = None
    reason: str = ""            # why the slot is not valid (one line)

    @property
    def valid(self) -> bool:
        return self.state == "valid"


class Partition:
    """The hibernate partition of one ``NorFlash``, as ``slots`` equal slots."""

    def __init__(self, flash: NorFlash, offset: int | None = None, size: int | None = None, slots: int = 2):
        s = flash.spec.settings
        self.flash = flash
        self.offset = int(s.get("hibernate_offset", 0) if offset is None else offset)
        self.size = int(s.get("hibernate_size", flash.size - self.offset) if size is None else size)
        sector = flash.sector_size
        slot_size = (self.size // max(slots, 1)) // sector * sector
        self._check(slots, slot_size)
        self.slots = [Slot(i, self.offset + i * slot_size, slot_size) for i in range(slots)]

    def _check(self, slots: int, slot_size: int) -> None:
        f, where = self.flash, f"flash {self.flash.name}: hibernate partition"
        if self.offset % f.sector_size or self.size % f.sector_size:
            raise BoardError(f"{where} {self.offset:#x}+{self.size:#x} is not sector-aligned ({f.sector_size})")
        if self.offset < 0 or self.offset + self.size > f.size:
            raise BoardError(f"{where} {self.offset:#x}+{self.size:#x} does not fit the {f.size:#x}-byte flash")
        if slots < 2 or slot_size < f.sector_size:
            raise BoardError(f"{where} of {self.size:#x} bytes cannot hold {slots} slots of at least "
                             f"one sector (need >= 2 slots)")

    @property
    def capacity(self) -> int:
        """Largest image a slot can hold, in bytes."""
        return self.slots[0].size - self.flash.page_size

    # -- reading ------------------------------------------------------------------
    def scan(self) -> list[SlotInfo]:
        return [self._inspect(slot) for slot in self.slots]

    def _inspect(self, slot: Slot) -> SlotInfo:
        raw = self.flash.read(slot.offset, RECORD_SIZE)
        if raw == bytes([self.flash.erase_value]) * RECORD_SIZE:
            return SlotInfo(slot, "empty", reason="empty (erased)")
        magic, seq, length, body_crc = _RECORD.unpack_from(raw)
        if magic != SLOT_MAGIC:
            return SlotInfo(slot, "invalid", reason=f"no commit record (found {magic!r})")
        (crc,) = _RECORD_CRC.unpack_from(raw, _RECORD.size)
        if zlib.crc32(raw[:_RECORD.size]) != crc:
            return SlotInfo(slot, "invalid", reason="commit record CRC mismatch (torn or corrupt)")
        if length > self.capacity:
            return SlotInfo(slot, "invalid", seq, length,
                            f"commit record says {length} bytes, more than the slot's {self.capacity}")
        body = self.flash.read(slot.offset + self.flash.page_size, length)
        if zlib.crc32(body) != body_crc:
            return SlotInfo(slot, "invalid", seq, length, f"image #{seq} ({length} bytes) CRC mismatch")
        return SlotInfo(slot, "valid", seq, length)

    def body(self, info: SlotInfo) -> bytes:
        assert info.valid and info.length is not None
        return self.flash.read(info.slot.offset + self.flash.page_size, info.length)

    def images_newest_first(self) -> Iterator[tuple[SlotInfo, bytes]]:
        """Every valid image, newest first: a caller whose newest image turns out unusable
        (another firmware, say) can fall back to the older one."""
        for info in sorted((i for i in self.scan() if i.valid), key=lambda i: (-(i.sequence or 0), i.slot.index)):
            yield info, self.body(info)

    def read_latest(self) -> tuple[bytes | None, list[str]]:
        """(newest valid image or None, one line per slot that is not valid)."""
        infos = self.scan()
        reasons = [f"slot {i.slot.index} at {self.flash.base + i.slot.offset:#010x}: {i.reason}"
                   for i in infos if not i.valid]
        newest = self._newest_valid(infos)
        return (self.body(newest) if newest else None), reasons

    @staticmethod
    def _newest_valid(infos: list[SlotInfo]) -> SlotInfo | None:
        valid = [i for i in infos if i.valid]
        return max(valid, key=lambda i: (i.sequence, -i.slot.index)) if valid else None

    def next_sequence(self, infos: list[SlotInfo] | None = None) -> int:
        """One more than any sequence number with an intact commit record."""
        seqs = [i.sequence for i in (infos or self.scan()) if i.sequence is not None]
        return max(seqs, default=0) + 1

    # -- writing ------------------------------------------------------------------
    def write(self, image: bytes, sequence: int | None = None) -> int:
        """Store ``image`` power-loss-safely; return the slot index it went to."""
        if len(image) > self.capacity:
            raise ImageError(f"hibernate image is {len(image)} bytes; a slot holds at most {self.capacity} "
                             f"(partition {self.size:#x} bytes at {self.flash.base + self.offset:#010x}, "
                             f"{len(self.slots)} slots)")
        infos = self.scan()
        seq = self._sequence(infos, sequence)
        slot = self._target(infos)
        page, sector = self.flash.page_size, self.flash.sector_size
        span = -(-(page + len(image)) // sector) * sector
        self.flash.erase_range(slot.offset, span)
        self.flash.program_span(slot.offset + page, image)
        if self.flash.read(slot.offset + page, len(image)) != image:
            raise FlashError(f"read-back of the image in slot {slot.index} differs from what was programmed",
                             address=self.flash.base + slot.offset + page, op="verify")
        self.flash.program(slot.offset, commit_record(seq, image))
        return slot.index

    def _sequence(self, infos: list[SlotInfo], wanted: int | None) -> int:
        floor = self.next_sequence(infos)
        if wanted is None:
            return floor
        if not floor <= wanted < 1 << 64:
            raise ValueError(f"sequence {wanted} must be >= {floor} (newer than every stored image)")
        return wanted

    def _target(self, infos: list[SlotInfo]) -> Slot:
        newest = self._newest_valid(infos)
        others = [i for i in infos if i is not newest]
        # an unusable slot first, else the oldest valid image
        others.sort(key=lambda i: (i.valid, i.sequence or 0, i.slot.index))
        return others[0].slot


def commit_record(sequence: int, image: bytes) -> bytes:
    head = _RECORD.pack(SLOT_MAGIC, sequence, len(image), zlib.crc32(image))
    return head + _RECORD_CRC.pack(zlib.crc32(head))


# -- the brief's function API --------------------------------------------------------

def write_image(flash: NorFlash, image: bytes, sequence: int | None = None) -> int:
    return Partition(flash).write(image, sequence)


def read_latest(flash: NorFlash) -> tuple[bytes | None, list[str]]:
    return Partition(flash).read_latest()

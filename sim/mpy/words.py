"""The target's machine word, as everything that reads a heap sees it.

mp_obj_t, pointers, size_t and mp_int_t are one word wide: 4 bytes on the 32-bit
boards, 8 on the 64-bit one (lp64). The width comes from the ELF's class
(``Firmware.word_size``), never from a board's name; every other size (struct
fields, qstr_hash_t, mp_float_t...) comes from DWARF where it is read.

What follows from the width, in object representation A (py/obj.h):
- a small int is ``value << 1 | 1``: 31 bits of value on 32-bit, 63 on 64-bit;
- a GC block is ``MICROPY_BYTES_PER_GC_BLOCK`` = 4 words (16 or 32 bytes: the
  default of py/mpconfig.h, which our ports and upstream's qemu ports keep);
- hashes (``mp_uint_t``) wrap at the word.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

WORDS_PER_BLOCK = 4


@dataclass(frozen=True)
class Word:
    size: int                       # bytes: 4 or 8
    _s: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.size not in (4, 8):
            raise ValueError(f"a machine word of {self.size} bytes")
        object.__setattr__(self, "_s", struct.Struct("<I" if self.size == 4 else "<Q"))

    @classmethod
    def of(cls, firmware) -> "Word":
        return cls(firmware.word_size)

    @property
    def bits(self) -> int:
        return 8 * self.size

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    @property
    def block_size(self) -> int:
        """Bytes per GC block."""
        return WORDS_PER_BLOCK * self.size

    def unpack(self, data: bytes, offset: int = 0) -> int:
        return self._s.unpack_from(data, offset)[0]

    def pack(self, value: int) -> bytes:
        return self._s.pack(value & self.mask)

    def pack_into(self, buf: bytearray, offset: int, value: int) -> None:
        self._s.pack_into(buf, offset, value & self.mask)

    def signed(self, v: int) -> int:
        """A word read as mp_int_t."""
        v &= self.mask
        return v - (1 << self.bits) if v >> (self.bits - 1) else v

    def small_int_value(self, obj: int) -> int:
        """MP_OBJ_SMALL_INT_VALUE of a tagged small int (an arithmetic shift)."""
        return self.signed(obj) >> 1

    def hash_of_small_int(self, v: int) -> int:
        """The mp_uint_t a map lookup takes from ``MP_OBJ_NEW_SMALL_INT(v)``: the value
        keeps its low ``bits - 1`` bits, sign-extended."""
        return self.small_int_value(((v << 1) | 1) & self.mask) & self.mask

"""The GC heap's geometry: the one type for where a heap's parts are.

py/gc.c lays a heap given to ``gc_init(start, end)`` out as
[alloc table (ATB) | gap | finaliser table (FTB, optional) | pool]: the ATB holds
2 bits per block (0 free, 1 head, 2 tail, 3 mark), 4 blocks per byte, first block
in the low bits; the FTB 1 bit per block; the pool ends at ``end`` rounded down to
a block. Since 1.20 one gap byte follows the ATB (``ALLOC_TABLE_GAP_BYTE``), so
FTB bits cannot be read as a tail of the last block. The saved image, the
interpreter view and the relocator all use this type.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCKS_PER_ATB = 4
BLOCKS_PER_FTB = 8
AT_FREE, AT_HEAD, AT_TAIL, AT_MARK = 0, 1, 2, 3


@dataclass(frozen=True)
class HeapGeometry:
    """Where the GC heap is and how it is cut up (addresses are guest addresses)."""

    heap_start: int
    heap_end: int
    atb_start: int      # allocation table
    atb_len: int        # bytes
    ftb_start: int      # finaliser table (0/0 when the firmware has none)
    ftb_len: int
    pool_start: int
    pool_end: int
    block_size: int     # bytes per GC block

    @property
    def start(self) -> int:
        return self.heap_start

    @property
    def end(self) -> int:
        return self.heap_end

    @property
    def n_blocks(self) -> int:
        return self.atb_len * BLOCKS_PER_ATB

    @property
    def has_ftb(self) -> bool:
        return self.ftb_len > 0


def ftb_len_for(atb_len: int) -> int:
    return (atb_len * BLOCKS_PER_ATB + BLOCKS_PER_FTB - 1) // BLOCKS_PER_FTB


def gc_layout(start: int, end: int, *, finaliser: bool, block_size: int, atb_gap: int) -> HeapGeometry:
    """The layout ``gc_init(start, end)`` gives a heap (py/gc.c, gc_init / gc_setup_area)."""
    end &= ~(block_size - 1)
    total = end - start - atb_gap
    if finaliser:
        atb_len = total * 8 // (8 + 8 * BLOCKS_PER_ATB // BLOCKS_PER_FTB + 8 * BLOCKS_PER_ATB * block_size)
        ftb_len, ftb_start = ftb_len_for(atb_len), start + atb_len + atb_gap
    else:
        atb_len = total // (1 + 8 // 2 * block_size)
        ftb_len = ftb_start = 0
    pool_start = end - atb_len * BLOCKS_PER_ATB * block_size
    return HeapGeometry(heap_start=start, heap_end=end, atb_start=start, atb_len=atb_len, ftb_start=ftb_start,
                        ftb_len=ftb_len, pool_start=pool_start, pool_end=end, block_size=block_size)

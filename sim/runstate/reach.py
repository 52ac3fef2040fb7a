"""The heap blocks a running program can still reach, found as MicroPython's own
collector would find them (conservatively: any word pointing anywhere into an
object keeps the whole object).

A program that makes garbage between collections leaves used-but-dead blocks
in the pool; their bytes never matter again (the next collection frees them, and
an allocation initialises what it hands out), so a run-state image stores the
allocation table whole but only the *reachable* blocks' bytes: every byte saved
is flash program time out of the hold-up budget. Roots are every word of the
statics, the used C stack and the CPU registers (a superset of what gc_collect
scans). Objects with a finaliser are kept too (a later sweep runs their
``__del__``). Mid-collection (marked blocks in the table) nothing is dropped.
"""

from __future__ import annotations

import struct

from ..mpy.geometry import AT_FREE, AT_HEAD, BLOCKS_PER_ATB

_AT_TAIL, _AT_MARK = 2, 3


def live_blocks(geo, atb: bytes, ftb: bytes, pool: bytes, roots: list[int]) -> bytes:
    """One byte per block: 1 for the blocks of reachable objects, else 0."""
    kinds = [(byte >> (2 * i)) & 3 for byte in atb for i in range(BLOCKS_PER_ATB)]
    n = (geo.pool_end - geo.pool_start) // geo.block_size
    kinds = kinds[:n]
    if _AT_MARK in kinds:                         # a collection is under way: keep every used block
        return bytes(k != AT_FREE for k in kinds)
    bs, start = geo.block_size, geo.pool_start
    live = bytearray(n)
    todo = []

    def reach(word: int) -> None:
        if not start <= word < geo.pool_end:
            return
        b = (word - start) // bs
        while b > 0 and kinds[b] == _AT_TAIL:
            b -= 1
        if kinds[b] == AT_HEAD and not live[b]:
            todo.append(b)
            live[b] = 1

    for w in roots:
        reach(w)
    if ftb:
        for b in range(n):
            if kinds[b] == AT_HEAD and ftb[b // 8] >> (b % 8) & 1 and not live[b]:
                live[b] = 1
                todo.append(b)
    while todo:
        b = todo.pop()
        end = b + 1
        while end < n and kinds[end] == _AT_TAIL:
            live[end] = 1
            end += 1
        for w in words(pool[b * bs:end * bs], bs // 4):     # a GC block is 4 words
            reach(w)
    return bytes(live)


def words(data: bytes, width: int) -> list[int]:
    """``data`` as little-endian words of ``width`` bytes (4, or 8 on a 64-bit target)."""
    code = {4: "I", 8: "Q"}[width]
    n = len(data) // width
    return list(struct.unpack(f"<{n}{code}", data[:n * width]))

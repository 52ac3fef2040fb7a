"""A view of the MicroPython interpreter inside a machine's memory.

Everything is located through the firmware's symbols and DWARF layouts, never
hard-coded offsets, so firmware of other MicroPython versions and configurations
works as long as it has ``mp_state_ctx`` and debug info.

GC facts used here (py/gc.c): ``gc_init(start, end)`` lays out the heap as
[alloc table (ATB) | finaliser table (FTB, optional) | pool]; the ATB holds
2 bits per block (0 free, 1 head, 2 tail, 3 mark), 4 blocks per byte, first
block in the low bits; the pool ends at ``end`` rounded down to a block.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from .errors import FirmwareError
from .firmware import Firmware, TypeInfo

BLOCKS_PER_ATB = 4
AT_FREE, AT_HEAD, AT_TAIL, AT_MARK = 0, 1, 2, 3
BLOCKS_PER_FTB = 8
# ATB byte -> its four blocks as bytes of 0 (free) / 1 (in use)
_USED4 = [bytes(1 if (b >> (2 * i)) & 3 else 0 for i in range(BLOCKS_PER_ATB)) for b in range(256)]
_LAYOUT_HASHES: dict[str, str] = {}


class Memory(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...
    def write(self, addr: int, data: bytes) -> None: ...


@dataclass(frozen=True)
class GcGeometry:
    """Where the GC heap's parts are; ``start``/``end`` are what gc_init was given
    (end rounded down to a block)."""
    alloc_table_start: int
    alloc_table_len: int
    finaliser_table_start: int | None
    pool_start: int
    pool_end: int

    @property
    def start(self) -> int:
        return self.alloc_table_start

    @property
    def end(self) -> int:
        return self.pool_end

    @property
    def n_blocks(self) -> int:
        return self.alloc_table_len * BLOCKS_PER_ATB

    @property
    def block_size(self) -> int:
        return (self.pool_end - self.pool_start) // self.n_blocks if self.n_blocks else 0

    @property
    def finaliser_table_len(self) -> int:
        if self.finaliser_table_start is None:
            return 0
        return (self.alloc_table_len * BLOCKS_PER_ATB + BLOCKS_PER_FTB - 1) // BLOCKS_PER_FTB

    def as_dict(self) -> dict[str, int | None]:
        return {"alloc_table_start": self.alloc_table_start, "alloc_table_len": self.alloc_table_len,
                "finaliser_table_start": self.finaliser_table_start, "pool_start": self.pool_start,
                "pool_end": self.pool_end}


class MpState:
    def __init__(self, memory: Memory, firmware: Firmware):
        self.memory = memory
        self.firmware = firmware
        sym = firmware.symbols.get("mp_state_ctx")
        if sym is None:
            raise FirmwareError(f"{firmware.path.name} is not a MicroPython firmware "
                                "(no mp_state_ctx symbol)")
        self.ctx_addr = sym.addr
        self.ctx_type: TypeInfo = firmware.variable_type("mp_state_ctx")
        for part in ("thread", "vm", "mem"):
            self.ctx_type.field(part)

    # -- mp_state_ctx -----------------------------------------------------------
    @property
    def ctx_size(self) -> int:
        return self.ctx_type.size

    def part(self, name: str) -> tuple[int, int]:
        """Address and size of ``thread``, ``vm`` or ``mem``."""
        off, t = self.ctx_type.field(name)
        return self.ctx_addr + off, t.size

    def field_addr(self, path: str) -> tuple[int, TypeInfo]:
        off, t = self.ctx_type.offset_of(path)
        return self.ctx_addr + off, t

    def read_field(self, path: str) -> int:
        addr, t = self.field_addr(path)
        size = t.size if t.kind in ("base", "pointer", "enum") else 4
        return int.from_bytes(self.memory.read(addr, size), "little")

    def write_field(self, path: str, value: int) -> None:
        addr, t = self.field_addr(path)
        self.memory.write(addr, value.to_bytes(t.size, "little"))

    def read_ctx(self) -> bytes:
        return self.memory.read(self.ctx_addr, self.ctx_size)

    def layout_hash(self) -> str:
        """Identifies the ctx layout: an image is only meaningful for the same one."""
        key = self.firmware.fingerprint
        if key not in _LAYOUT_HASHES:
            _LAYOUT_HASHES[key] = hashlib.sha256(
                json.dumps(self.ctx_type.to_json(), sort_keys=True).encode()).hexdigest()[:16]
        return _LAYOUT_HASHES[key]

    # -- GC heap ----------------------------------------------------------------
    def geometry(self) -> GcGeometry:
        mem_fields = self.ctx_type.field("mem")[1].fields
        ftb = self.read_field("mem.gc_finaliser_table_start") if "gc_finaliser_table_start" in mem_fields else None
        return GcGeometry(
            alloc_table_start=self.read_field("mem.gc_alloc_table_start"),
            alloc_table_len=self.read_field("mem.gc_alloc_table_byte_len"),
            finaliser_table_start=ftb,
            pool_start=self.read_field("mem.gc_pool_start"),
            pool_end=self.read_field("mem.gc_pool_end"),
        )

    def block_kinds(self, geo: GcGeometry | None = None) -> list[int]:
        """Per-block ATB state (AT_FREE/HEAD/TAIL/MARK), in block order."""
        geo = geo or self.geometry()
        atb = self.memory.read(geo.alloc_table_start, geo.alloc_table_len)
        return [(byte >> (2 * i)) & 3 for byte in atb for i in range(BLOCKS_PER_ATB)]

    def used_blocks(self, geo: GcGeometry | None = None) -> bytes:
        """One byte per block: 1 if allocated (head, tail or marked), else 0."""
        geo = geo or self.geometry()
        return b"".join(_USED4[b] for b in self.memory.read(geo.alloc_table_start, geo.alloc_table_len))

    def heap_usage(self) -> dict[str, int]:
        geo = self.geometry()
        kinds = self.block_kinds(geo)
        used = sum(k != AT_FREE for k in kinds)
        return {"blocks": len(kinds), "used_blocks": used, "objects": sum(k == AT_HEAD for k in kinds),
                "block_size": geo.block_size, "used_bytes": used * geo.block_size,
                "pool_bytes": geo.pool_end - geo.pool_start}

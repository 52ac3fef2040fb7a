"""A view of the MicroPython interpreter inside a machine's memory.

Everything is located through the firmware's symbols and DWARF layouts, never
hard-coded offsets, so firmware of other MicroPython versions and configurations
works as long as it has ``mp_state_ctx`` and debug info.

The GC heap's layout is described in sim.mpy.geometry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from ..errors import FirmwareError
from ..firmware import Firmware, TypeInfo
from . import profiles
from .geometry import AT_FREE, AT_HEAD, BLOCKS_PER_ATB, HeapGeometry, ftb_len_for

# ATB byte -> its four blocks as bytes of 0 (free) / 1 (in use)
_USED4 = [bytes(1 if (b >> (2 * i)) & 3 else 0 for i in range(BLOCKS_PER_ATB)) for b in range(256)]
_LAYOUT_HASHES: dict[str, str] = {}


class Memory(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...
    def write(self, addr: int, data: bytes) -> None: ...


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
        self.profile = profiles.for_firmware(firmware, self.ctx_type)

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
    def geometry(self) -> HeapGeometry:
        """The live heap's geometry, from the GC fields of ``mem`` (``mem.area`` since 1.20)."""
        area = self.gc_area_path
        atb, atb_len = self.read_field(area + ".gc_alloc_table_start"), self.read_field(area + ".gc_alloc_table_byte_len")
        pool_start, pool_end = self.read_field(area + ".gc_pool_start"), self.read_field(area + ".gc_pool_end")
        has_ftb = "gc_finaliser_table_start" in self.ctx_type.offset_of(area)[1].fields
        n_blocks = atb_len * BLOCKS_PER_ATB
        return HeapGeometry(heap_start=atb, heap_end=pool_end, atb_start=atb, atb_len=atb_len,
                            ftb_start=self.read_field(area + ".gc_finaliser_table_start") if has_ftb else 0,
                            ftb_len=ftb_len_for(atb_len) if has_ftb else 0, pool_start=pool_start,
                            pool_end=pool_end, block_size=(pool_end - pool_start) // n_blocks if n_blocks else 0)

    @property
    def gc_area_path(self) -> str:
        """Where the GC geometry fields are: ``mem.area`` (1.20+) or ``mem`` (older)."""
        return self.profile.gc_area

    def gc_locked(self) -> bool:
        return self.read_field(self.profile.gc_lock_depth) != 0

    def heap_in_use_limit(self, geo: HeapGeometry) -> None:
        """After a restore: let the sweep see every block (``gc_last_used_block``, 1.22+,
        which gc_init resets to 0) -- the next collection lowers it again."""
        path = self.gc_area_path + ".gc_last_used_block"
        try:
            self.ctx_type.offset_of(path)
        except FirmwareError:
            return
        self.write_field(path, geo.n_blocks - 1)

    def block_kinds(self, geo: HeapGeometry | None = None) -> list[int]:
        """Per-block ATB state (AT_FREE/HEAD/TAIL/MARK), in block order."""
        geo = geo or self.geometry()
        atb = self.memory.read(geo.atb_start, geo.atb_len)
        return [(byte >> (2 * i)) & 3 for byte in atb for i in range(BLOCKS_PER_ATB)]

    def used_blocks(self, geo: HeapGeometry | None = None) -> bytes:
        """One byte per block: 1 if allocated (head, tail or marked), else 0."""
        geo = geo or self.geometry()
        return b"".join(_USED4[b] for b in self.memory.read(geo.atb_start, geo.atb_len))

    def heap_usage(self) -> dict[str, int]:
        geo = self.geometry()
        kinds = self.block_kinds(geo)
        used = sum(k != AT_FREE for k in kinds)
        return {"blocks": len(kinds), "used_blocks": used, "objects": sum(k == AT_HEAD for k in kinds),
                "block_size": geo.block_size, "used_bytes": used * geo.block_size,
                "pool_bytes": geo.pool_end - geo.pool_start}

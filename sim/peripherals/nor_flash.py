"""Memory-mapped NOR flash (mpsim extension), strict like littlefs's ``lfs_emubd``.

The guest reads the flash like memory: the machine maps ``backing`` read-only
into the address space, so reads run at full speed and never reach Python. Only
the host changes the contents, through the device's rules:

- ``erase_sector`` works on whole, aligned sectors and sets them to ``erase_value``;
- ``program`` writes within one page (a partial page is fine) and can only clear
  bits; asking for a 0 -> 1 transition is a ``FlashError`` naming the address;
- every erase/program is an *operation*: counted, charged its emulated duration
  (``sector_erase_us`` / ``page_program_us`` from the board file), and per-sector
  erases are counted as wear.

Power loss is counted in operations, as in littlefs's test runner:
``arm_power_cut(n, mode)`` lets ``n`` operations complete; when operation ``n``
starts, the ``mode`` decides what reaches the cells (nothing, or a torn subset)
and ``PowerLoss`` is raised. ``PowerLoss`` is control flow, not a ``SimError``:
the runner decides what a cut means. Until ``reset()`` (power back on) every
further operation raises ``PowerLoss`` too, so code that swallows the first one
cannot keep writing.

``backing`` is one bytearray for the device's life (the machine maps it by
pointer): contents are replaced in place, never by rebinding the attribute.
Contents persist through ``sim.flash_store``; ``state()`` holds counters only.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any, Callable

from ..board import BoardSpec, PeripheralSpec
from ..errors import BoardError, FlashError
from .base import IrqSink, Peripheral, register


class PowerLossMode(enum.Enum):
    CLEAN = "clean"   # the interrupted operation did not happen at all
    TORN = "torn"     # the interrupted operation happened in part


class PowerLoss(BaseException):
    """Power was cut while a flash operation started. Deliberately not an ``Exception``."""

    def __init__(self, index: int, op: str, address: int, mode: PowerLossMode):
        self.index, self.op, self.address, self.mode = index, op, address, mode
        super().__init__(f"power cut ({mode.value}) at flash operation {index}: {op} at {address:#010x}")


@dataclass(frozen=True)
class FlashOp:
    """One completed operation, as passed to ``on_operation``."""

    index: int      # 0-based over the device's life (== ops_count before it)
    op: str         # "erase" | "program"
    offset: int     # from the flash's base
    length: int


@register
class NorFlash(Peripheral):
    type_name = "nor_flash"

    def __init__(self, spec: PeripheralSpec, board: BoardSpec | None = None, irq: IrqSink | None = None):
        super().__init__(spec, board, irq)  # type: ignore[arg-type]
        s = spec.settings
        self.size = spec.size
        self.base = spec.base
        self.sector_size = int(s.get("sector_size", 4096))
        self.page_size = int(s.get("page_size", 256))
        self.erase_value = int(s.get("erase_value", 0xFF))
        self.sector_erase_us = int(s.get("sector_erase_us", 0))
        self.page_program_us = int(s.get("page_program_us", 0))
        self._check_geometry()
        self.backing = bytearray([self.erase_value]) * self.size
        self.on_operation: Callable[[FlashOp], None] | None = None
        self.powered = True
        self._cut: tuple[int, PowerLossMode, int] | None = None   # (fire at ops_count, mode, seed)
        self._clear_counters()

    @classmethod
    def standalone(cls, size: int = 0x80_0000, base: int = 0x6000_0000, name: str = "flash",
                   **settings: Any) -> "NorFlash":
        """A flash without a board file (tests, tools). ``settings`` as in the TOML."""
        spec = PeripheralSpec(name=name, type=cls.type_name, base=base, size=size, settings=settings)
        return cls(spec)

    def _check_geometry(self) -> None:
        where = f"flash {self.name}"
        for key in ("sector_size", "page_size"):
            v = getattr(self, key)
            if v <= 0 or v & (v - 1):
                raise BoardError(f"{where}: {key} must be a power of two, not {v}")
        if self.sector_size % self.page_size:
            raise BoardError(f"{where}: sector_size {self.sector_size} is not a multiple of page_size {self.page_size}")
        if self.size % self.sector_size:
            raise BoardError(f"{where}: size {self.size:#x} is not a multiple of sector_size {self.sector_size}")
        if not 0 <= self.erase_value <= 0xFF:
            raise BoardError(f"{where}: erase_value must be a byte, not {self.erase_value:#x}")

    def _clear_counters(self) -> None:
        self.erase_ops = 0
        self.program_ops = 0
        self.bytes_programmed = 0
        self.busy_us = 0
        self.wear = [0] * (self.size // self.sector_size)   # erases per sector

    # -- counters -------------------------------------------------------------
    @property
    def ops_count(self) -> int:
        """Erase + program operations completed so far."""
        return self.erase_ops + self.program_ops

    @property
    def sector_count(self) -> int:
        return self.size // self.sector_size

    # -- bus interface: the guest sees ``backing`` mapped read-only --------------
    def read(self, offset: int, n: int) -> bytes:  # type: ignore[override]
        """Host read of ``n`` bytes at ``offset`` from the flash's base (not an MMIO handler)."""
        self._check_range(offset, n, "read")
        return bytes(self.backing[offset:offset + n])

    def write(self, offset: int, size: int, value: int) -> None:
        raise FlashError(f"flash {self.name} is read-only on the bus: write of {size} bytes at "
                         f"{self.base + offset:#010x} (the host programs it with erase/program)",
                         address=self.base + offset, op="write")

    def reset(self) -> None:
        """Power on: contents and wear are physical and stay. A cut armed but not yet
        fired stays armed (it belongs to the test harness, not to the device)."""
        self.powered = True

    # -- operations -----------------------------------------------------------
    def erase_sector(self, offset: int) -> None:
        self._check_range(offset, 1, "erase")
        if offset % self.sector_size:
            raise FlashError(f"erase at {self.base + offset:#010x}: not aligned to a "
                             f"{self.sector_size}-byte sector", address=self.base + offset, op="erase")
        end = offset + self.sector_size
        self._begin("erase", offset, lambda rng: self._torn_erase(offset, rng))
        self.backing[offset:end] = bytes([self.erase_value]) * self.sector_size
        self.wear[offset // self.sector_size] += 1
        self.erase_ops += 1
        self.busy_us += self.sector_erase_us
        self._done("erase", offset, self.sector_size)

    def erase_range(self, offset: int, length: int) -> int:
        """Erase every sector of ``[offset, offset+length)``; both must be sector-aligned.
        Returns the number of sectors erased."""
        self._check_range(offset, length, "erase")
        if offset % self.sector_size or length % self.sector_size:
            raise FlashError(f"erase of {length:#x} bytes at {self.base + offset:#010x}: not whole "
                             f"{self.sector_size}-byte sectors", address=self.base + offset, op="erase")
        for sector in range(offset, offset + length, self.sector_size):
            self.erase_sector(sector)
        return length // self.sector_size

    def program(self, offset: int, data: bytes) -> None:
        """Program ``data`` (1..page_size bytes, inside one page): bits can only go 1 -> 0."""
        n = len(data)
        self._check_range(offset, n, "program")
        if n == 0:
            raise FlashError(f"program of 0 bytes at {self.base + offset:#010x}",
                             address=self.base + offset, op="program")
        if offset // self.page_size != (offset + n - 1) // self.page_size:
            raise FlashError(f"program of {n} bytes at {self.base + offset:#010x} crosses a "
                             f"{self.page_size}-byte page boundary", address=self.base + offset, op="program")
        old = self.backing[offset:offset + n]
        if int.from_bytes(data, "little") & ~int.from_bytes(old, "little"):   # some 0 -> 1 bit
            i = next(i for i, (o, d) in enumerate(zip(old, data)) if d & ~o & 0xFF)
            o, d = old[i], data[i]
            if True:
                a = self.base + offset + i
                raise FlashError(f"program at {a:#010x}: {d:#04x} over {o:#04x} needs a 0->1 bit "
                                 f"change (erase the sector first)", address=a, op="program")
        self._begin("program", offset, lambda rng: self._torn_program(offset, data, rng))
        self.backing[offset:offset + n] = data
        self.program_ops += 1
        self.bytes_programmed += n
        self.busy_us += self.page_program_us
        self._done("program", offset, n)

    def program_span(self, offset: int, data: bytes, skip_erased: bool = True) -> int:
        """Program ``data`` page by page from ``offset``; with ``skip_erased`` a chunk that is
        all ``erase_value`` is not sent (it would change nothing). Returns programs issued."""
        issued, pos = 0, 0
        while pos < len(data):
            room = self.page_size - (offset + pos) % self.page_size
            chunk = data[pos:pos + room]
            if not (skip_erased and chunk.count(self.erase_value) == len(chunk)):
                self.program(offset + pos, chunk)
                issued += 1
            pos += len(chunk)
        return issued

    # -- power loss -------------------------------------------------------------
    def arm_power_cut(self, after_ops: int, mode: PowerLossMode = PowerLossMode.CLEAN, seed: int = 0) -> None:
        """Let ``after_ops`` more operations complete, then cut power as the next one starts."""
        if after_ops < 0:
            raise ValueError("after_ops must be >= 0")
        self._cut = (self.ops_count + after_ops, PowerLossMode(mode), seed)

    def disarm_power_cut(self) -> None:
        self._cut = None

    def _begin(self, op: str, offset: int, tear: Callable[[random.Random], None]) -> None:
        index = self.ops_count
        if not self.powered:
            raise PowerLoss(index, op, self.base + offset, PowerLossMode.CLEAN)
        if self._cut is None or self._cut[0] != index:
            return
        _, mode, seed = self._cut
        self._cut = None
        self.powered = False
        if mode is PowerLossMode.TORN:
            tear(random.Random(f"{seed}:{index}"))
        raise PowerLoss(index, op, self.base + offset, mode)

    def _done(self, op: str, offset: int, length: int) -> None:
        if self.on_operation is not None:
            self.on_operation(FlashOp(self.ops_count - 1, op, offset, length))

    def _torn_program(self, offset: int, data: bytes, rng: random.Random) -> None:
        """Only some of the bits this program would clear get cleared."""
        for i, d in enumerate(data):
            o = self.backing[offset + i]
            self.backing[offset + i] = o & ~((o & ~d) & rng.getrandbits(8))

    def _torn_erase(self, offset: int, rng: random.Random) -> None:
        """The sector is left partly erased: a prefix, or a random half of its bytes."""
        self.wear[offset // self.sector_size] += 1
        ev = self.erase_value
        if rng.random() < 0.5:
            cut = rng.randrange(1, self.sector_size)
            self.backing[offset:offset + cut] = bytes([ev]) * cut
        else:
            for i in rng.sample(range(self.sector_size), self.sector_size // 2):
                self.backing[offset + i] = ev

    # -- checks ---------------------------------------------------------------
    def _check_range(self, offset: int, n: int, op: str) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise FlashError(f"{op} of {n} bytes at offset {offset:#x} is outside flash {self.name} "
                             f"({self.size:#x} bytes at {self.base:#010x})", address=self.base + offset, op=op)

    # -- capture --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "erase_ops": self.erase_ops,
            "program_ops": self.program_ops,
            "bytes_programmed": self.bytes_programmed,
            "busy_us": self.busy_us,
            "wear": {str(i): n for i, n in enumerate(self.wear) if n},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._clear_counters()
        self.erase_ops = int(state.get("erase_ops", 0))
        self.program_ops = int(state.get("program_ops", 0))
        self.bytes_programmed = int(state.get("bytes_programmed", 0))
        self.busy_us = int(state.get("busy_us", 0))
        for i, n in state.get("wear", {}).items():
            if 0 <= int(i) < len(self.wear):
                self.wear[int(i)] = int(n)

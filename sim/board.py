"""Board descriptions: TOML files under ``boards/`` turned into immutable records.

This is the only module that knows TOML. A board is data (memory regions,
peripherals with base/size/IRQs, declared stub ranges, clocks); the machine
builds itself from it. Overlapping ranges and unknown keys are rejected when the
file is loaded, with a message naming the key, so a typo never becomes a silently
unmapped peripheral.

Start-up time: the records are NamedTuples (a frozen dataclass costs ~1 ms to
define at import, a NamedTuple ~0.15 ms), and a parsed board file is cached
(marshal, under ``MPSIM_CACHE``) with its full text, used only when the text
read is exactly that (so no stale parse is possible) and sparing the import of
tomllib (~4 ms). Every check runs on every load, cached or not.
"""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from . import files
from .errors import BoardError, UsageError
from .paths import boards_dir, cache_dir, check_name

BOARDS_DIR = boards_dir()
DEFAULT_BOARD = "mps2-an385"
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class MemoryRegion(NamedTuple):
    name: str
    base: int
    size: int
    alias: str | None = None   # mirror of another region (same backing memory)
    boot: bool = False         # holds the vector table at reset
    rom: bool = False          # read-only to the guest (the ELF is loaded into it at reset)

    @property
    def end(self) -> int:
        return self.base + self.size


class PeripheralSpec(NamedTuple):
    name: str
    type: str
    base: int
    size: int
    irq: Mapping[str, int] = _NOTHING
    settings: Mapping[str, Any] = _NOTHING
    console: bool = False

    @property
    def end(self) -> int:
        return self.base + self.size


class StubSpec(NamedTuple):
    name: str
    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size


class BoardSpec(NamedTuple):
    name: str
    description: str
    cpu: str
    clock_hz: int
    refclk_hz: int
    num_irq: int
    memory: tuple[MemoryRegion, ...]
    peripherals: tuple[PeripheralSpec, ...]
    stubs: tuple[StubSpec, ...]
    path: Path | None = None

    def region(self, name: str) -> MemoryRegion:
        for r in self.memory:
            if r.name == name:
                return r
        raise BoardError(f"board {self.name}: no memory region named {name!r}")

    def peripheral(self, name: str) -> PeripheralSpec:
        for p in self.peripherals:
            if p.name == name:
                return p
        raise BoardError(f"board {self.name}: no peripheral named {name!r}")

    def peripherals_of_type(self, type_: str) -> list[PeripheralSpec]:
        return [p for p in self.peripherals if p.type == type_]

    @property
    def console(self) -> PeripheralSpec:
        for p in self.peripherals:
            if p.console:
                return p
        raise BoardError(f"board {self.name}: no peripheral is marked console = true")

    @property
    def flash(self) -> PeripheralSpec:
        found = self.peripherals_of_type("nor_flash")
        if not found:
            raise BoardError(f"board {self.name} has no nor_flash peripheral")
        return found[0]


_CPUS = {"cortex-m3", "rv64imac"}          # sim/arch CORES (board.py never imports the arch code)
_TOP_KEYS = {"name", "description", "cpu", "clock_hz", "refclk_hz", "num_irq", "memory", "peripheral", "stub"}
_MEMORY_KEYS = {"name", "base", "size", "alias", "boot", "rom"}
_PERIPHERAL_KEYS = {"name", "type", "base", "size", "irq", "settings", "console"}
_STUB_KEYS = {"name", "base", "size"}
# Settings each peripheral model reads (all integers); a type not listed takes none.
# Checked here so a typo in [peripheral.settings] is an error, never a silent default.
_SETTINGS = {
    "nor_flash": {"sector_size", "page_size", "erase_value", "sector_erase_us", "page_program_us",
                  "hibernate_offset", "hibernate_size", "holdup_us", "power_fail_irq"},
    "cmsdk_timer": {"pclk_hz"},
    "mps2_fpgaio": {"num_leds", "prescale_clk"},
}
_CONSOLE_TYPES = {"cmsdk_uart", "ns16550a"}


def available_boards() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load_board(name_or_path: str | os.PathLike = DEFAULT_BOARD) -> BoardSpec:
    """Load a board by name (``boards/<name>.toml``) or by path to a TOML file (anything
    with a directory part or a .toml suffix, or an existing file)."""
    text_path = Path(name_or_path)
    given = str(name_or_path)
    if text_path.suffix == ".toml" or os.sep in given or "/" in given or text_path.exists():
        path = text_path
    else:
        try:
            check_name(given)
        except UsageError as e:
            raise BoardError(str(e)) from None
        path = BOARDS_DIR / f"{given}.toml"
        if not path.exists():
            known = ", ".join(available_boards()) or "none"
            raise BoardError(f"unknown board {given!r} (known: {known})")
    try:
        text = files.read_text(path, "board file")
    except UsageError as e:
        raise BoardError(str(e)) from None
    return parse_board(_parse_toml(text, path), path)


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    """``tomllib.loads(text)``, from the cache when it holds this very text."""
    cache = cache_dir() / "boards" / f"{zlib.crc32(text.encode()):08x}.marshal"
    try:
        cached_text, data = marshal.loads(cache.read_bytes())
        if cached_text == text and isinstance(data, dict):
            return data
    except (OSError, ValueError, EOFError, TypeError):
        pass
    import tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"board file {path}: malformed TOML: {e}") from None
    except RecursionError:
        raise BoardError(f"board file {path}: nested too deeply to be a board") from None
    try:
        blob = marshal.dumps((text, data))       # ValueError for values marshal lacks (TOML dates)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, cache)
    except (OSError, ValueError):
        pass                                     # no cache: only start-up time
    return data


def parse_board(data: dict[str, Any], path: Path | None = None) -> BoardSpec:
    where = str(path) if path else "board"
    _check_keys(data, _TOP_KEYS, where)
    name = _get(data, "name", str, where)
    cpu = _get(data, "cpu", str, where)
    if cpu not in _CPUS:
        raise BoardError(f"{where}: cpu {cpu!r} is not supported (supported: {', '.join(sorted(_CPUS))})")
    memory = tuple(_memory(m, f"{where}: memory[{i}]") for i, m in enumerate(_list(data, "memory", where)))
    peripherals = tuple(_peripheral(p, f"{where}: peripheral[{i}]")
                        for i, p in enumerate(_list(data, "peripheral", where)))
    stubs = tuple(_stub(s, f"{where}: stub[{i}]") for i, s in enumerate(_list(data, "stub", where, required=False)))
    board = BoardSpec(
        name=name,
        description=data.get("description", ""),
        cpu=cpu,
        clock_hz=_get(data, "clock_hz", int, where),
        refclk_hz=_get(data, "refclk_hz", int, where),
        num_irq=_get(data, "num_irq", int, where),
        memory=memory,
        peripherals=peripherals,
        stubs=stubs,
        path=path,
    )
    _check_layout(board, where)
    _check_values(board, where)
    return board


def _memory(m: Any, where: str) -> MemoryRegion:
    _check_table(m, where)
    _check_keys(m, _MEMORY_KEYS, where)
    return MemoryRegion(
        name=_get(m, "name", str, where),
        base=_get(m, "base", int, where),
        size=_get(m, "size", int, where),
        alias=_get(m, "alias", str, where) if "alias" in m else None,
        boot=_flag(m, "boot", where),
        rom=_flag(m, "rom", where),
    )


def _peripheral(p: Any, where: str) -> PeripheralSpec:
    _check_table(p, where)
    _check_keys(p, _PERIPHERAL_KEYS, where)
    irq = p.get("irq", {})
    if not isinstance(irq, dict) or not all(isinstance(v, int) for v in irq.values()):
        raise BoardError(f"{where}: 'irq' must be a table of name = number")
    settings = p.get("settings", {})
    if not isinstance(settings, dict):
        raise BoardError(f"{where}: 'settings' must be a table")
    type_ = _get(p, "type", str, where)
    if settings:
        allowed = _SETTINGS.get(type_, set())
        if not allowed:
            raise BoardError(f"{where}: a {type_} peripheral takes no settings (got {sorted(settings)[0]!r})")
        _check_keys(settings, allowed, f"{where}: settings")
        for key in settings:
            _get(settings, key, int, f"{where}: settings")
    console = p.get("console", False)
    if not isinstance(console, bool):
        raise BoardError(f"{where}: key 'console' must be bool, not {type(console).__name__}")
    if console and type_ not in _CONSOLE_TYPES:
        raise BoardError(f"{where}: console = true needs a UART ({', '.join(sorted(_CONSOLE_TYPES))}), "
                         f"not a {type_}")
    return PeripheralSpec(
        name=_get(p, "name", str, where),
        type=type_,
        base=_get(p, "base", int, where),
        size=_get(p, "size", int, where),
        irq=dict(irq),
        settings=dict(settings),
        console=console,
    )


def _stub(s: Any, where: str) -> StubSpec:
    _check_table(s, where)
    _check_keys(s, _STUB_KEYS, where)
    return StubSpec(name=_get(s, "name", str, where), base=_get(s, "base", int, where),
                    size=_get(s, "size", int, where))


def _check_layout(board: BoardSpec, where: str) -> None:
    names: set[str] = set()
    ranges: list[tuple[int, int, str]] = []
    for item in (*board.memory, *board.peripherals, *board.stubs):
        if item.name in names:
            raise BoardError(f"{where}: name {item.name!r} is used twice")
        names.add(item.name)
        if item.size <= 0 or item.base < 0 or item.base + item.size > 1 << 32:
            raise BoardError(f"{where}: {item.name}: range {item.base:#x}+{item.size:#x} is not in the 32-bit space")
        if item.base % 0x1000 or item.size % 0x1000:
            raise BoardError(f"{where}: {item.name}: base and size must be multiples of 4 KiB")
        ranges.append((item.base, item.base + item.size, item.name))
    ranges.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise BoardError(f"{where}: {n1} at {b1:#x} overlaps {n0} ({b0:#x}..{e0:#x})")
    regions = {r.name: r for r in board.memory}
    for r in board.memory:
        if r.alias is not None:
            target = regions.get(r.alias)
            if target is None or target.alias is not None:
                raise BoardError(f"{where}: {r.name}: alias {r.alias!r} is not a plain memory region")
            if target.size != r.size:
                raise BoardError(f"{where}: {r.name}: an alias must have the size of {r.alias}")
    if sum(r.boot for r in board.memory) != 1:
        raise BoardError(f"{where}: exactly one memory region must have boot = true")
    if sum(p.console for p in board.peripherals) > 1:
        raise BoardError(f"{where}: at most one peripheral may be console = true")


MAX_HZ = 10 ** 11            # far above any microcontroller; keeps cycle arithmetic sane
MAX_IRQ = 496               # ARMv7-M: at most 496 external interrupts on the NVIC
MAX_RAM = 1 << 30           # host memory behind the board's RAM (a power cut rewrites all of it)
# The CPU's system block each CPU needs, at its architectural address.
# The blocks a core cannot run without: its interrupt controller and timer.
_SYSTEM_BLOCKS = {"cortex-m3": (("scs", 0xE000_E000, 0x1000),),
                  "rv64imac": (("riscv_clint", 0x0200_0000, 0x1_0000), ("riscv_plic", 0x0C00_0000, 0x60_0000))}
# Allowed ranges of peripheral settings (inclusive); unlisted ones: 0 .. 2**32-1.
_SETTING_RANGES = {"erase_value": (0, 0xFF), "pclk_hz": (1, MAX_HZ), "prescale_clk": (1, MAX_HZ),
                   "num_leds": (0, 32), "sector_size": (1, 1 << 30), "page_size": (1, 1 << 30)}


def _check_values(board: BoardSpec, where: str) -> None:
    """Every number the machine computes with, in range before anything is built from it."""
    try:
        check_name(board.name)
    except UsageError as e:
        raise BoardError(f"{where}: {e}") from None
    if not isinstance(board.description, str):
        raise BoardError(f"{where}: key 'description' must be str")
    if not 1 <= board.clock_hz <= MAX_HZ:
        raise BoardError(f"{where}: clock_hz must be 1..{MAX_HZ}, not {board.clock_hz}")
    if not 0 <= board.refclk_hz <= MAX_HZ:
        raise BoardError(f"{where}: refclk_hz must be 0..{MAX_HZ}, not {board.refclk_hz}")
    if not 1 <= board.num_irq <= MAX_IRQ:
        raise BoardError(f"{where}: num_irq must be 1..{MAX_IRQ} (the NVIC's external interrupts), "
                         f"not {board.num_irq}")
    for p in board.peripherals:
        for line, n in p.irq.items():
            if not 0 <= n < board.num_irq:
                raise BoardError(f"{where}: {p.name}: irq {line} = {n} is not below num_irq ({board.num_irq})")
        for key, value in p.settings.items():
            lo, hi = _SETTING_RANGES.get(key, (0, (1 << 32) - 1))
            if not lo <= value <= hi:
                raise BoardError(f"{where}: {p.name}: setting {key} must be {lo}..{hi}, not {value}")
    ram = (sum(r.size for r in board.memory if r.alias is None)
           + sum(p.size for p in board.peripherals_of_type("nor_flash")))
    if ram > MAX_RAM:
        raise BoardError(f"{where}: {ram:#x} bytes of memory and flash (aliases aside): more than the "
                         f"{MAX_RAM >> 20} MiB mpsim will back with host memory")
    if not any(p.console for p in board.peripherals):
        raise BoardError(f"{where}: no peripheral is marked console = true (the REPL needs a serial port)")
    for type_, base, size in _SYSTEM_BLOCKS.get(board.cpu, ()):
        if not any(p.type == type_ and p.base == base and p.size == size for p in board.peripherals):
            raise BoardError(f"{where}: a {board.cpu} needs its system block: a {type_} peripheral at {base:#x} "
                             f"of size {size:#x}")


def _check_table(x: Any, where: str) -> None:
    if not isinstance(x, dict):
        raise BoardError(f"{where}: expected a table")


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise BoardError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _flag(table: dict[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise BoardError(f"{where}: key {key!r} must be bool, not {type(value).__name__}")
    return value


def _get(table: dict[str, Any], key: str, type_: type, where: str) -> Any:
    if key not in table:
        raise BoardError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, type_) or (type_ is int and isinstance(value, bool)):
        raise BoardError(f"{where}: key {key!r} must be {type_.__name__}, not {type(value).__name__}")
    return value


def _list(table: dict[str, Any], key: str, where: str, required: bool = True) -> list[Any]:
    value = table.get(key)
    if value is None:
        if required:
            raise BoardError(f"{where}: missing [[{key}]] tables")
        return []
    if not isinstance(value, list):
        raise BoardError(f"{where}: {key!r} must be an array of tables ([[{key}]])")
    return value

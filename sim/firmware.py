"""A firmware ELF as the simulator needs it: loadable segments, symbols, the
fingerprint of its code, and struct layouts from its DWARF debug info.

This is the only module that knows pyelftools. Parsing symbols and DWARF is the
slow part of start-up (tens to hundreds of ms), so what it yields is cached as
JSON under ``~/.cache/mpsim`` keyed by the file's content hash.

Why layouts come from DWARF: ``mp_state_ctx`` and the GC state differ between
MicroPython versions and configurations; reading offsets from the ELF lets the
hibernate controller work on firmware nobody here built.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FirmwareError

CACHE_DIR = Path(os.environ.get("MPSIM_CACHE", Path.home() / ".cache" / "mpsim"))
_CACHE_VERSION = 2
EM_ARM = 40


@dataclass(frozen=True)
class Segment:
    addr: int
    data: bytes        # file bytes, zero-padded to the segment's memory size
    executable: bool
    writable: bool


@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int          # for Thumb functions, without the low bit
    size: int
    kind: str          # "func", "object" or "other"


@dataclass
class TypeInfo:
    """A DWARF type reduced to what memory views need."""
    kind: str                  # base | pointer | struct | union | array | enum | func | void
    name: str | None
    size: int
    fields: dict[str, tuple[int, "TypeInfo"]] = field(default_factory=dict)   # struct/union
    element: "TypeInfo | None" = None          # array element
    count: int | None = None                   # array length (None = flexible)
    target: str | None = None                  # pointer: target type's name (not expanded)

    def field(self, name: str) -> tuple[int, "TypeInfo"]:
        try:
            return self.fields[name]
        except KeyError:
            raise FirmwareError(f"type {self.name or self.kind} has no field {name!r}") from None

    def offset_of(self, path: str) -> tuple[int, "TypeInfo"]:
        """Offset and type of a dotted field path, e.g. ``"mem.gc_alloc_table_start"``."""
        off, t = 0, self
        for part in path.split("."):
            o, t = t.field(part)
            off += o
        return off, t

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"k": self.kind, "n": self.name, "s": self.size}
        if self.fields:
            d["f"] = {k: [o, t.to_json()] for k, (o, t) in self.fields.items()}
        if self.element is not None:
            d["e"] = self.element.to_json()
            d["c"] = self.count
        if self.target is not None:
            d["t"] = self.target
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TypeInfo":
        return cls(kind=d["k"], name=d["n"], size=d["s"],
                   fields={k: (o, cls.from_json(t)) for k, (o, t) in d.get("f", {}).items()},
                   element=cls.from_json(d["e"]) if "e" in d else None,
                   count=d.get("c"), target=d.get("t"))


class Firmware:
    """Load with ``Firmware.load(path)``; raises FirmwareError with one clear line."""

    def __init__(self, path: Path, raw: bytes, segments: list[Segment], symbols: dict[str, Symbol],
                 entry: int, has_debug_info: bool):
        self.path = path
        self._raw = raw
        self.segments = segments
        self.symbols = symbols
        self.entry = entry
        self.has_debug_info = has_debug_info
        self.fingerprint = _fingerprint(segments)
        self._types: dict[str, TypeInfo] = {}
        self._cache_file = CACHE_DIR / f"{hashlib.sha256(raw).hexdigest()[:32]}.json"

    # -- loading ------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Firmware":
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise FirmwareError(f"firmware not found: {path}") from None
        except IsADirectoryError:
            raise FirmwareError(f"firmware path is a directory, not an ELF file: {path}") from None
        except OSError as e:
            raise FirmwareError(f"cannot read firmware {path}: {e.strerror}") from None
        if raw[:4] != b"\x7fELF":
            raise FirmwareError(f"not an ELF file: {path}")
        cached = _read_cache(raw)
        if cached is not None:
            fw = cls(path, raw, _segments_from_raw(raw, path), cached["symbols"], cached["entry"],
                     cached["debug"])
            fw._types = {k: TypeInfo.from_json(v) for k, v in cached["types"].items()}
            return fw
        elf = _open_elf(raw, path)
        try:
            symbols, segments, debug = _symbols(elf), _segments(elf), elf.has_dwarf_info()
        except FirmwareError:
            raise
        except Exception as e:  # noqa: BLE001 - pyelftools raises assorted errors on a truncated/corrupt ELF
            raise FirmwareError(f"not a valid ELF file: {path} (truncated or corrupt: {e})") from None
        fw = cls(path, raw, segments, symbols, elf.header.e_entry, debug)
        fw._save_cache()
        return fw

    # -- queries ------------------------------------------------------------
    def symbol(self, name: str) -> Symbol:
        try:
            return self.symbols[name]
        except KeyError:
            raise FirmwareError(f"{self.path.name}: no symbol {name!r} in the firmware") from None

    def has_symbol(self, name: str) -> bool:
        return name in self.symbols

    def symbol_at(self, addr: int) -> Symbol | None:
        """The function or object containing ``addr``, if any (for fault reports)."""
        best = None
        for s in self.symbols.values():
            if s.addr <= addr < s.addr + max(s.size, 1) and (best is None or s.size < best.size):
                best = s
        return best

    def variable_type(self, name: str) -> TypeInfo:
        """The DWARF type of a global variable, e.g. ``mp_state_ctx``."""
        return self._type("var:" + name)

    def struct(self, name: str) -> TypeInfo:
        """A struct/union type by tag or typedef name, e.g. ``mp_obj_dict_t``."""
        return self._type("type:" + name)

    def code_ranges(self) -> list[tuple[int, int]]:
        return [(s.addr, s.addr + len(s.data)) for s in self.segments if s.executable]

    # -- DWARF --------------------------------------------------------------
    def _type(self, key: str) -> TypeInfo:
        if key in self._types:
            return self._types[key]
        if not self.has_debug_info:
            raise FirmwareError(f"{self.path.name} has no debug info (build it with -g): "
                                f"cannot read the layout of {key.split(':', 1)[1]}")
        from . import dwarf_types
        try:
            found = dwarf_types.find(_open_elf(self._raw, self.path), key)
        except FirmwareError:
            raise
        except Exception as e:  # noqa: BLE001 - corrupt DWARF: pyelftools raises assorted errors
            raise FirmwareError(f"{self.path.name}: cannot read its debug info ({e})") from None
        if found is None:
            kind, name = key.split(":", 1)
            what = "variable" if kind == "var" else "type"
            raise FirmwareError(f"{self.path.name}: no {what} {name!r} in the debug info")
        self._types[key] = found
        self._save_cache()
        return found

    def _save_cache(self) -> None:
        data = {
            "v": _CACHE_VERSION,
            "entry": self.entry,
            "debug": self.has_debug_info,
            "symbols": {n: [s.addr, s.size, s.kind] for n, s in self.symbols.items()},
            "types": {k: t.to_json() for k, t in self._types.items()},
        }
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            tmp = self._cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._cache_file)
        except OSError:
            pass  # a cache we cannot write only costs start-up time


def _read_cache(raw: bytes) -> dict[str, Any] | None:
    f = CACHE_DIR / f"{hashlib.sha256(raw).hexdigest()[:32]}.json"
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    if data.get("v") != _CACHE_VERSION:
        return None
    data["symbols"] = {n: Symbol(n, a, s, k) for n, (a, s, k) in data["symbols"].items()}
    return data


def _open_elf(raw: bytes, path: Path):
    import io
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(raw))
    except (ELFError, Exception) as e:  # pyelftools raises assorted errors on garbage
        raise FirmwareError(f"not a valid ELF file: {path} ({e})") from None
    if elf.header.e_machine != "EM_ARM" or elf.elfclass != 32 or not elf.little_endian:
        raise FirmwareError(f"{path.name} is an ELF for {elf.header.e_machine} "
                            f"({elf.elfclass}-bit), not a 32-bit little-endian ARM (Cortex-M) firmware")
    return elf


def _segments(elf) -> list[Segment]:
    out = []
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        data = seg.data()[: seg["p_filesz"]]
        data += bytes(seg["p_memsz"] - len(data))
        # Load at the physical address, as QEMU's loader does for M-profile ELFs:
        # .data's initial values live at their LMA and startup code copies them.
        out.append(Segment(seg["p_paddr"], bytes(data), bool(seg["p_flags"] & 1), bool(seg["p_flags"] & 2)))
    if not out:
        raise FirmwareError("the ELF has no loadable segments")
    return out


def _segments_from_raw(raw: bytes, path: Path) -> list[Segment]:
    """Program headers only: cheap enough not to cache, and never stale."""
    import struct
    if raw[4] != 1 or raw[5] != 1:
        raise FirmwareError(f"{path.name} is not a 32-bit little-endian ELF")
    phoff, = struct.unpack_from("<I", raw, 28)
    phentsize, phnum = struct.unpack_from("<HH", raw, 42)
    out = []
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, p_flags, _align = \
            struct.unpack_from("<8I", raw, phoff + i * phentsize)
        if p_type != 1 or p_memsz == 0:
            continue
        data = raw[p_offset:p_offset + p_filesz] + bytes(p_memsz - p_filesz)
        out.append(Segment(p_paddr, data, bool(p_flags & 1), bool(p_flags & 2)))
    return out


def _symbols(elf) -> dict[str, Symbol]:
    symtab = elf.get_section_by_name(".symtab")
    out: dict[str, Symbol] = {}
    if symtab is None:
        return out
    for sym in symtab.iter_symbols():
        name = sym.name
        if not name or name.startswith("$"):
            continue
        typ = sym["st_info"]["type"]
        kind = {"STT_FUNC": "func", "STT_OBJECT": "object"}.get(typ, "other")
        addr = sym["st_value"] & ~1 if kind == "func" else sym["st_value"]
        # Prefer global definitions over local ones of the same name.
        if name in out and sym["st_info"]["bind"] == "STB_LOCAL":
            continue
        out[name] = Symbol(name, addr, sym["st_size"], kind)
    return out


def _fingerprint(segments: list[Segment]) -> str:
    """Hash of what the CPU sees: load addresses and bytes, not ELF metadata.
    Heap objects point into these bytes (type objects, qstr pools, bytecode of
    frozen code), so an image is only valid for firmware with the same fingerprint."""
    h = hashlib.sha256()
    for s in sorted(segments, key=lambda s: s.addr):
        h.update(s.addr.to_bytes(4, "little"))
        h.update(len(s.data).to_bytes(4, "little"))
        h.update(s.data)
    return h.hexdigest()

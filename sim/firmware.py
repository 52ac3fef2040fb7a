"""A firmware ELF as the simulator needs it: loadable segments, symbols, the
fingerprint of its code, and struct layouts from its DWARF debug info.

This is the only module that knows pyelftools. Parsing symbols and DWARF is the
slow part of start-up (tens to hundreds of ms), so what it yields is cached under
``~/.cache/mpsim`` (``MPSIM_CACHE``), keyed by the SHA-256 of the file's content.
Hashing 2 MB on every start costs more than the rest of loading, so the hash is
remembered per path together with the file's identity (device, inode, size, mtime,
ctime) and recomputed whenever any of these changed; an identity is only
remembered once the file has been unmodified for a few seconds, so a rewrite
within one timestamp tick cannot go unnoticed (git's "racily clean" rule).

The fingerprint (``Firmware.fingerprint``: SHA-256 of the loadable segments) is
part of that cache: it is computed from the content the first time a firmware is
loaded, and stays a content hash.

Why layouts come from DWARF: ``mp_state_ctx`` and the GC state differ between
MicroPython versions and configurations; reading offsets from the ELF lets the
hibernate controller work on firmware nobody here built.
"""

from __future__ import annotations

import marshal
import os
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import FirmwareError, UsageError
from .paths import cache_dir

CACHE_DIR = cache_dir()
_CACHE_VERSION = 4
_SETTLED_NS = 3_000_000_000     # a file's identity is remembered once it is this old
EM_ARM = 40


class Segment(NamedTuple):       # NamedTuple, not a dataclass: ~10x cheaper to define at import
    addr: int
    data: bytes        # file bytes, zero-padded to the segment's memory size
    executable: bool
    writable: bool


class Symbol(NamedTuple):
    name: str
    addr: int          # for Thumb functions, without the low bit
    size: int
    kind: str          # "func", "object" or "other"


class Symbols(Mapping):
    """name -> Symbol, each made on first lookup from (addr, size, kind) rows: the
    firmware has ~2,000 symbols and a run looks up a handful."""

    def __init__(self, rows: dict[str, tuple[int, int, str]]):
        self._rows = rows
        self._made: dict[str, Symbol] = {}

    def __getitem__(self, name: str) -> Symbol:
        s = self._made.get(name)
        if s is None:
            addr, size, kind = self._rows[name]
            s = self._made[name] = Symbol(name, addr, size, kind)
        return s

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> dict[str, tuple[int, int, str]]:
        return self._rows


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
    bits: tuple[int, int] | None = None        # bitfield member: (first bit in its unit, width)

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
        if self.bits is not None:
            d["b"] = list(self.bits)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TypeInfo":
        return cls(kind=d["k"], name=d["n"], size=d["s"],
                   fields={k: (o, cls.from_json(t)) for k, (o, t) in d.get("f", {}).items()},
                   element=cls.from_json(d["e"]) if "e" in d else None,
                   count=d.get("c"), target=d.get("t"), bits=tuple(d["b"]) if "b" in d else None)


class Firmware:
    """Load with ``Firmware.load(path)``; raises FirmwareError with one clear line."""

    def __init__(self, path: Path, raw: bytes, segments: list[Segment], symbols: Mapping[str, Symbol],
                 entry: int, has_debug_info: bool, content_hash: str, fingerprint: str | None = None):
        self.path = path
        self._raw = raw
        self.segments = segments
        self.symbols = symbols
        self.entry = entry
        self.has_debug_info = has_debug_info
        self.content_hash = content_hash           # SHA-256 of the ELF file (hex)
        self._fingerprint = fingerprint
        self._types: dict[str, TypeInfo] = {}
        self._type_rows: dict[str, Any] = {}       # cached layouts, made into TypeInfo on first use
        self._cache_file = _cache_file(content_hash)
        self._dwarf_elf = None                     # opened on the first uncached lookup, then kept:
                                                   # pyelftools keeps the DIEs it parsed

    @property
    def elf_machine(self) -> int:
        """ELF e_machine (40: ARM, 243: RISC-V), from the header."""
        return int.from_bytes(self._raw[18:20], "little")

    @property
    def word_size(self) -> int:
        """sizeof(void *) on the target, from the ELF class (EI_CLASS: 1 ELF32, 2 ELF64)."""
        return 8 if self._raw[4] == 2 else 4

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = _fingerprint(self.segments)
        return self._fingerprint

    # -- loading ------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Firmware":
        path = Path(path)
        raw, identity = _read(path)
        if raw[:4] != b"\x7fELF":
            raise FirmwareError(f"not an ELF file: {path}")
        content_hash = _content_hash(path, raw, identity)
        cached = _read_cache(content_hash)
        if cached is not None:
            fw = cls(path, raw, _segments_from_raw(raw, path), Symbols(cached["symbols"]), cached["entry"],
                     cached["debug"], content_hash, cached["fingerprint"])
            fw._type_rows = cached["types"]
            return fw
        elf = _open_elf(raw, path)
        try:
            symbols, segments, debug = _symbols(elf), _segments(elf), elf.has_dwarf_info()
        except FirmwareError:
            raise
        except Exception as e:  # noqa: BLE001 - pyelftools raises assorted errors on a truncated/corrupt ELF
            raise FirmwareError(f"not a valid ELF file: {path} (truncated or corrupt: {e})") from None
        fw = cls(path, raw, segments, Symbols(symbols), elf.header.e_entry, debug, content_hash)
        fw._dwarf_elf = elf
        fw._save_cache()
        _evict_oldest(CACHE_DIR, fw._cache_file)
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

    @property
    def micropython_version(self) -> tuple[int, int, int] | None:
        """(major, minor, micro) from the REPL banner every MicroPython build carries
        ("MicroPython v1.23.0 on ...", made of MICROPY_GIT_TAG by py/makeversionhdr.py);
        None when the firmware holds no such banner."""
        if not hasattr(self, "_version"):
            self._version = _banner_version(self.segments)
        return self._version

    def code_ranges(self) -> list[tuple[int, int]]:
        return [(s.addr, s.addr + len(s.data)) for s in self.segments if s.executable]

    # -- DWARF --------------------------------------------------------------
    def _type(self, key: str) -> TypeInfo:
        if key in self._types:
            return self._types[key]
        if key in self._type_rows:
            try:
                found = self._types[key] = TypeInfo.from_json(self._type_rows[key])
                return found
            except (KeyError, TypeError, ValueError, AttributeError):
                del self._type_rows[key]          # a damaged cache entry: read the DWARF again
        if not self.has_debug_info:
            raise FirmwareError(f"{self.path.name} has no debug info (build it with -g): "
                                f"cannot read the layout of {key.split(':', 1)[1]}")
        from . import dwarf_types
        try:
            if self._dwarf_elf is None:
                self._dwarf_elf = _open_elf(self._raw, self.path)
            found = dwarf_types.find(self._dwarf_elf, key)
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
        types = dict(self._type_rows)
        types.update((k, t.to_json()) for k, t in self._types.items())
        symbols = self.symbols.rows() if isinstance(self.symbols, Symbols) else \
            {n: (s.addr, s.size, s.kind) for n, s in self.symbols.items()}
        _write_cache_file(self._cache_file, {
            "v": _CACHE_VERSION,
            "entry": self.entry,
            "debug": self.has_debug_info,
            "fingerprint": self.fingerprint,
            "symbols": symbols,
            "types": types,
        })


# -- the cache ------------------------------------------------------------------------------
# Files are marshal data (builtin, ~10x faster to read than JSON): one per content hash,
# and one per path remembering that path's content hash with the file's identity.

def _read(path: Path) -> tuple[bytes, tuple[int, ...]]:
    """The file's bytes and its identity (unchanged from before to after the read)."""
    from . import files                  # regular files only (no FIFO, device), capped in size
    try:
        with files.open_regular(path, "firmware") as f:
            before = _identity(os.fstat(f.fileno()))
            if before[2] > files.LIMITS["firmware"]:
                raise FirmwareError(f"firmware {path} is {before[2]} bytes: too large for a firmware ELF")
            raw = files.read_up_to(f, files.LIMITS["firmware"])
            after = _identity(os.fstat(f.fileno()))
    except FileNotFoundError:
        raise FirmwareError(f"firmware not found: {path}") from None
    except UsageError as e:
        raise FirmwareError(str(e)) from None
    except OSError as e:
        raise FirmwareError(f"cannot read firmware {path}: {e.strerror}") from None
    return raw, (after if after == before else ())


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _content_hash(path: Path, raw: bytes, identity: tuple[int, ...]) -> str:
    """SHA-256 of ``raw`` (the content of ``path``, whose identity it had while read):
    from the per-path record when the identity matches, else computed (and recorded
    if the file has settled)."""
    key = os.path.abspath(path)
    record = _path_record_file(key)
    if identity:
        try:
            saved_key, saved_identity, digest = marshal.loads(record.read_bytes())
            if saved_key == key and tuple(saved_identity) == identity and isinstance(digest, str):
                return digest
        except (OSError, ValueError, EOFError, TypeError):
            pass
    import hashlib
    digest = hashlib.sha256(raw).hexdigest()
    if identity and time.time_ns() - max(identity[3], identity[4]) > _SETTLED_NS:
        _write_cache_file(record, (key, identity, digest))
    return digest


def _path_record_file(key: str) -> Path:
    return CACHE_DIR / "by-path" / f"{zlib.crc32(os.fsencode(key)):08x}.marshal"


def _cache_file(content_hash: str) -> Path:
    return CACHE_DIR / f"{content_hash[:32]}.v{_CACHE_VERSION}.marshal"


def _read_cache(content_hash: str) -> dict[str, Any] | None:
    try:
        data = marshal.loads(_cache_file(content_hash).read_bytes())
        if data.get("v") != _CACHE_VERSION:
            return None
        if not all(k in data for k in ("entry", "debug", "fingerprint", "symbols", "types")):
            return None
    except (OSError, ValueError, EOFError, TypeError, AttributeError):
        return None
    return data


CACHE_MAX_FILES = 64     # parsed ELFs kept (each ~0.1-0.3 MB); beyond it the oldest go


def _evict_oldest(folder: Path, keep: Path) -> None:
    """Bound the cache: a new entry pushes out the oldest-written ones (older cache
    versions included) beyond CACHE_MAX_FILES. Run only when an ELF is parsed for
    the first time, so a warm start never lists the folder."""
    try:
        entries = sorted((p.stat().st_mtime_ns, p) for p in folder.glob("*.marshal"))
    except OSError:
        return
    for _mtime, old in entries[:max(0, len(entries) - CACHE_MAX_FILES)]:
        if old != keep:
            try:
                old.unlink()
            except OSError:
                pass


def _write_cache_file(target: Path, value: Any) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(value))
        os.replace(tmp, target)
    except (OSError, ValueError):
        pass  # a cache we cannot write only costs start-up time


_MACHINES = {("EM_ARM", 32), ("EM_RISCV", 64)}     # what sim/arch has cores for


def _open_elf(raw: bytes, path: Path):
    import io
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(raw))
    except (ELFError, Exception) as e:  # pyelftools raises assorted errors on garbage
        raise FirmwareError(f"not a valid ELF file: {path} ({e})") from None
    if (elf.header.e_machine, elf.elfclass) not in _MACHINES or not elf.little_endian:
        raise FirmwareError(f"{path.name} is an ELF for {elf.header.e_machine} ({elf.elfclass}-bit), not a "
                            f"little-endian 32-bit ARM (Cortex-M) or 64-bit RISC-V firmware")
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
    if raw[4] not in (1, 2) or raw[5] != 1:
        raise FirmwareError(f"{path.name} is not a little-endian ELF")
    if raw[4] == 1:                                   # ELF32
        phoff, = struct.unpack_from("<I", raw, 28)
        phentsize, phnum = struct.unpack_from("<HH", raw, 42)
    else:                                             # ELF64
        phoff, = struct.unpack_from("<Q", raw, 32)
        phentsize, phnum = struct.unpack_from("<HH", raw, 54)
    out = []
    for i in range(phnum):
        if raw[4] == 1:
            p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, p_flags, _align = \
                struct.unpack_from("<8I", raw, phoff + i * phentsize)
        else:
            p_type, p_flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _align = \
                struct.unpack_from("<IIQQQQQQ", raw, phoff + i * phentsize)
        if p_type != 1 or p_memsz == 0:
            continue
        data = raw[p_offset:p_offset + p_filesz] + bytes(p_memsz - p_filesz)
        out.append(Segment(p_paddr, data, bool(p_flags & 1), bool(p_flags & 2)))
    return out


def _symbols(elf) -> dict[str, tuple[int, int, str]]:
    """name -> (addr, size, kind) rows, as ``Symbols`` takes them.

    The table is unpacked with ``struct`` rather than pyelftools' per-symbol
    parser (~0.5 s of a cold start on a 5,000-symbol firmware)."""
    import struct
    symtab = elf.get_section_by_name(".symtab")
    out: dict[str, tuple[int, int, str]] = {}
    if symtab is None:
        return out
    strtab = elf.get_section(symtab["sh_link"]).data()
    if elf.elfclass == 32:
        rows = ((n, v, sz, info) for n, v, sz, info, _o, _x in struct.iter_unpack("<IIIBBH", symtab.data()))
    else:
        rows = ((n, v, sz, info) for n, info, _o, _x, v, sz in struct.iter_unpack("<IBBHQQ", symtab.data()))
    for name_at, value, size, info in rows:
        if not name_at:
            continue
        name = strtab[name_at:strtab.index(b"\0", name_at)].decode("utf-8", "replace")
        if not name or name.startswith("$"):
            continue
        kind = {2: "func", 1: "object"}.get(info & 0xF, "other")        # STT_FUNC, STT_OBJECT
        addr = value & ~1 if kind == "func" else value
        # Prefer global definitions over local ones of the same name.
        if name in out and info >> 4 == 0:                              # STB_LOCAL
            continue
        out[name] = (addr, size, kind)
    return out


_BANNER = None


def _banner_version(segments: list[Segment]) -> tuple[int, int, int] | None:
    global _BANNER
    import re
    if _BANNER is None:
        _BANNER = re.compile(rb"MicroPython v(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?[-+\w.]* on ")
    for seg in segments:
        m = _BANNER.search(seg.data)
        if m:
            return int(m[1]), int(m[2]), int(m[3] or 0)
    return None


def _fingerprint(segments: list[Segment]) -> str:
    """Hash of what the CPU sees: load addresses and bytes, not ELF metadata.
    Heap objects point into these bytes (type objects, qstr pools, bytecode of
    frozen code), so an image is only valid for firmware with the same fingerprint."""
    import hashlib
    h = hashlib.sha256()
    for s in sorted(segments, key=lambda s: s.addr):
        h.update(s.addr.to_bytes(4, "little"))
        h.update(len(s.data).to_bytes(4, "little"))
        h.update(s.data)
    return h.hexdigest()

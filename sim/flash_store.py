"""The NOR flash's contents on the host: ``flash_images/<board>.bin``.

Power-cycling the simulator is a real power cycle because the flash outlives the
process: ``load()`` reads the file straight into ``NorFlash.backing`` (no file yet:
the flash is erased, and nothing is written until the first save) and ``save()``
writes it back atomically (temporary file in the same directory, fsync,
``os.replace``), so a crash mid-save leaves the old file whole. Nothing ever
writes into an existing image file, which is what lets ``load()`` read it in place.

A file of the wrong size is refused and never overwritten: it may belong to
another board definition, and it is the user's data. Exports and imports are
for ``mpsim flash export/import``: raw ``.bin`` (the whole device) or Intel HEX at
the flash's bus address (only non-erased pages; absent bytes read as erased).
Imports are checked completely before anything is changed.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from .errors import UsageError
from .paths import flash_dir
from .peripherals.nor_flash import NorFlash


class FlashStore:
    def __init__(self, flash: NorFlash, board: str | None = None, path: str | os.PathLike | None = None):
        self.flash = flash
        self.board = board or (flash.board.name if flash.board is not None else flash.name)
        self.path = Path(path) if path is not None else flash_dir() / f"{self.board}.bin"

    # -- the persistent image ----------------------------------------------------------
    def load(self) -> bool:
        """Fill the flash from the file; with no file, erase it (an absent file reads as
        an erased flash; the first save creates it). Returns True when a file was loaded.

        The file is read into the mapped buffer directly (no 8 MiB copy); its size is
        checked first, so a refused file leaves the flash as it was. Cost: ~4 ms."""
        try:
            f = open(self.path, "rb", buffering=0)
        except FileNotFoundError:
            self._fill_erased()
            self._saved = _adler32_of_repeated(self.flash.erase_value, self.flash.size)
            return False
        except OSError as e:
            raise UsageError(f"cannot read flash image {self.path}: {e.strerror or e}") from None
        with f:
            try:
                self._check_size(self.path, os.fstat(f.fileno()).st_size)
                self._saved = _LOAD_FAILED          # until the whole file is in
                view, got = memoryview(self.flash.backing), 0
                while got < len(view):
                    n = f.readinto(view[got:])
                    if not n:
                        raise UsageError(f"cannot read flash image {self.path}: it shrank while being read")
                    got += n
            except OSError as e:
                raise UsageError(f"cannot read flash image {self.path}: {e.strerror or e}") from None
        self._saved = zlib.adler32(self.flash.backing)
        return True

    def save(self) -> None:
        _write_atomically(self.path, self.flash.backing)
        self._saved = zlib.adler32(self.flash.backing)

    def save_if_changed(self) -> None:
        """Save unless the contents equal what was last loaded or saved (a checksum
        costs ~3 ms; rewriting and syncing 8 MiB costs several times that). After a
        failed load the contents are partly the file's: never saved from here."""
        saved = getattr(self, "_saved", None)
        if saved is not _LOAD_FAILED and zlib.adler32(self.flash.backing) != saved:
            self.save()

    def erase_all(self) -> None:
        self._fill_erased()
        self.save()

    # -- export / import -------------------------------------------------------------------
    def export_bin(self, path: str | os.PathLike) -> None:
        _write_atomically(Path(path), self.flash.backing)

    def export_hex(self, path: str | os.PathLike) -> int:
        """Intel HEX of the non-erased pages at the bus address; returns bytes exported."""
        from intelhex import IntelHex
        ih, exported = IntelHex(), 0
        for start, end in self._used_ranges():
            ih.puts(self.flash.base + start, bytes(self.flash.backing[start:end]))
            exported += end - start
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            ih.write_hex_file(str(tmp))
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UsageError(f"cannot write {target}: {e.strerror or e}") from None
        return exported

    def import_file(self, path: str | os.PathLike) -> None:
        """Replace the whole flash with a .bin (from offset 0) or .hex (bus addresses), then save."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".hex":
            content = self._content_from_hex(path)
        elif suffix == ".bin":
            content = self._content_from_bin(path)
        else:
            raise UsageError(f"cannot import {path}: unknown format {suffix or '(no suffix)'!r} (use .hex or .bin)")
        self._fill(content)
        self.save()

    # -- helpers ---------------------------------------------------------------------------
    def _content_from_bin(self, path: Path) -> bytes:
        data = _read_user_file(path)
        if len(data) > self.flash.size:
            raise UsageError(f"{path} is {len(data)} bytes; the {self.board} flash holds {self.flash.size}")
        return data + bytes([self.flash.erase_value]) * (self.flash.size - len(data))

    def _content_from_hex(self, path: Path) -> bytes:
        from intelhex import IntelHex, IntelHexError
        _read_user_file(path)  # missing/unreadable -> UsageError with the OS's reason
        try:
            ih = IntelHex(str(path))
        except (IntelHexError, ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not a valid Intel HEX file: {e}") from None
        content = bytearray([self.flash.erase_value]) * self.flash.size
        if not len(ih):
            return bytes(content)
        lo, hi, base = ih.minaddr(), ih.maxaddr(), self.flash.base
        if lo < base or hi >= base + self.flash.size:
            raise UsageError(f"{path} has data at {lo:#010x}..{hi:#010x}, outside the {self.board} flash "
                             f"({base:#010x}..{base + self.flash.size - 1:#010x})")
        for start, end in ih.segments():
            content[start - base:end - base] = ih.tobinstr(start=start, end=end - 1)
        return bytes(content)

    def _check_size(self, path: Path, n: int) -> None:
        if n != self.flash.size:
            raise UsageError(f"flash image {path} is {n} bytes; board {self.board} expects {self.flash.size} "
                             f"(move or delete the file to start from an erased flash)")

    def _fill(self, data: bytes) -> None:
        self.flash.backing[:] = data   # in place: the machine maps this very buffer

    def _fill_erased(self) -> None:
        """Every byte to the erase value, in place and without an 8 MiB temporary."""
        view, chunk = memoryview(self.flash.backing), bytes([self.flash.erase_value]) * 0x10000
        for start in range(0, len(view), len(chunk)):
            end = min(start + len(chunk), len(view))
            view[start:end] = chunk[:end - start]

    def _used_ranges(self) -> list[tuple[int, int]]:
        """Runs of pages that are not entirely erased, as (start, end) offsets."""
        page, erased = self.flash.page_size, bytes([self.flash.erase_value]) * self.flash.page_size
        ranges: list[tuple[int, int]] = []
        for start in range(0, self.flash.size, page):
            if self.flash.backing[start:start + page] == erased:
                continue
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], start + page)
            else:
                ranges.append((start, start + page))
        return ranges


_LOAD_FAILED = object()     # FlashStore._saved after a load that did not complete


def _adler32_of_repeated(value: int, n: int) -> int:
    """``zlib.adler32(bytes([value]) * n)`` without the n bytes (RFC 1950: A is 1 plus
    the sum of the bytes, B the sum of the successive A values, both mod 65521)."""
    a = (1 + n * value) % 65521
    b = (n + value * (n * (n + 1) // 2)) % 65521
    return (b << 16) | a


def _read_user_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


def _write_atomically(path: Path, data: bytes | bytearray) -> None:
    """Temporary file next to ``path``, fsync, rename over it: readers see old or new, never half."""
    import tempfile
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)   # mkstemp's 0600 would stick to the final file
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

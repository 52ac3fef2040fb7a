"""The NOR flash's contents on the host: ``flash_images/<board>.bin``.

Power-cycling the simulator is a real power cycle because the flash outlives the
process: ``load()`` reads the file straight into ``NorFlash.backing`` (no file yet:
the flash is erased, and nothing is written until the first save) and ``save()``
writes it back atomically (``sim.files``: temporary file in the same directory,
fsync, rename, fsync the directory; symlinks followed, permissions kept, new
files 0600), so a crash mid-save leaves the old file whole. Nothing ever writes
into an existing image file, which is what lets ``load()`` read it in place.

One writer per file: a store that may save holds the file's lock
(``sim.flash_lock``) from ``load()`` to ``close()``, and removes the temporary
files of writers that died mid-save. It also remembers which file it read
(inode, size, mtime) and refuses to save over a file that changed since: an
update is never lost silently. Read-only stores (``flash info``/``export``)
take no lock.

A file of the wrong size is refused and never overwritten: it may belong to
another board definition, and it is the user's data. Exports and imports are
for ``mpsim flash export/import``: raw ``.bin`` (the whole device, exactly its
size) or Intel HEX at the flash's bus address (only non-erased pages; absent
bytes read as erased). Imports are checked completely before anything is changed.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

from . import files
from .errors import FlashConflict, UsageError
from .flash_lock import FlashLock
from .paths import flash_dir
from .peripherals.nor_flash import NorFlash


class FlashStore:
    def __init__(self, flash: NorFlash, board: str | None = None, path: str | os.PathLike | None = None, *,
                 writer: bool = True, wait_lock: bool = False):
        self.flash = flash
        self.board = board or (flash.board.name if flash.board is not None else flash.name)
        self.path = Path(path) if path is not None else flash_dir() / f"{self.board}.bin"
        self.writer = writer
        self.existed = False                  # a file was there when loaded
        self._lock = FlashLock(self.path, wait=wait_lock) if writer else None
        self._disk: tuple | None = None       # identity of the file as last read or written

    # -- the persistent image ----------------------------------------------------------
    def load(self) -> bool:
        """Fill the flash from the file; with no file, erase it (an absent file reads as
        an erased flash; the first save creates it). Returns True when a file was loaded.
        A writer takes the file's lock first (LockError naming the holder).

        The file is read into the mapped buffer directly (no 8 MiB copy); its size is
        checked first, so a refused file leaves the flash as it was. Cost: ~4 ms."""
        files.check_regular_or_absent(self.path, "flash image")   # never a lock file next to /dev/zero
        if self._lock is not None:
            self._lock.acquire()
            try:
                files.remove_stale_temps(self.path)
                return self._load()
            except BaseException:
                self._lock.release()
                raise
        return self._load()

    def _load(self) -> bool:
        try:
            f = files.open_regular(self.path, "flash image")
        except FileNotFoundError:
            self._fill_erased()
            self._saved = _adler32_of_repeated(self.flash.erase_value, self.flash.size)
            self._disk, self.existed = None, False
            return False
        with f:
            try:
                st = os.fstat(f.fileno())
                self._check_size(self.path, st.st_size)
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
        self._disk, self.existed = _identity(st), True
        return True

    def save(self) -> None:
        if not self.writer:
            raise UsageError(f"flash image {self.path} was opened read-only")
        now = _identity_of(self.path)
        if now != self._disk:
            raise FlashConflict(f"flash image {self.path} changed on disk since this board read it (another "
                                f"writer?): not overwritten; the other writer's update is kept")
        files.write_atomically(self.path, self.flash.backing, "flash image")
        self._saved = zlib.adler32(self.flash.backing)
        self._disk = _identity_of(self.path)

    def close(self) -> None:
        """Let another writer have the file (the process's exit does it too)."""
        if self._lock is not None:
            self._lock.release()

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
        files.write_atomically(path, self.flash.backing, "export")

    def export_hex(self, path: str | os.PathLike) -> int:
        """Intel HEX of the non-erased pages at the bus address; returns bytes exported."""
        from intelhex import IntelHex
        ih, exported = IntelHex(), 0
        for start, end in self._used_ranges():
            ih.puts(self.flash.base + start, bytes(self.flash.backing[start:end]))
            exported += end - start
        text = io.StringIO()
        ih.write_hex_file(text)
        files.write_atomically(path, text.getvalue().encode(), "export")
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
        """A raw image is the whole device: any other size is another board's, or not
        a flash image at all (padding it would wipe the slots it lacks)."""
        data = files.read_bytes(path, "flash image", self.flash.size)
        if len(data) != self.flash.size:
            raise UsageError(f"{path} is {len(data)} bytes; the {self.board} flash is exactly {self.flash.size}: "
                             f"nothing imported")
        return data

    def _content_from_hex(self, path: Path) -> bytes:
        from intelhex import IntelHex, IntelHexError
        text = files.read_bytes(path, "Intel HEX file")
        try:
            ih = IntelHex(io.StringIO(text.decode("ascii")))
        except (IntelHexError, ValueError, UnicodeDecodeError, IndexError, TypeError) as e:
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


def _identity(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _identity_of(path: Path) -> tuple | None:
    try:
        return _identity(os.stat(path))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"cannot read flash image {path}: {e.strerror or e}") from None

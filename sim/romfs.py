"""ROMFS images: a directory tree packed in MicroPython's ROMFS format (upstream's
extmod/vfs_rom.c, 1.25+), which the mpsim firmware reads at 0x21000000 on
mps2-an385, 0x80620000 on virt-rv64 (firmware/romfs.c) once the host has put it
there: ``mpsim ... --load IMG@0x21000000`` or QEMU's ``-device loader,file=IMG,
addr=0x21000000,force-raw=on``.

The format: a *varuint* is big-endian base-128, the high bit set on every byte but
the last; a *record* is varuint kind, varuint payload length, payload. The image is
one record of kind 0x14A6B1 (encoded ``d2 cd 31``, "RM1" with two high bits set)
holding the root's records: a directory (kind 4) is its name's length, the name
and its own records; a file (kind 5) is its name's length, the name and one data
record (kind 2) with its bytes. The whole image has an even length (the reader
cannot skip a single odd byte), padded by a redundant leading 0x80 on the length.

Entries are written sorted by name, so the same tree gives the same image
(upstream's ``mpremote romfs build`` sorts the same way: a test checks that both
produce the same bytes). Files go in verbatim: .py sources stay sources (the
firmware compiles them on import; our cores do not load .mpy).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UsageError
from .files import read_bytes

IMAGE_KIND = 0x14A6B1
DATA, DIRECTORY, FILE = 2, 4, 5
# Where each board's firmware reads an image, and how much: firmware/boards/<board>/board.h
# BOARD_ROMFS_BASE / _SIZE, upstream ports/qemu's partitions (MPS2_AN385, VIRT_RV64);
# a test keeps them in agreement.
PARTITIONS = {"mps2-an385": (0x2100_0000, 0x40_0000), "virt-rv64": (0x8062_0000, 0x40_0000)}
ROMFS_BASE, ROMFS_SIZE = PARTITIONS["mps2-an385"]


def varuint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | value & 0x7F)
        value >>= 7
    return bytes(reversed(out))


def record(kind: int, payload: bytes) -> bytes:
    return varuint(kind) + varuint(len(payload)) + payload


def named(kind: int, name: str, body: bytes) -> bytes:
    raw = name.encode()
    return record(kind, varuint(len(raw)) + raw + body)


def image(records: bytes) -> bytes:
    """The image around the root's records, padded to an even length."""
    head = varuint(IMAGE_KIND)
    length = varuint(len(records))
    if (len(head) + len(length) + len(records)) % 2:
        length = b"\x80" + length
    return head + length + records


def pack(root: str | os.PathLike) -> tuple[bytes, int, int]:
    """(image, files, directories) of the tree under ``root``; symlinks are followed
    (one that loops back into its own ancestors is refused), anything but files and
    directories is refused, in one line."""
    counts = [0, 0]

    def walk(directory: Path, ancestors: tuple) -> bytes:
        try:
            names = sorted(os.listdir(directory))
        except OSError as e:
            raise UsageError(f"romfs: cannot list {directory}: {e.strerror or e}") from None
        out = bytearray()
        for name in names:
            path = directory / name
            try:
                st = os.stat(path)
            except OSError as e:
                raise UsageError(f"romfs: cannot read {path}: {e.strerror or e}") from None
            mode, key = st.st_mode, (st.st_dev, st.st_ino)
            if stat.S_ISDIR(mode):
                if key in ancestors:
                    raise UsageError(f"romfs: {path} leads back into its own parent directories (a symlink loop)")
                counts[1] += 1
                out += named(DIRECTORY, name, walk(path, (*ancestors, key)))
            elif stat.S_ISREG(mode):
                counts[0] += 1
                out += named(FILE, name, record(DATA, read_bytes(path, "file", ROMFS_SIZE)))
            else:
                raise UsageError(f"romfs: {path} is neither a file nor a directory")
        return bytes(out)

    top = Path(root)
    if not top.is_dir():
        raise UsageError(f"romfs: {root} is not a directory")
    st = os.stat(top)
    data = image(walk(top, ((st.st_dev, st.st_ino),)))
    if len(data) > ROMFS_SIZE:
        raise UsageError(f"romfs: the image of {root} is {len(data)} bytes; the firmware reads at most "
                         f"{ROMFS_SIZE} (mps2-an385: {ROMFS_BASE:#x}..{ROMFS_BASE + ROMFS_SIZE:#x})")
    return data, counts[0], counts[1]

"""``mpsim romfs DIR``: pack a directory into a ROMFS image (sim.romfs) that the
firmware reads when it is loaded at 0x21000000 (``--load IMG@0x21000000``, or
QEMU's ``-device loader,file=IMG,addr=0x21000000,force-raw=on``)."""

from __future__ import annotations

import argparse

from ..cli import command
from ..files import write_atomically
from .. import romfs


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="the tree to pack (its contents become the image's root, /rom)")
    p.add_argument("-o", "--output", default=None, help="image file to write (default: DIRECTORY.romfs)")


@command("romfs", "pack a directory into a ROMFS image for --load IMAGE@0x21000000", _args)
def build(args: argparse.Namespace) -> int:
    data, files, dirs = romfs.pack(args.directory)
    out = args.output or args.directory.rstrip("/") + ".romfs"
    write_atomically(out, data, "ROMFS image")
    where = ", ".join(f"{addr:#x} on {board}" for board, (addr, _size) in romfs.PARTITIONS.items())
    print(f"romfs: {files} files, {dirs} directories, {len(data)} bytes -> {out}; "
          f"load it with --load {out}@ADDR ({where})")
    return 0

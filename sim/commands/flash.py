"""``mpsim flash info|export|import|erase``: the emulated NOR flash on the host.

Works on the persisted image (``flash_images/<board>.bin``) without booting
anything: the flash is storage, and this is how a user inspects or seeds it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .console import console
from rich.table import Table

from ..board import load_board
from ..cli import command
from ..errors import UsageError
from ..flash_store import FlashStore
from ..image import decode
from ..peripherals.nor_flash import NorFlash
from ..slots import Partition


def flash_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="mps2-an385", help="board name or TOML file (default: mps2-an385)")
    p.add_argument("--flash", dest="flash_path", default=None,
                   help="flash image file (default: flash_images/<board>.bin)")
    p.add_argument("--wait-lock", action="store_true",
                   help="import/erase: if another process is using the flash image, wait for it (default: exit 2)")


def open_store(args: argparse.Namespace, need_file: bool = False) -> FlashStore:
    """The board's flash with the image loaded (no file: erased). ``need_file``: refuse
    when nothing has been saved yet. info and export only read: they take no lock."""
    board = load_board(args.board)
    flash = NorFlash(board.flash, board)
    writer = args.flash_command in ("import", "erase")
    store = FlashStore(flash, board.name, args.flash_path, writer=writer, wait_lock=args.wait_lock)
    if not store.load() and need_file:
        raise UsageError(f"no flash image at {store.path} (nothing has been saved for board {board.name} yet)")
    return store


def flash_info(args: argparse.Namespace) -> int:
    store = open_store(args)
    f = store.flash
    out = console()
    used = sum(1 for i in range(0, f.size, f.sector_size)
               if f.backing[i:i + f.sector_size] != bytes([f.erase_value]) * f.sector_size)
    out.print(f"flash {f.name} at {f.base:#010x}: {f.size // 1024} KiB, {f.sector_count} sectors of "
              f"{f.sector_size} B, pages of {f.page_size} B; {used} sectors not erased; file {store.path}"
              f"{'' if store.path.exists() else ' (none yet: an erased flash)'}")
    part = Partition(f)
    t = Table(title=f"hibernate partition at {f.base + part.offset:#010x} ({part.size // 1024} KiB, "
                    f"{len(part.slots)} slots)")
    for col in ("slot", "address", "state", "kind", "image #", "bytes", "board", "firmware", "heap", "note"):
        t.add_column(col)
    for info in part.scan():
        board = fw = heap = note = kind = ""
        state = info.state
        if state == "empty" and not _erased(f, info.slot):
            state, note = "torn", "data but no commit record: a hibernate was cut before it committed"
        elif info.valid:
            try:
                img = decode(part.body(info))
                board, fw, kind = img.board, _firmware_name(img.fingerprint), img.kind.label
                heap = f"{img.heap.heap_start:#x}..{img.heap.heap_end:#x}"
            except Exception as e:  # noqa: BLE001 - a report, not a decision
                note = str(e)
        elif not note:
            note = info.reason or ""
        t.add_row(str(info.slot.index), f"{f.base + info.slot.offset:#010x}", state, kind,
                  str(info.sequence or ""), str(info.length or ""), board, fw, heap, note)
    out.print(t)
    return 0


def _firmware_name(fingerprint: str) -> str:
    """Which firmware wrote an image: a build in this tree with that fingerprint, by
    version and path, else the fingerprint alone."""
    from ..mpy.portable.migrate import default_candidates, describe, find_firmware
    fw = find_firmware(fingerprint, default_candidates())
    return fingerprint[:12] if fw is None else describe(fw)


def _erased(flash, slot) -> bool:
    """Every byte of the slot erased: truly empty (an empty commit record alone is not:
    a cut hibernate leaves its data without one)."""
    return flash.read(slot.offset, slot.size) == bytes([flash.erase_value]) * slot.size


def flash_export(args: argparse.Namespace) -> int:
    store = open_store(args, need_file=True)
    as_hex = args.format == "hex" or (args.format is None and Path(args.file).suffix.lower() in (".hex", ".ihex"))
    if as_hex:
        n = store.export_hex(args.file)
        print(f"exported {n} non-erased bytes to {args.file} (Intel HEX at {store.flash.base:#010x})")
    else:
        store.export_bin(args.file)
        print(f"exported {store.flash.size} bytes to {args.file}")
    return 0


def flash_import(args: argparse.Namespace) -> int:
    store = open_store(args)
    store.import_file(args.file)
    print(f"imported {args.file} into {store.path}")
    return 0


def flash_erase(args: argparse.Namespace) -> int:
    store = open_store(args)
    store.erase_all()
    print(f"erased {store.path}")
    return 0


SUBCOMMANDS = {
    "info": (flash_info, "show the flash geometry and the hibernate slots"),
    "export": (flash_export, "write the flash contents to a .bin or .hex file"),
    "import": (flash_import, "replace the flash contents with a .bin or .hex file (checked first)"),
    "erase": (flash_erase, "erase the whole flash (all hibernate images are lost)"),
}


def _flash_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="flash_command", metavar="ACTION", required=True)
    for name, (fn, help_) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        flash_args(sp)
        if name == "export":
            fmt = sp.add_mutually_exclusive_group()
            fmt.add_argument("--hex", dest="format", action="store_const", const="hex", help="Intel HEX")
            fmt.add_argument("--bin", dest="format", action="store_const", const="bin", help="raw binary")
            sp.add_argument("file", help="output file (format from --hex/--bin, else from its suffix)")
        elif name == "import":
            sp.add_argument("file", help="a .hex (Intel HEX at the bus address) or raw .bin file")
        sp.set_defaults(flash_handler=fn)


@command("flash", "inspect, export, import or erase the emulated NOR flash", _flash_args)
def flash(args: argparse.Namespace) -> int:
    return args.flash_handler(args)

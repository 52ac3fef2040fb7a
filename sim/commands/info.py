"""``mpsim info``: the board's memory map, the firmware's MicroPython version and what
it supports (and why not), and its key symbols."""

from __future__ import annotations

import argparse

from .console import console
from rich.table import Table

from ..board import load_board
from ..cli import command, common_args
from ..firmware import Firmware
from ..mpy.support import support
from ..paths import default_firmware

KEY_SYMBOLS = ("mp_state_ctx", "gc_init", "mpsim_restore_point", "pyexec_friendly_repl", "mpsim_boot_params",
               "mp_qstr_const_pool")


def _args(p: argparse.ArgumentParser) -> None:
    common_args(p)
    p.add_argument("--symbols", metavar="SUBSTRING", help="also list every symbol whose name contains SUBSTRING (default: none)")


@command("info", "show the board's memory map, the firmware's MicroPython version, features and symbols", _args)
def info(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    fw = Firmware.load(args.firmware or default_firmware(board.name))
    out = console()
    t = Table(title=f"{board.name}: {board.description}")
    for col in ("name", "kind", "base", "end", "size", "notes"):
        t.add_column(col, justify="right" if col in ("base", "end", "size") else "left")
    rows = [(r.base, r.name, "ram", r.size, f"alias of {r.alias}" if r.alias else ("boot" if r.boot else ""))
            for r in board.memory]
    rows += [(p.base, p.name, p.type, p.size, ", ".join(f"{k}={v}" for k, v in p.irq.items()))
             for p in board.peripherals]
    rows += [(s.base, s.name, "stub", s.size, "unmodelled (reads 0)") for s in board.stubs]
    for base, name, kind, size, notes in sorted(rows):
        t.add_row(name, kind, f"{base:#010x}", f"{base + size:#010x}", _size(size), notes)
    out.print(t)

    s = Table(title="MicroPython", show_header=False)
    s.add_column("")
    s.add_column("")
    for key, value in support(fw).rows():
        s.add_row(key, value)
    out.print(s)

    f = Table(title=f"firmware {fw.path} (fingerprint {fw.fingerprint[:16]})")
    for col in ("symbol", "address", "size", "kind"):
        f.add_column(col)
    wanted = [n for n in KEY_SYMBOLS if fw.has_symbol(n)]
    if args.symbols:
        wanted += sorted(n for n in fw.symbols if args.symbols in n and n not in wanted)
    for n in wanted:
        s = fw.symbols[n]
        f.add_row(n, f"{s.addr:#010x}", str(s.size), s.kind)
    out.print(f)
    segs = Table(title="loadable segments")
    for col in ("address", "size", "flags"):
        segs.add_column(col)
    for s in fw.segments:
        segs.add_row(f"{s.addr:#010x}", _size(len(s.data)), ("r" + ("w" if s.writable else "-") + ("x" if s.executable else "-")))
    out.print(segs)
    return 0



def _size(n: int) -> str:
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"

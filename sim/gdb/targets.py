"""What GDB is told about a board: its registers (target description XML) and its
memory (memory-map XML), built from data.

A register table is a list of ``Reg`` rows: GDB's name, width, type, the feature it
belongs to, and the machine's name for it (``Machine.reg``). Its position in the
table is its number in ``g``/``p``/``P`` packets. A new architecture is one more
``Arch`` entry, keyed by the board's ``cpu``; nothing else in the stub knows
registers.

Cortex-M follows GDB's ``org.gnu.gdb.arm.m-profile`` feature (r0-r12, sp, lr, pc,
xpsr) plus the system registers QEMU and pyOCD describe in
``org.gnu.gdb.arm.m-system`` (msp, psp, primask, basepri, faultmask, control);
numbering as pyOCD's (xpsr 16, msp 17, ...).

RV64 follows GDB's ``org.gnu.gdb.riscv.cpu`` (x0-x31 under their ABI names, then
pc: numbers 0-32, as GDB's own riscv numbering) and ``org.gnu.gdb.riscv.csr`` with
the M-mode CSRs the hart has (rv64imac in M-mode: no FPU feature). A CSR's number
is 65 + its CSR address, as QEMU's stub numbers them; GDB takes the numbers from
``regnum``, so the gap between pc and the CSRs is allowed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from ..board import BoardSpec


@dataclass(frozen=True)
class Reg:
    name: str
    bits: int
    feature: str
    type: str = "int"
    machine_name: str | None = None    # default: same as ``name``
    regnum: int | None = None          # default: one more than the row before


@dataclass(frozen=True)
class Arch:
    gdb_name: str                      # <architecture>
    regs: tuple[Reg, ...]
    pc: str                            # the register that is the program counter
    little_endian: bool = True

    @functools.cached_property
    def numbers(self) -> dict[int, Reg]:
        """GDB's register number -> row (``p``/``P`` packets). ``g`` sends the rows
        in table order, which is number order, as GDB lays out its ``g`` buffer."""
        out, n = {}, 0
        for r in self.regs:
            n = n if r.regnum is None else r.regnum
            out[n] = r
            n += 1
        return out


_M = "org.gnu.gdb.arm.m-profile"
_MSYS = "org.gnu.gdb.arm.m-system"
CORTEX_M = Arch(
    gdb_name="arm",
    regs=tuple([Reg(f"r{i}", 32, _M) for i in range(13)]
               + [Reg("sp", 32, _M, "data_ptr"), Reg("lr", 32, _M), Reg("pc", 32, _M, "code_ptr"),
                  Reg("xpsr", 32, _M)]
               + [Reg("msp", 32, _MSYS, "data_ptr"), Reg("psp", 32, _MSYS, "data_ptr"),
                  Reg("primask", 32, _MSYS), Reg("basepri", 32, _MSYS), Reg("faultmask", 32, _MSYS),
                  Reg("control", 32, _MSYS)]),
    pc="pc",
)

_RV = "org.gnu.gdb.riscv.cpu"
_RVCSR = "org.gnu.gdb.riscv.csr"
_RV_ABI = ("zero ra sp gp tp t0 t1 t2 fp s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 "
           "t3 t4 t5 t6").split()
_RV_TYPES = {"sp": "data_ptr", "gp": "data_ptr", "tp": "data_ptr", "fp": "data_ptr", "ra": "code_ptr"}
# CSR address -> name: the M-mode trap set (mhartid etc. are constants GDB does not need).
_RV_CSRS = {0x300: "mstatus", 0x301: "misa", 0x304: "mie", 0x305: "mtvec", 0x340: "mscratch",
            0x341: "mepc", 0x342: "mcause", 0x343: "mtval", 0x344: "mip"}
RV64 = Arch(
    gdb_name="riscv:rv64",
    regs=tuple([Reg(n, 64, _RV, _RV_TYPES.get(n, "int"), "s0" if n == "fp" else None) for n in _RV_ABI]
               + [Reg("pc", 64, _RV, "code_ptr")]
               + [Reg(n, 64, _RVCSR, regnum=65 + a) for a, n in sorted(_RV_CSRS.items())]),
    pc="pc",
)

ARCHES = {"cortex-m3": CORTEX_M, "rv64imac": RV64}


def arch_for(board: BoardSpec) -> Arch:
    from ..errors import UsageError
    try:
        return ARCHES[board.cpu]
    except KeyError:
        raise UsageError(f"board {board.name}: no GDB register description for cpu {board.cpu!r}") from None


def target_xml(arch: Arch) -> bytes:
    parts = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
             f"<architecture>{arch.gdb_name}</architecture>"]
    feature = None
    for n, r in arch.numbers.items():
        if r.feature != feature:
            if feature is not None:
                parts.append("</feature>")
            feature = r.feature
            parts.append(f"<feature name={quoteattr(feature)}>")
        parts.append(f'<reg name="{r.name}" bitsize="{r.bits}" regnum="{n}" type="{r.type}"/>')
    parts += ["</feature>", "</target>"]
    return "\n".join(parts).encode()


@dataclass(frozen=True)
class Region:
    """A range GDB may read (and write, when ``writable``)."""
    name: str
    base: int
    size: int
    kind: str                  # ram | flash
    block_size: int = 0        # flash: erase sector

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def writable(self) -> bool:
        return self.kind == "ram"


def regions(board: BoardSpec) -> list[Region]:
    """RAM (aliases included) and memory-like flash; peripherals are left out: a read
    of a device register has side effects (a UART's DATA read takes a byte)."""
    out = [Region(r.name, r.base, r.size, "ram") for r in board.memory]
    for flash in board.peripherals_of_type("nor_flash"):
        out.append(Region(flash.name, flash.base, flash.size, "flash",
                          int(flash.settings.get("sector_size", 4096))))
    return sorted(out, key=lambda r: r.base)


def memory_map_xml(rs: list[Region]) -> bytes:
    parts = ['<?xml version="1.0"?>',
             '<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" '
             '"http://sourceware.org/gdb/gdb-memory-map.dtd">', "<memory-map>"]
    for r in rs:
        if r.kind == "flash":
            parts.append(f'<memory type="flash" start="{r.base:#x}" length="{r.size:#x}">'
                         f'<property name="blocksize">{r.block_size:#x}</property></memory>')
        else:
            parts.append(f'<memory type="ram" start="{r.base:#x}" length="{r.size:#x}"/>')
    parts.append("</memory-map>")
    return "\n".join(parts).encode()

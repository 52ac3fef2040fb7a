"""The RAM a running firmware depends on, and nothing more.

A run-state image must be as small as what is live (flash time is what the
hold-up capacitor pays for), so instead of whole RAM it holds:

- the statics: the ELF's writable, allocated sections (.data, .bss, .noinit...),
  minus the GC heap and the C stack, which are taken by their own rules;
- the C stack in use: from the lowest stack pointer (MSP/PSP, or sp) to the stack
  top (``_estack``, else the initial SP in the vector table); below SP is dead;
- the GC heap is taken by ``sim.runstate.image`` from the allocation table.

Ranges are (start, end) pairs, sorted and disjoint.
"""

from __future__ import annotations

import io

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from ..errors import SimError

_MAX_STACK = 1 << 20                      # a stack pointer further below the top is not this stack's
_SKIP_SECTIONS = {".heap", ".stack"}      # the firmware's own names: taken by their own rules


_SECTIONS: dict[str, tuple[tuple[str, int, int], ...]] = {}


def writable_sections(firmware) -> tuple[tuple[str, int, int], ...]:
    if firmware.fingerprint not in _SECTIONS:
        _SECTIONS[firmware.fingerprint] = _read_sections(firmware.path.read_bytes())
    return _SECTIONS[firmware.fingerprint]


def _read_sections(raw: bytes) -> tuple[tuple[str, int, int], ...]:
    elf = ELFFile(io.BytesIO(raw))
    out = []
    for sec in elf.iter_sections():
        flags = sec["sh_flags"]
        if flags & SH_FLAGS.SHF_ALLOC and flags & SH_FLAGS.SHF_WRITE and sec["sh_size"]:
            out.append((sec.name, sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]))
    return tuple(out)


def static_ranges(firmware, exclude: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The firmware's statics outside the ``exclude`` ranges (heap, stack)."""
    ranges = [(a, b) for name, a, b in writable_sections(firmware) if name not in _SKIP_SECTIONS]
    return subtract(merge(ranges), exclude)


def stack_top(machine) -> int:
    fw = machine.firmware
    if fw.has_symbol("_estack"):
        return fw.symbol("_estack").addr
    boot = next(r for r in machine.board.memory if r.boot)
    if machine.core.word == 4:
        return machine.read_u32(boot.base)          # Cortex-M: the vector table's initial SP
    raise SimError(f"{fw.path.name} has no _estack symbol: cannot tell where its C stack ends")


def stack_range(machine) -> tuple[int, int]:
    """From the lowest live stack pointer to the stack top."""
    top = stack_top(machine)
    cpu = machine.cpu_state()
    sps = [cpu[k] for k in ("msp", "psp", "sp") if k in cpu and 0 < top - cpu[k] <= _MAX_STACK]
    if not sps:
        raise SimError(f"no stack pointer within {_MAX_STACK >> 10} KiB below the stack top {top:#x}")
    return min(sps) & ~3, top


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(ranges)
    for ha, hb in holes:
        nxt = []
        for a, b in out:
            if hb <= a or b <= ha:
                nxt.append((a, b))
                continue
            if a < ha:
                nxt.append((a, ha))
            if hb < b:
                nxt.append((hb, b))
        out = nxt
    return out

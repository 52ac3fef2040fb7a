"""Where the firmware puts its GC heap: the boot-parameter block.

The default firmware reads ``mpsim_boot_params`` (magic 'MPSH', heap start, heap
end; in a .noinit section the startup code never touches) before ``gc_init``: a
host that writes it after reset moves or resizes the heap without rebuilding the
ELF (firmware/README.md). The firmware refuses bounds that overlap its data or
stack and falls back to its static heap; ``check_applied`` turns that into an error.
"""

from __future__ import annotations

import struct

from ..errors import UsageError

BOOT_MAGIC = 0x4D505348
SYMBOL = "mpsim_boot_params"


def default_base(firmware) -> int:
    """Where a resized heap goes by default: just above the C stack."""
    top = firmware.symbol("_estack").addr if firmware.has_symbol("_estack") else firmware.symbol("mpsim_heap_end").addr
    return (top + 15) & ~15


def heap_bounds(firmware, base: int | None, size: int | None) -> tuple[int, int] | None:
    """Bounds for ``--heap-base/--heap-size`` (None: the firmware's own static heap)."""
    if base is None and size is None:
        return None
    if not firmware.has_symbol(SYMBOL):
        raise UsageError(f"{firmware.path.name} has no {SYMBOL} block: its heap cannot be moved or resized")
    if size is None:
        size = firmware.symbol("mpsim_heap").size
    if base is None:
        base = default_base(firmware)
    if base < 0 or size < 0 or base + size > 1 << 32:
        raise UsageError(f"heap {base:#x}+{size:#x} is outside the 32-bit address space")
    if base % 16 or size % 16 or size < 16 * 1024:
        raise UsageError(f"heap {base:#x}+{size:#x}: base and size must be multiples of 16, size at least 16 KiB")
    return base, base + size


def apply(machine, bounds: tuple[int, int] | None) -> None:
    """Write (or clear) the boot-parameter block; call after reset, before the firmware runs."""
    fw = machine.firmware
    if not fw.has_symbol(SYMBOL):
        return
    addr = fw.symbol(SYMBOL).addr
    if bounds is None:
        machine.write(addr, struct.pack("<I", 0))
    else:
        machine.write(addr, struct.pack("<III", BOOT_MAGIC, *bounds))


def check_applied(bounds: tuple[int, int] | None, start: int, end: int) -> None:
    # gc_init rounds the end down to a whole GC block: 16 bytes on 32-bit, 32 on 64-bit.
    if bounds is not None and (start != bounds[0] or not bounds[1] - 32 < end <= bounds[1]):
        raise UsageError(f"the firmware refused heap {bounds[0]:#x}..{bounds[1]:#x} (it must lie in data RAM "
                         f"above .bss and clear of the stack) and fell back to its static heap {start:#x}..{end:#x}")

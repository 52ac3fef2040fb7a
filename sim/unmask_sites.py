"""Where firmware code unmasks interrupts: the moment a pending interrupt must be taken.

Unicorn has no NVIC, so mpsim delivers interrupts itself between slices. An
interrupt that becomes pending while the guest has it masked (PRIMASK, FAULTMASK,
BASEPRI) must be taken right after the instruction that unmasks it -- on hardware
and in QEMU it is. The common idiom that depends on it is the race-free sleep:

    cpsid i; if (!ready) wfi; cpsie i     (WFI wakes on a masked pending interrupt)

The patched engine stops emulation after such an instruction by itself
(tools/unicorn-patches/0009). On the stock library mpsim hooks the instruction
that follows each one instead; this module finds them in the firmware's
executable segments. A halfword scan of Thumb code may also match the second half
of another instruction or a literal: a hook there is harmless (it stops the CPU
only where taking a pending interrupt is allowed anyway). Code the firmware copies
or generates into RAM at run time is not scanned.
"""

from __future__ import annotations

import struct
from typing import Iterable

# CPSIE i / f / if: 1011 0110 011 0 0 I F
_CPSIE = {0xB661, 0xB662, 0xB663}
# MSR <spec_reg>, Rn (T1): 11110 0 1110 0 Rn | 10 0 0 mask=10 00 SYSm; PRIMASK,
# BASEPRI, FAULTMASK (BASEPRI_MAX can only raise the mask).
_MSR_SYSM = {0x8810, 0x8811, 0x8813}


def unmask_sites(segments: Iterable) -> list[int]:
    """Addresses of the instructions that follow a CPSIE or an MSR to a mask register."""
    sites = []
    for seg in segments:
        if not seg.executable:
            continue
        data = seg.data[:len(seg.data) & ~1]
        hw = struct.unpack(f"<{len(data) // 2}H", data)
        for i, h in enumerate(hw):
            if h in _CPSIE:
                sites.append(seg.addr + 2 * i + 2)
            elif 0xF380 <= h <= 0xF38F and i + 1 < len(hw) and hw[i + 1] in _MSR_SYSM:
                sites.append(seg.addr + 2 * i + 4)
    return sites

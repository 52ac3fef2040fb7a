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

from typing import Iterable

# Little-endian halfwords. CPSIE i / f / if: 1011 0110 011 0 0 I F. MSR <spec_reg>, Rn (T1):
# 11110 0 1110 0 Rn (0xF380..0xF38F) | 10 0 0 mask=10 00 SYSm, to PRIMASK, BASEPRI or
# FAULTMASK (BASEPRI_MAX can only raise the mask).
_CPSIE = (b"\x61\xb6", b"\x62\xb6", b"\x63\xb6")
_MSR_SYSM = (b"\x10\x88", b"\x11\x88", b"\x13\x88")


def _even_offsets(data: bytes, pattern: bytes):
    i = data.find(pattern)
    while i >= 0:
        if not i & 1:
            yield i
        i = data.find(pattern, i + 1)


def unmask_sites(segments: Iterable) -> list[int]:
    """Addresses of the instructions that follow a CPSIE or an MSR to a mask register."""
    sites = []
    for seg in segments:
        if not seg.executable:
            continue
        data = seg.data
        for p in _CPSIE:
            sites += [seg.addr + i + 2 for i in _even_offsets(data, p)]
        for p in _MSR_SYSM:
            sites += [seg.addr + i + 2 for i in _even_offsets(data, p)
                      if i >= 2 and data[i - 1] == 0xF3 and data[i - 2] & 0xF0 == 0x80]
    return sorted(sites)

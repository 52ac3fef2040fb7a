"""Host-side ARMv7-M exception entry and return, since Unicorn has neither.

Unicorn gives us the pieces: writing XPSR sets IPSR (and so Handler mode, which
swaps the banked SP exactly as QEMU's write_v7m_exception does), MSP/PSP/CONTROL
are writable, and a branch to an EXC_RETURN value traps as interrupt 8 with
PC = EXC_RETURN & ~1. This module turns those into the architecture's
ExceptionTaken / ExceptionReturn (ARMv7-M ARM B1.5.6-B1.5.8): an 8-word frame
(r0-r3, r12, lr, return address, xPSR), 8-byte stack alignment recorded in
stacked xPSR bit 9, EXC_RETURN in LR, CONTROL.SPSEL cleared in Handler mode.

It only needs ``uc``'s register/memory calls, so tests can drive it directly.
"""

from __future__ import annotations

import struct

from unicorn import UcError
from unicorn.arm_const import (UC_ARM_REG_CONTROL, UC_ARM_REG_LR, UC_ARM_REG_MSP, UC_ARM_REG_PC,
                               UC_ARM_REG_PSP, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,
                               UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_XPSR)

from .errors import GuestFault

EXC_RETURN_HANDLER = 0xFFFFFFF1
EXC_RETURN_THREAD_MSP = 0xFFFFFFF9
EXC_RETURN_THREAD_PSP = 0xFFFFFFFD
_FRAME_REGS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR)
XPSR_T = 1 << 24
XPSR_ALIGN = 1 << 9
SPSEL = 2


def enter(uc, exc: int, return_pc: int, vtor: int) -> int:
    """Take exception ``exc`` with ``return_pc`` as the stacked return address.

    Returns the handler address (without the Thumb bit); PC is already set.
    """
    xpsr = uc.reg_read(UC_ARM_REG_XPSR)
    control = uc.reg_read(UC_ARM_REG_CONTROL)
    if xpsr & 0x1FF:
        exc_return = EXC_RETURN_HANDLER
    elif control & SPSEL:
        exc_return = EXC_RETURN_THREAD_PSP
    else:
        exc_return = EXC_RETURN_THREAD_MSP
    sp = uc.reg_read(UC_ARM_REG_SP)
    frame = (sp - 32) & 0xFFFFFFFF
    stacked_xpsr = xpsr & ~XPSR_ALIGN
    if frame & 4:
        frame -= 4
        stacked_xpsr |= XPSR_ALIGN
    regs = [uc.reg_read(r) for r in _FRAME_REGS]
    data = struct.pack("<8I", *regs, return_pc & 0xFFFFFFFE, stacked_xpsr)
    try:
        uc.mem_write(frame, data)
        vector = struct.unpack("<I", uc.mem_read(vtor + 4 * exc, 4))[0]
    except UcError:
        raise GuestFault(f"stacking for exception {exc} failed: SP {sp:#010x} is not writable memory "
                         f"(stack overflow?)", pc=return_pc, address=frame, access="write") from None
    uc.reg_write(UC_ARM_REG_SP, frame)
    uc.reg_write(UC_ARM_REG_XPSR, (xpsr & 0xF80F0000 & ~0x06000000) | XPSR_T | exc)   # Handler mode: SP is MSP now
    uc.reg_write(UC_ARM_REG_CONTROL, control & ~SPSEL & ~4)
    uc.reg_write(UC_ARM_REG_LR, exc_return)
    uc.reg_write(UC_ARM_REG_PC, vector | 1)
    return vector & ~1


def leave(uc, exc_return: int) -> int:
    """Return from an exception given the EXC_RETURN value; returns the resumed PC."""
    if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP):
        raise GuestFault(f"invalid EXC_RETURN {exc_return:#010x}", pc=exc_return)
    use_psp = exc_return == EXC_RETURN_THREAD_PSP
    sp = uc.reg_read(UC_ARM_REG_PSP if use_psp else UC_ARM_REG_MSP)
    try:
        r = struct.unpack("<8I", uc.mem_read(sp, 32))
    except UcError:
        raise GuestFault(f"unstacking failed: {'PSP' if use_psp else 'MSP'} {sp:#010x} is not readable",
                         pc=exc_return, address=sp, access="read") from None
    control = uc.reg_read(UC_ARM_REG_CONTROL)
    uc.reg_write(UC_ARM_REG_CONTROL, (control | SPSEL) if use_psp else (control & ~SPSEL))
    new_sp = sp + 32 + (4 if r[7] & XPSR_ALIGN else 0)
    uc.reg_write(UC_ARM_REG_PSP if use_psp else UC_ARM_REG_MSP, new_sp)
    for reg, v in zip(_FRAME_REGS, r):
        uc.reg_write(reg, v)
    xpsr = (r[7] & ~XPSR_ALIGN) | XPSR_T
    if exc_return != EXC_RETURN_HANDLER:
        xpsr &= ~0x1FF
    uc.reg_write(UC_ARM_REG_XPSR, xpsr)            # back to Thread mode swaps to PSP if SPSEL
    uc.reg_write(UC_ARM_REG_PC, r[6] | 1)
    return r[6] & ~1

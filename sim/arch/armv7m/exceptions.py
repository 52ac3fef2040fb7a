"""Host-side ARMv7-M exception entry and return, since Unicorn has neither.

Unicorn gives us the pieces: writing XPSR sets IPSR (and so Handler mode, which
swaps the banked SP exactly as QEMU's write_v7m_exception does), MSP/PSP/CONTROL
are writable, and a branch to an EXC_RETURN value traps as interrupt 8 with
PC = EXC_RETURN & ~1. This module turns those into the architecture's
ExceptionTaken / ExceptionReturn (ARMv7-M ARM B1.5.6-B1.5.8): an 8-word frame
(r0-r3, r12, lr, return address, xPSR), 8-byte stack alignment recorded in
stacked xPSR bit 9, EXC_RETURN in LR, CONTROL.SPSEL cleared in Handler mode.

It only needs ``uc``'s register/memory calls, so tests can drive it directly.
Register traffic goes through ``Regs``: direct ``uc_reg_read_batch`` /
``uc_reg_write_batch`` calls on preallocated ctypes buffers. The unicorn
binding's ``reg_read`` costs ~8 us per register (class lookup, a new ctypes
object, a generator); a SysTick tick needs ~30 register accesses, and a guest
``time.sleep(10)`` is 10,000 ticks.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from unicorn import UcError
from unicorn.arm_const import (UC_ARM_REG_BASEPRI, UC_ARM_REG_CONTROL, UC_ARM_REG_FAULTMASK,
                               UC_ARM_REG_PRIMASK, UC_ARM_REG_LR, UC_ARM_REG_MSP, UC_ARM_REG_PC,
                               UC_ARM_REG_PSP, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,
                               UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_XPSR)

from ...errors import GuestFault

EXC_RETURN_HANDLER = 0xFFFFFFF1
EXC_RETURN_THREAD_MSP = 0xFFFFFFF9
EXC_RETURN_THREAD_PSP = 0xFFFFFFFD
_FRAME_REGS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR)
XPSR_T = 1 << 24
XPSR_ALIGN = 1 << 9
SPSEL = 2
_PACK8_INTO = struct.Struct("<8I").pack_into
_UNPACK8_FROM = struct.Struct("<8I").unpack_from
_WORD_FROM = struct.Struct("<I").unpack_from



class Regs:
    """Fast 32-bit register access for one Uc (ARM): batches of fixed register lists."""

    def __init__(self, uc):
        from unicorn.unicorn_py3.unicorn import uclib
        self._h = uc._uch
        self._lib = uclib
        self._one = ctypes.c_uint32()
        self._one_p = ctypes.byref(self._one)
        self._one_id = {}
        self.readers: dict[tuple[int, ...], Any] = {}

    def read(self, reg: int) -> int:
        if self._lib.uc_reg_read(self._h, reg, self._one_p):
            raise UcError(self._lib.uc_errno(self._h))
        return self._one.value

    def write(self, reg: int, value: int) -> None:
        self._one.value = value & 0xFFFFFFFF
        if self._lib.uc_reg_write(self._h, reg, self._one_p):
            raise UcError(self._lib.uc_errno(self._h))

    @staticmethod
    def _batch(regs: tuple[int, ...]):
        """The arrays uc_reg_{read,write}_batch take: ids, values, pointers to the values."""
        n = len(regs)
        ids = (ctypes.c_int * n)(*regs)
        vals = (ctypes.c_uint32 * n)()
        ptrs = (ctypes.c_void_p * n)(*(ctypes.addressof(vals) + 4 * i for i in range(n)))
        return n, ids, vals, ptrs

    def reader(self, regs: tuple[int, ...]):
        """A function returning the values of ``regs`` (one C call)."""
        n, ids, vals, ptrs = self._batch(regs)
        lib, h = self._lib, self._h

        def read() -> list[int]:
            if lib.uc_reg_read_batch(h, ids, ptrs, n):
                raise UcError(lib.uc_errno(h))
            return vals[:]
        return read

    def writer(self, regs: tuple[int, ...]):
        """A function writing values to ``regs``, in that order (one C call)."""
        n, ids, vals, ptrs = self._batch(regs)
        lib, h = self._lib, self._h

        def write(*values: int) -> None:
            vals[:] = [v & 0xFFFFFFFF for v in values]
            if lib.uc_reg_write_batch(h, ids, ptrs, n):
                raise UcError(lib.uc_errno(h))
        return write


class Exceptions:
    """ExceptionTaken / ExceptionReturn for one Uc, with batched register access."""

    def __init__(self, uc, regs: Regs | None = None, ram: list | None = None):
        """``ram``: optional (start, end, buffer) host views of guest RAM; frames and
        vectors found there are accessed directly instead of through Unicorn."""
        self.uc = uc
        self.regs = regs or Regs(uc)
        self.ram = ram or []
        self._read_entry = self.regs.reader((UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL, UC_ARM_REG_SP) + _FRAME_REGS)
        # Order matters: SP of the current mode first, then XPSR (Handler mode: SP is MSP).
        self._write_entry = self.regs.writer((UC_ARM_REG_SP, UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL,
                                              UC_ARM_REG_LR, UC_ARM_REG_PC))
        self._read_control = self.regs.reader((UC_ARM_REG_CONTROL, UC_ARM_REG_MSP, UC_ARM_REG_PSP))
        self._write_exit_msp = self.regs.writer((UC_ARM_REG_CONTROL, UC_ARM_REG_MSP) + _FRAME_REGS
                                                + (UC_ARM_REG_XPSR, UC_ARM_REG_PC))
        self._write_exit_psp = self.regs.writer((UC_ARM_REG_CONTROL, UC_ARM_REG_PSP) + _FRAME_REGS
                                                + (UC_ARM_REG_XPSR, UC_ARM_REG_PC))
        self.read_masks = self.regs.reader((UC_ARM_REG_PRIMASK, UC_ARM_REG_BASEPRI, UC_ARM_REG_FAULTMASK))
        self._pack = struct.Struct("<8I").pack
        self._unpack = struct.Struct("<8I").unpack
        self._word = struct.Struct("<I").unpack

    def enter(self, exc: int, return_pc: int, vtor: int) -> int:
        """Take exception ``exc`` with ``return_pc`` as the stacked return address.

        Returns the handler address (without the Thumb bit); PC is already set.
        """
        xpsr, control, sp, *regs = self._read_entry()
        if xpsr & 0x1FF:
            exc_return = EXC_RETURN_HANDLER
        elif control & SPSEL:
            exc_return = EXC_RETURN_THREAD_PSP
        else:
            exc_return = EXC_RETURN_THREAD_MSP
        frame = (sp - 32) & 0xFFFFFFFF
        stacked_xpsr = xpsr & ~XPSR_ALIGN
        if frame & 4:
            frame -= 4
            stacked_xpsr |= XPSR_ALIGN
        uc = self.uc
        try:
            for lo, hi, buf in self.ram:
                if lo <= frame and frame + 32 <= hi:
                    _PACK8_INTO(buf, frame - lo, *regs, return_pc & 0xFFFFFFFE, stacked_xpsr)
                    break
            else:
                uc.mem_write(frame, self._pack(*regs, return_pc & 0xFFFFFFFE, stacked_xpsr))
            va = vtor + 4 * exc
            for lo, hi, buf in self.ram:
                if lo <= va and va + 4 <= hi:
                    vector = _WORD_FROM(buf, va - lo)[0]
                    break
            else:
                vector = self._word(uc.mem_read(va, 4))[0]
        except UcError:
            raise GuestFault(f"stacking for exception {exc} failed: SP {sp:#010x} is not writable memory "
                             f"(stack overflow?)", pc=return_pc, address=frame, access="write") from None
        self._write_entry(frame, (xpsr & 0xF80F0000 & ~0x06000000) | XPSR_T | exc,   # Handler mode
                          control & ~SPSEL & ~4, exc_return, vector | 1)
        return vector & ~1

    def leave(self, exc_return: int) -> int:
        """Return from an exception given the EXC_RETURN value; returns the resumed PC."""
        if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP):
            raise GuestFault(f"invalid EXC_RETURN {exc_return:#010x}", pc=exc_return)
        use_psp = exc_return == EXC_RETURN_THREAD_PSP
        control, msp, psp = self._read_control()
        sp = psp if use_psp else msp
        try:
            for lo, hi, buf in self.ram:
                if lo <= sp and sp + 32 <= hi:
                    r = _UNPACK8_FROM(buf, sp - lo)
                    break
            else:
                r = self._unpack(self.uc.mem_read(sp, 32))
        except UcError:
            raise GuestFault(f"unstacking failed: {'PSP' if use_psp else 'MSP'} {sp:#010x} is not readable",
                             pc=exc_return, address=sp, access="read") from None
        new_sp = sp + 32 + (4 if r[7] & XPSR_ALIGN else 0)
        xpsr = (r[7] & ~XPSR_ALIGN) | XPSR_T
        if exc_return != EXC_RETURN_HANDLER:
            xpsr &= ~0x1FF
        # CONTROL.SPSEL and the SP first; XPSR (back to Thread mode swaps to PSP if SPSEL) last but PC.
        (self._write_exit_psp if use_psp else self._write_exit_msp)(
            (control | SPSEL) if use_psp else (control & ~SPSEL), new_sp, *r[:6], xpsr, r[6] | 1)
        return r[6] & ~1


def enter(uc, exc: int, return_pc: int, vtor: int) -> int:
    """Take exception ``exc`` (one-off; machines keep an ``Exceptions``)."""
    return Exceptions(uc).enter(exc, return_pc, vtor)


def leave(uc, exc_return: int) -> int:
    """Return from an exception (one-off; machines keep an ``Exceptions``)."""
    return Exceptions(uc).leave(exc_return)

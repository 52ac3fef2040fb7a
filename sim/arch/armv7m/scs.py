"""System Control Space page (0xE000E000): SysTick, NVIC and SCB registers.

The three blocks share one 4 KiB page, so one bus device dispatches by offset to
``SysTick`` (systick.py) and ``Nvic`` (nvic.py) and keeps the SCB registers here.
Values follow QEMU 7.2's Cortex-M3 (CPUID 0x410FC231, CCR.STKALIGN set at reset,
an 8-region PMSAv7 MPU whose registers are stored but not enforced).

Things only the machine can do (system reset, knowing IPSR) go through
callbacks the machine installs: ``on_sysreset``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ...peripherals.base import Peripheral, register
from .nvic import FIRST_IRQ, NMI, PENDSV, SYSTICK, SVCALL, MEMMANAGE, BUSFAULT, USAGEFAULT, DEBUGMON, Nvic
from .systick import SysTick

log = logging.getLogger(__name__)

CPUID = 0x410FC231
_SHCSR_ACTIVE = {MEMMANAGE: 0, BUSFAULT: 1, USAGEFAULT: 3, SVCALL: 7, DEBUGMON: 8, PENDSV: 10, SYSTICK: 11}
_SHCSR_PENDED = {USAGEFAULT: 12, MEMMANAGE: 13, BUSFAULT: 14, SVCALL: 15}
_SHCSR_ENA = {MEMMANAGE: 16, BUSFAULT: 17, USAGEFAULT: 18}
_ID = (0x04, 0x00, 0x00, 0x00, 0x00, 0xB0, 0x0B, 0x00, 0x0D, 0xE0, 0x05, 0xB1)


@register
class Scs(Peripheral):
    type_name = "scs"
    clock_regs = frozenset({0x010, 0x018})      # SysTick CSR (COUNTFLAG) and CVR

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.clock: Callable[[], int] = lambda: 0
        self.on_sysreset: Callable[[], None] = lambda: None
        self.nvic = Nvic(board.num_irq)
        self.systick = SysTick(board.clock_hz, board.refclk_hz, lambda: self.clock(),
                               lambda: self.nvic.set_pending(SYSTICK))
        self.reset()

    def reset(self) -> None:
        self.nvic.reset()
        self.systick.reset()
        self.vtor = 0
        self.scr = 0
        self.ccr = 0x200              # STKALIGN
        self.cfsr = self.hfsr = self.dfsr = self.mmfar = self.bfar = 0
        self.shcsr_ena = 0
        self.mpu = {"ctrl": 0, "rnr": 0, "rbar": [0] * 8, "rasr": [0] * 8}

    def tick(self, now_ns: int) -> int | None:
        return self.systick.tick(now_ns)

    # -- bus ---------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        base = offset & ~3
        word = self._read32(base)
        if size == 4:
            return word
        return (word >> ((offset & 3) * 8)) & ((1 << (size * 8)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        base = offset & ~3
        if size != 4:
            # Byte/halfword writes matter for the priority registers; merge.
            if 0x400 <= base < 0x400 + self.nvic.num_irq or 0xD18 <= base <= 0xD20:
                shift = (offset & 3) * 8
                mask = ((1 << (size * 8)) - 1) << shift
                value = (self._read32(base) & ~mask) | ((value << shift) & mask)
            else:
                value <<= (offset & 3) * 8
        self._write32(base, value & 0xFFFFFFFF)

    def _irq_bits(self, base: int, flags: list[bool]) -> int:
        first = FIRST_IRQ + (base & 0x7F) // 4 * 32
        v = 0
        for i in range(32):
            e = first + i
            if e < len(flags) and flags[e]:
                v |= 1 << i
        return v

    def _read32(self, off: int) -> int:
        n = self.nvic
        if off == 0x004:
            return max(0, (n.num_irq + 31) // 32 - 1)
        if 0x010 <= off <= 0x01C:
            return self.systick.read(off)
        if 0x100 <= off < 0x140:
            return self._irq_bits(off, n.enabled)
        if 0x180 <= off < 0x1C0:
            return self._irq_bits(off, n.enabled)
        if 0x200 <= off < 0x240:
            return self._irq_bits(off, n.pending)
        if 0x280 <= off < 0x2C0:
            return self._irq_bits(off, n.pending)
        if 0x300 <= off < 0x340:
            return self._irq_bits(off, [e in n.active for e in range(len(n.pending))])
        if 0x400 <= off < 0x400 + n.num_irq:
            return sum(n.priority[FIRST_IRQ + off - 0x400 + i] << (8 * i)
                       for i in range(4) if FIRST_IRQ + off - 0x400 + i < len(n.priority))
        if off == 0xD00:
            return CPUID
        if off == 0xD04:
            return self._icsr()
        if off == 0xD08:
            return self.vtor
        if off == 0xD0C:
            return 0xFA050000 | (n.prigroup << 8)
        if off == 0xD10:
            return self.scr
        if off == 0xD14:
            return self.ccr
        if 0xD18 <= off <= 0xD20:
            first = 4 + (off - 0xD18)
            return sum((n.priority[first + i] & 0xFF) << (8 * i) for i in range(4))
        if off == 0xD24:
            return self._shcsr()
        if off == 0xD28:
            return self.cfsr
        if off == 0xD2C:
            return self.hfsr
        if off == 0xD30:
            return self.dfsr
        if off == 0xD34:
            return self.mmfar
        if off == 0xD38:
            return self.bfar
        if off == 0xD90:
            return 0x800                  # MPU_TYPE: 8 data regions
        if off == 0xD94:
            return self.mpu["ctrl"]
        if off == 0xD98:
            return self.mpu["rnr"]
        if off == 0xD9C:
            return self.mpu["rbar"][self.mpu["rnr"] & 7] | (self.mpu["rnr"] & 7)
        if off == 0xDA0:
            return self.mpu["rasr"][self.mpu["rnr"] & 7]
        if 0xFD0 <= off <= 0xFFC:
            return _ID[(off - 0xFD0) // 4]
        return 0

    def _write32(self, off: int, v: int) -> None:
        n = self.nvic
        if 0x010 <= off <= 0x01C:
            self.systick.write(off, v)
        elif 0x100 <= off < 0x140 or 0x180 <= off < 0x1C0 or 0x200 <= off < 0x240 or 0x280 <= off < 0x2C0:
            first = FIRST_IRQ + (off & 0x7F) // 4 * 32
            for i in range(32):
                e = first + i
                if v >> i & 1 and e < len(n.pending):
                    if off < 0x140:
                        n.enabled[e] = True
                        if n.pending[e]:
                            n.on_pending()
                    elif off < 0x1C0:
                        n.enabled[e] = False
                    elif off < 0x240:
                        n.set_pending(e)
                    else:
                        n.clear_pending(e)
        elif 0x400 <= off < 0x400 + n.num_irq:
            for i in range(4):
                e = FIRST_IRQ + off - 0x400 + i
                if e < len(n.priority):
                    n.priority[e] = (v >> (8 * i)) & 0xFF
        elif off == 0xD04:
            self._write_icsr(v)
        elif off == 0xD08:
            self.vtor = v & 0xFFFFFF80
        elif off == 0xD0C:
            if v >> 16 != 0x05FA:
                return
            n.prigroup = (v >> 8) & 7
            if v & 4 or v & 1:          # SYSRESETREQ (VECTRESET is treated alike, as QEMU does)
                self.on_sysreset()
        elif off == 0xD10:
            self.scr = v & 0x16
        elif off == 0xD14:
            self.ccr = v & 0x31B | 0x200
        elif 0xD18 <= off <= 0xD20:
            first = 4 + (off - 0xD18)
            for i in range(4):
                e = first + i
                if e in (4, 5, 6, 11, 12, 14, 15):
                    n.priority[e] = (v >> (8 * i)) & 0xFF
        elif off == 0xD24:
            self.shcsr_ena = v & (7 << 16)
            for e, bit in _SHCSR_ENA.items():
                n.enabled[e] = bool(v >> bit & 1)
        elif off == 0xD28:
            self.cfsr &= ~v
        elif off == 0xD2C:
            self.hfsr &= ~v
        elif off == 0xD30:
            self.dfsr &= ~v
        elif off == 0xD94:
            self.mpu["ctrl"] = v & 7
            if v & 1:
                log.warning("scs: firmware enabled the MPU; mpsim stores but does not enforce it")
        elif off == 0xD98:
            self.mpu["rnr"] = v & 0xFF
        elif off == 0xD9C:
            if v & 0x10:
                self.mpu["rnr"] = v & 7
            self.mpu["rbar"][self.mpu["rnr"] & 7] = v & ~0x1F
        elif off == 0xDA0:
            self.mpu["rasr"][self.mpu["rnr"] & 7] = v
        elif off == 0xF00:
            e = FIRST_IRQ + (v & 0x1FF)
            if e < len(n.pending):
                n.set_pending(e)

    def _icsr(self) -> int:
        n = self.nvic
        v = n.current & 0x1FF
        if len(n.active) <= 1:
            v |= 1 << 11                                    # RETTOBASE
        best = n.best_pending()
        if best is not None:
            v |= (best & 0x1FF) << 12
        if any(n.pending[FIRST_IRQ:]):
            v |= 1 << 22                                    # ISRPENDING
        if n.pending[SYSTICK]:
            v |= 1 << 26
        if n.pending[PENDSV]:
            v |= 1 << 28
        if n.pending[NMI]:
            v |= 1 << 31
        return v

    def _write_icsr(self, v: int) -> None:
        n = self.nvic
        if v & (1 << 31):
            n.set_pending(NMI)
        if v & (1 << 28):
            n.set_pending(PENDSV)
        elif v & (1 << 27):
            n.clear_pending(PENDSV)
        if v & (1 << 26):
            n.set_pending(SYSTICK)
        elif v & (1 << 25):
            n.clear_pending(SYSTICK)

    def _shcsr(self) -> int:
        n = self.nvic
        v = self.shcsr_ena
        for e, bit in _SHCSR_ACTIVE.items():
            if e in n.active:
                v |= 1 << bit
        for e, bit in _SHCSR_PENDED.items():
            if n.pending[e]:
                v |= 1 << bit
        return v

    # -- capture -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"nvic": self.nvic.state(), "systick": self.systick.state(), "vtor": self.vtor,
                "scr": self.scr, "ccr": self.ccr, "cfsr": self.cfsr, "hfsr": self.hfsr,
                "shcsr_ena": self.shcsr_ena, "mpu": {k: (list(v) if isinstance(v, list) else v)
                                                     for k, v in self.mpu.items()}}

    def check_state(self, s: dict[str, Any]) -> None:
        self.nvic.check_state(s["nvic"])
        if len(s["mpu"]["rbar"]) != 8 or len(s["mpu"]["rasr"]) != 8:
            raise ValueError("mpu: rbar and rasr must have 8 regions each")

    def load_state(self, s: dict[str, Any]) -> None:
        self.nvic.load_state(s["nvic"])
        self.systick.load_state(s["systick"])
        self.vtor, self.scr, self.ccr = s["vtor"], s["scr"], s["ccr"]
        self.cfsr, self.hfsr, self.shcsr_ena = s["cfsr"], s["hfsr"], s["shcsr_ena"]
        self.mpu = {k: (list(v) if isinstance(v, list) else v) for k, v in s["mpu"].items()}

"""The ARMv7-M core (Cortex-M3) for the arch-neutral machine (sim/machine/machine.py).

What Unicorn's M-class CPU does not do and mpsim does on the host: reset from
the vector table, exception entry/return (exceptions.py) driven by the NVIC
(nvic.py, inside the SCS page scs.py), semihosting through ``BKPT 0xAB``, and
synchronous faults taken by the firmware's own handlers (CFSR/HFSR/BFAR set,
escalation to HardFault); the host hears of a fault only when the firmware
cannot take it (lockup, no handler) or its handler stops in ``b .``.

An interrupt pending while masked is taken right after the guest unmasks
(patched engine: 0009 stops there; stock: code hooks, unmask_sites.py; stock
deterministic: single steps while an interrupt waits masked, since code hooks
next to the per-instruction count hook made it 4x slower).

WFI makes ``emu_start`` return: the machine treats that as a wait point.
"""

from __future__ import annotations

import ctypes
import logging
import struct

from unicorn import UC_ARCH_ARM, UC_HOOK_CODE, UC_MODE_MCLASS, UC_MODE_THUMB, UcError
from unicorn import arm_const as A

from ... import engine
from ...errors import GuestFault, SimError
from ...semihosting import Exit, NeedInput
from ..disasm import one_instruction
from ..masked_steps import MaskedStepping
from . import exceptions, scs as _scs              # noqa: F401  (scs registers the "scs" device type)
from .nvic import BUSFAULT, HARDFAULT, MEMMANAGE, SVCALL, USAGEFAULT
from .unmask_sites import unmask_sites

log = logging.getLogger(__name__)

_INT_SVC, _INT_UDEF, _INT_BKPT, _INT_EXC_EXIT, _INT_PREFETCH_ABORT, _INT_INVSTATE = 2, 1, 7, 8, 3, 18
# UsageFaults Unicorn reports as interrupts: what, CFSR bit
_INT_USAGE = {_INT_UDEF: ("undefined instruction", 1 << 16), 17: ("coprocessor instruction (no coprocessor)", 1 << 19),
              _INT_INVSTATE: ("invalid state (branch to an ARM-state address)", 1 << 17),
              22: ("unaligned access", 1 << 24)}
CORE_REGS = {f"r{i}": getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)}
CORE_REGS.update(sp=A.UC_ARM_REG_SP, lr=A.UC_ARM_REG_LR, pc=A.UC_ARM_REG_PC, xpsr=A.UC_ARM_REG_XPSR,
                 msp=A.UC_ARM_REG_MSP, psp=A.UC_ARM_REG_PSP, control=A.UC_ARM_REG_CONTROL,
                 primask=A.UC_ARM_REG_PRIMASK, basepri=A.UC_ARM_REG_BASEPRI,
                 faultmask=A.UC_ARM_REG_FAULTMASK)
# Synchronous faults as the core reports them (ARMv7-M CFSR): exception, CFSR bits.
_PRECISERR = (BUSFAULT, (1 << 9) | (1 << 15))       # + BFARVALID, BFAR = the address
_IBUSERR = (BUSFAULT, 1 << 8)
_IACCVIOL = (MEMMANAGE, 1 << 0)                      # fetch from an execute-never region
_FAULT_ENABLE = {MEMMANAGE: 1 << 16, BUSFAULT: 1 << 17, USAGEFAULT: 1 << 18}   # SHCSR
_FAULT_NAMES = {HARDFAULT: "HardFault", MEMMANAGE: "MemManage", BUSFAULT: "BusFault", USAGEFAULT: "UsageFault"}
_XPSR_IT = 0x0600FC00                                # EPSR.IT (ICI/IT) bits


class _UnmaskExit:
    """``UC_CTL_ARM_UNMASK_EXIT`` (patch 0009) as a direct ``uc_ctl`` call, written
    only when the wanted value changes (see unmask_sites.py for why)."""

    def __init__(self, uc):
        from unicorn import UC_CTL_IO_WRITE
        from unicorn.unicorn_py3.unicorn import uclib
        self._ctl, self._h = uclib.uc_ctl, uc._uch
        self._code = (UC_CTL_IO_WRITE << 30) | (1 << 26) | engine.UC_CTL_ARM_UNMASK_EXIT
        self.armed = False

    def arm(self, on: bool) -> None:
        if on != self.armed:
            if self._ctl(self._h, self._code, ctypes.c_int(int(on))):
                raise SimError("uc_ctl(UC_CTL_ARM_UNMASK_EXIT) failed")
            self.armed = on


def executable_address(addr: int) -> bool:
    """ARMv7-M default memory map: Code, SRAM and external RAM may hold code;
    peripheral, device and system regions are execute-never."""
    return addr < 0x4000_0000 or 0x6000_0000 <= addr < 0xA000_0000


class ArmV7M:
    """One Cortex-M core bound to one machine."""

    uc_args = (UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    thumb = 1                        # emu_start addresses carry the Thumb bit
    elf_machine = 40                 # ELF e_machine EM_ARM
    word = 4
    variable_page_size = True      # the machine sets 4 KiB pages (only before the first mem_map)
    no_address = 0x3FFFFFFE          # "no until address": unmapped, and executable per the default map
    #                                  (Unicorn translates at the until page on stop; an XN page there faults)
    regs_names = CORE_REGS
    executable_address = staticmethod(executable_address)

    def __init__(self, machine, uc):
        self.m = machine
        self.uc = uc
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M3)       # only works before the first mem_map
        self.exc = exceptions.Exceptions(uc)
        self.regs = self.exc.regs
        self.read_pc = lambda r=self.regs.read, pc=A.UC_ARM_REG_PC: r(pc)
        self._read_xpsr = lambda r=self.regs.read, x=A.UC_ARM_REG_XPSR: r(x)
        self.in_fault: tuple[GuestFault, int] | None = None   # a fault the firmware's handler has taken
        self.entered_pc = 0

    def attach(self) -> None:
        """After the peripherals are mapped: wire the SCS/NVIC and the unmask stops."""
        m, uc = self.m, self.uc
        self.scs = next(p for p in m.peripherals.values() if p.type_name == "scs")
        self.nvic = self.scs.nvic
        self.nvic.on_pending = m._on_irq_pending
        self.scs.on_sysreset = lambda: m._request_stop("reset")
        self.exc.ram = m._code_ram
        # An interrupt pending while masked is taken right after the guest unmasks:
        # the patched engine stops there when armed (0009). On stock, code hooks after
        # each unmasking instruction of the firmware do it -- but not next to the
        # deterministic mode's per-instruction count hook, which then walks every code
        # hook on every instruction (4x slower): there the CPU is stepped instead while
        # an interrupt waits masked (``slice_cycles``).
        self._unmask = _UnmaskExit(uc) if engine.features.unmask_exit else None
        self._masked = MaskedStepping(self._unmask is None and m.deterministic)
        if self._unmask is None and not m.deterministic:
            for addr in unmask_sites(m.firmware.segments):
                uc.hook_add(UC_HOOK_CODE, self._on_unmask_site, begin=addr, end=addr)

    def irq_line(self, line: int, bit: int, level: bool) -> None:
        self.nvic.set_line(line, bit, level)

    # -- reset, registers --------------------------------------------------------------------------
    def reset(self, boot) -> None:
        """Take SP and PC from the vector table of the boot region."""
        self.in_fault = None
        sp, pc = struct.unpack("<II", self.m.read(boot.base, 8))
        uc = self.uc
        uc.reg_write(A.UC_ARM_REG_XPSR, exceptions.XPSR_T)     # Thread mode (IPSR 0)
        uc.reg_write(A.UC_ARM_REG_CONTROL, 0)
        uc.reg_write(A.UC_ARM_REG_PRIMASK, 0)
        uc.reg_write(A.UC_ARM_REG_BASEPRI, 0)
        uc.reg_write(A.UC_ARM_REG_FAULTMASK, 0)
        uc.reg_write(A.UC_ARM_REG_MSP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_PSP, 0)
        uc.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, pc | 1)

    def load_cpu_state(self, s: dict[str, int]) -> None:
        uc = self.uc
        uc.reg_write(A.UC_ARM_REG_XPSR, s["xpsr"])       # mode first: it selects the banked SP
        uc.reg_write(A.UC_ARM_REG_CONTROL, s["control"])
        uc.reg_write(A.UC_ARM_REG_MSP, s["msp"])
        uc.reg_write(A.UC_ARM_REG_PSP, s["psp"])
        for i in range(13):
            uc.reg_write(CORE_REGS[f"r{i}"], s[f"r{i}"])
        for name in ("lr", "primask", "basepri", "faultmask"):
            uc.reg_write(CORE_REGS[name], s[name])
        uc.reg_write(A.UC_ARM_REG_PC, s["pc"] | 1)

    def prepare_call(self, args: tuple[int, ...], ret: int) -> None:
        """AAPCS: arguments in r0-r3, return address in LR, SP below the live stack."""
        if len(args) > 4:
            raise SimError("call(): at most 4 arguments are supported")
        uc = self.uc
        for i, a in enumerate(args):
            uc.reg_write(CORE_REGS[f"r{i}"], a & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_SP, (uc.reg_read(A.UC_ARM_REG_SP) - 256) & ~7)
        uc.reg_write(A.UC_ARM_REG_LR, ret | 1)

    def return_value(self) -> int:
        return self.uc.reg_read(A.UC_ARM_REG_R0)

    # -- interrupts ------------------------------------------------------------------------------------
    def take_interrupt(self, return_pc: int | None = None, dry_run: bool = False) -> bool:
        nvic = self.nvic
        if not nvic.any_pending:
            return False
        exc = nvic.should_take(*self.exc.read_masks())
        if exc is None or dry_run:
            return exc is not None
        nvic.acknowledge(exc)
        pc = self.read_pc() if return_pc is None else return_pc
        self.entered_pc = self.exc.enter(exc, pc, self.scs.vtor)    # the handler (PC is set)
        return True

    def wakes_from_wfi(self) -> bool:
        """WFI wakes for a pending interrupt masked only by PRIMASK, too."""
        if not self.nvic.any_pending:
            return False
        _primask, basepri, faultmask = self.exc.read_masks()
        return self.nvic.should_take(0, basepri, faultmask) is not None

    def irq_pending_while_running(self) -> None:
        """Something became pending mid-slice: stop now if it can preempt (or, on
        stock deterministic, to step to the unmask); else stop at the unmask."""
        if self.take_interrupt(dry_run=True) or self._masked.enabled:
            self.m._request_stop("irq")
        elif self._unmask is not None:
            self._unmask.arm(True)

    def before_slice(self) -> None:
        if self._unmask is not None:
            self._unmask.arm(self.nvic.best_pending() is not None)

    def slice_cycles(self, cycles: int) -> int:
        """Stock deterministic: single steps while an interrupt waits masked (masked_steps.py)."""
        return self._masked.slice_cycles(cycles, lambda: self.nvic.best_pending() is not None)

    def _on_unmask_site(self, uc, address: int, size: int, ud) -> None:
        if self.nvic.any_pending and self.take_interrupt(dry_run=True):
            self.m._request_stop("irq")

    def after_wfi(self, pc: int) -> bool:
        """The instruction before ``pc`` is a WFI (T1 encoding 0xBF30)."""
        a = pc - 2
        for lo, hi, buf in self.m._code_ram:
            if lo <= a and a + 2 <= hi:
                return buf[a - lo] == 0x30 and buf[a - lo + 1] == 0xBF
        try:
            return self.m.read(pc - 2, 2) == b"\x30\xbf"
        except UcError:
            return False

    def tlb_fixup(self) -> None:
        # Stock Unicorn syncs the CPU state to this instruction before calling the
        # TLB-fill hook, IT state included, and the rest of the block never resets it:
        # after an IT block it would leak into the next block looked up (the callee of
        # a BLX then ran "inside" the IT block: a conditional branch there is
        # UNDEFINED; upstream issue #2309). QEMU keeps it 0 mid-block, and so do we.
        x = self._read_xpsr()
        if x & _XPSR_IT:
            self.uc.reg_write(A.UC_ARM_REG_XPSR, x & ~_XPSR_IT)

    # -- Unicorn interrupts: exception return, SVC, BKPT, UsageFaults -------------------------------------
    def handle_interrupt(self, intno: int) -> None:
        m = self.m
        pc = self.read_pc()
        if intno == _INT_EXC_EXIT:
            exc = self.nvic.current
            self.nvic.complete(exc)
            if self.in_fault is not None and exc == self.in_fault[1]:
                self.in_fault = None                  # the firmware handled it and returned
            ret = self.exc.leave(pc | 1)
            self.take_interrupt(ret)                  # tail-chain anything now allowed
        elif intno == _INT_SVC:
            self.nvic.set_pending(SVCALL)
            if not self.take_interrupt(pc):
                self.nvic.clear_pending(SVCALL)
                self._escalate(pc, "SVC executed where SVCall cannot be taken (priority)")
        elif intno == _INT_BKPT:
            if m.read(pc, 2) != b"\xab\xbe":
                raise m._fault("breakpoint (BKPT) with no debugger attached", pc)
            self._semihost(pc)
        elif intno == _INT_PREFETCH_ABORT:       # e.g. a fetch from an execute-never region
            what = "execute from " + ("execute-never" if not executable_address(pc) else "faulting") + " memory"
            self.take_fault(m._fault(what, pc, pc, "execute"),
                            *(_IBUSERR if executable_address(pc) else _IACCVIOL))
        elif intno in _INT_USAGE:
            what, bit = _INT_USAGE[intno]
            self.take_fault(m._fault(what, pc), USAGEFAULT, bit)
        else:
            raise m._fault(f"CPU exception {intno} (unsupported by the emulator)", pc)

    def _escalate(self, pc: int, why: str) -> None:
        if self.nvic.execution_priority(*(self.uc.reg_read(r) for r in (A.UC_ARM_REG_PRIMASK,
                                          A.UC_ARM_REG_BASEPRI, A.UC_ARM_REG_FAULTMASK))) <= -1:
            raise self.m._fault(f"lockup: {why} while in HardFault", pc)
        self.nvic.acknowledge(HARDFAULT)
        self.scs.hfsr |= 1 << 30                      # FORCED
        self.exc.enter(HARDFAULT, pc, self.scs.vtor)

    # -- faults ---------------------------------------------------------------------------------------------
    def classify_fault(self, f: GuestFault, invalid_insn: bool) -> GuestFault:
        """Say how the core takes a fault the emulation stopped on (``f.arch``)."""
        if f.access == "execute":
            f.arch = _IBUSERR if executable_address(f.address) else _IACCVIOL
        elif f.access in ("read", "write"):
            f.arch = _PRECISERR
        elif invalid_insn:
            intno = _INT_UDEF if self._read_xpsr() & exceptions.XPSR_T else _INT_INVSTATE
            what, bit = _INT_USAGE[intno]
            f = self.m._fault(what, f.pc)
            f.arch = (USAGEFAULT, bit)
        return f

    def take_fault(self, f: GuestFault, exc: int, cfsr_bits: int) -> None:
        """Hand a synchronous fault to the firmware, as the core does: record it in
        CFSR (and BFAR), then enter the configurable fault's handler if SHCSR enables
        it and its priority can preempt, else escalate to HardFault (HFSR.FORCED). A
        fault the firmware cannot take (at HardFault priority: lockup; no handler in
        the vector table) is raised to the host as ``f``."""
        scs, nvic = self.scs, self.nvic
        scs.cfsr |= cfsr_bits
        if cfsr_bits & (1 << 15):
            scs.bfar = f.address
        prio = nvic.execution_priority(*self.exc.read_masks())
        if (scs.shcsr_ena & _FAULT_ENABLE[exc] and exc not in nvic.active
                and nvic.group(nvic.priority[exc]) < prio):
            target = exc
        elif prio > -1:
            target = HARDFAULT
            scs.hfsr |= 1 << 30                           # FORCED
        else:
            raise GuestFault(f"{f} (lockup: a fault while the firmware handles a fault)",
                             f.pc, f.address, f.access)
        try:
            vector = struct.unpack("<I", self.m.read(scs.vtor + 4 * target, 4))[0]
        except UcError:
            raise GuestFault(f"{f} (the vector table at {scs.vtor:#010x} is not readable)",
                             f.pc, f.address, f.access) from None
        if not vector & 1:
            raise GuestFault(f"{f} (the firmware has no {_FAULT_NAMES[target]} handler)", f.pc, f.address, f.access)
        log.info("%s; entering the firmware's %s handler", f, _FAULT_NAMES[target])
        nvic.acknowledge(target)
        self.exc.enter(target, f.pc, scs.vtor)
        self.in_fault = (f, target)

    def check_fault_handler(self, pc: int, asleep: bool) -> None:
        """A fault handler that ends in ``b .`` (or sleeps, when nothing can preempt it
        any more) has stopped the firmware for good: report the fault to the host
        then, once the handler has had its say (e.g. printed a crash report)."""
        f, exc = self.in_fault
        if self.nvic.current != exc:
            return
        try:
            spinning = self.m.read(pc, 2) == b"\xfe\xe7"
        except UcError:
            return
        if spinning or (asleep and self.nvic.execution_priority(*self.exc.read_masks()) <= -1):
            raise GuestFault(f"{f}; the firmware's {_FAULT_NAMES[exc]} handler took it and stopped at "
                             f"{self.m._where(pc)}", f.pc, f.address, f.access)

    def _semihost(self, pc: int) -> None:
        uc, m = self.uc, self.m
        op, arg = uc.reg_read(A.UC_ARM_REG_R0), uc.reg_read(A.UC_ARM_REG_R1)
        try:
            result = m.semihosting.call(op, arg)
        except Exit as e:
            m.exit_status = e.status
            uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)
            m._request_stop("exit")
            return
        except NeedInput:
            m._request_stop("wait")                   # re-executes the bkpt when input arrives
            return
        uc.reg_write(A.UC_ARM_REG_R0, result & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)

    def disasm(self, pc: int) -> str:
        return one_instruction(self.m.read, pc, "CS_ARCH_ARM", ("CS_MODE_THUMB", "CS_MODE_MCLASS"))

"""A RISC-V 64 hart in M-mode (rv64imac) for the arch-neutral machine.

What Unicorn 2.1.4's RISC-V does and does not do (measured with stock 2.1.4):

* No CLINT, no PLIC, and no way in: MTIP/MEIP are not writable through ``mip``
  (``reg_write`` takes only the software-delegable bits). Interrupts are taken on
  the host: with ``mstatus.MIE`` set and ``(pending & mie)`` non-zero, between
  slices, the trap is entered as the hart would (mepc, mcause with the interrupt
  bit, mtval 0, MPIE <- MIE, MIE <- 0, MPP <- M, pc <- mtvec base, + 4 * cause when
  vectored); priority MEI > MSI > MTI. ``mret`` runs in the engine.
* With a ``UC_HOOK_INTR`` installed, Unicorn does not take synchronous exceptions
  itself: ecall (intno 8 in every mode) and illegal instructions (2) reach the hook
  with PC already advanced by 4, whatever the instruction's length. The host enters
  the trap with mepc = PC - 4, mcause 11 (ecall from M) or 2 with mtval = the
  instruction bits, as QEMU 7.2 does.
* ``ebreak`` stops ``emu_start`` with UC_ERR_INSN_INVALID at the ebreak. Inside the
  semihosting sequence (``slli x0,x0,0x1f; ebreak; srai x0,x0,7``) that is a
  semihosting call (a0 op, a1 argument block of 64-bit words, result in a0), as
  QEMU ``-semihosting`` does; elsewhere a breakpoint trap (mcause 3, mtval = pc).
* Loads, stores and fetches at unmapped addresses stop ``emu_start``; the machine
  learns the address and the firmware gets the access fault QEMU raises there
  (mcause 5 load, 7 store/AMO, 1 fetch; mtval = the address). Misaligned loads and
  stores just work (as in QEMU's TCG): no trap.
* WFI makes ``emu_start`` return after the WFI: a wait point. The hart wakes when
  ``pending & mie`` is non-zero, whatever mstatus.MIE says.

An interrupt that becomes deliverable when the guest sets MIE (``csrs``/``csrw``
mstatus or mie) or returns with ``mret`` is taken right there: code hooks on the
instruction after each such CSR write (found by scanning the ELF's code) and on
each ``mret``, which is then done by the host followed by the trap entry (so the
interrupt is taken with mepc = the mret's target, as the hart would).

A fault the firmware cannot take (no trap vector, a fault inside the handler that
took a fault) is raised to the host as a GuestFault; so is a handler that takes a
fault and stops in ``j .``.
"""

from __future__ import annotations

import ctypes
import logging
import re
import struct

from unicorn import UC_ARCH_RISCV, UC_HOOK_CODE, UC_MODE_RISCV64, UcError
from unicorn import riscv_const as R

from ... import engine
from ...errors import GuestFault, SimError
from ...semihosting import Exit, NeedInput
from ..disasm import one_instruction
from ..masked_steps import MaskedStepping

log = logging.getLogger(__name__)

_ABI = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 "
        "t3 t4 t5 t6").split()
CORE_REGS = {name: getattr(R, f"UC_RISCV_REG_X{i}") for i, name in enumerate(_ABI) if i}
CORE_REGS["pc"] = R.UC_RISCV_REG_PC
_CSRS = {n: getattr(R, f"UC_RISCV_REG_{n.upper()}") for n in
         ("mstatus", "mie", "mtvec", "mepc", "mcause", "mtval", "mscratch")}
CORE_REGS.update(_CSRS)

MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP = 1 << 3, 1 << 7, 3 << 11
IRQ_MSI, IRQ_MTI, IRQ_MEI = 3, 7, 11
_IRQ_ORDER = (IRQ_MEI, IRQ_MSI, IRQ_MTI)         # the privileged spec's priority order
_INTERRUPT = 1 << 63
CAUSE_FETCH_FAULT, CAUSE_ILLEGAL, CAUSE_BREAKPOINT = 1, 2, 3
CAUSE_LOAD_FAULT, CAUSE_STORE_FAULT, CAUSE_ECALL_M = 5, 7, 11
_CAUSE_NAMES = {CAUSE_FETCH_FAULT: "instruction access fault", CAUSE_ILLEGAL: "illegal instruction",
                CAUSE_BREAKPOINT: "breakpoint", CAUSE_LOAD_FAULT: "load access fault",
                CAUSE_STORE_FAULT: "store/AMO access fault", CAUSE_ECALL_M: "environment call from M-mode"}
_INTNO_ILLEGAL, _INTNO_ECALL = 2, 8
_ACCESS_CAUSE = {"read": CAUSE_LOAD_FAULT, "write": CAUSE_STORE_FAULT, "execute": CAUSE_FETCH_FAULT}
WFI, MRET, EBREAK, C_EBREAK = 0x10500073, 0x30200073, 0x00100073, 0x9002
SEMI_PRE, SEMI_POST = 0x01F01013, 0x40705013      # slli x0,x0,0x1f / srai x0,x0,7
_J_SELF = (0x0000006F, 0xA001)                     # j . (and c.j .)
_U32 = struct.Struct("<I")
_SEMIHOST = "semihost"


class _Regs64:
    """Fast 64-bit register reads/writes (one C call each, no binding overhead)."""

    def __init__(self, uc):
        from unicorn.unicorn_py3.unicorn import uclib
        self._h, self._lib = uc._uch, uclib
        self._one = ctypes.c_uint64()
        self._p = ctypes.byref(self._one)

    def read(self, reg: int) -> int:
        if self._lib.uc_reg_read(self._h, reg, self._p):
            raise UcError(self._lib.uc_errno(self._h))
        return self._one.value

    def write(self, reg: int, value: int) -> None:
        self._one.value = value & 0xFFFFFFFFFFFFFFFF
        if self._lib.uc_reg_write(self._h, reg, self._p):
            raise UcError(self._lib.uc_errno(self._h))


# Candidates: little-endian words with opcode SYSTEM (0x73) and csr 0x300/0x304 in the top
# bits (byte 3 = 0x30, byte 2's high nibble 0 or 4), or mret; checked exactly below.
_CSR_CANDIDATE = re.compile(rb"(?=[\x73\xf3].[\x00-\x0f\x40-\x4f]\x30|\x73\x00\x20\x30)", re.S)   # overlapping


def unmask_sites(segments) -> tuple[list[int], list[int]]:
    """(addresses after each CSR write to mstatus or mie, addresses of each mret)
    in the firmware's executable segments (RVC code: any halfword boundary)."""
    after, mrets = [], []
    for seg in segments:
        if not seg.executable:
            continue
        data = seg.data
        for m in _CSR_CANDIDATE.finditer(data):
            off = m.start()
            if off & 1:
                continue
            w = _U32.unpack_from(data, off)[0]
            if w == MRET:
                mrets.append(seg.addr + off)
            elif (w >> 12) & 7 in (1, 2, 5, 6) and w >> 20 in (0x300, 0x304):   # csrrw/s(i) mstatus/mie
                after.append(seg.addr + off + 4)
    return after, mrets


class RiscV:
    """One RV64 hart bound to one machine."""

    uc_args = (UC_ARCH_RISCV, UC_MODE_RISCV64)
    thumb = 0
    elf_machine = 243                # ELF e_machine EM_RISCV
    word = 8
    variable_page_size = False      # the machine sets 4 KiB pages (only before the first mem_map)
    regs_names = CORE_REGS

    def __init__(self, machine, uc):
        self.m = machine
        self.uc = uc
        # "No until address" for emu_start, and the return address of host calls:
        # never executed, but it must be mapped (Unicorn translates the page there
        # when it stops): the last word of the boot RAM.
        boot = next(r for r in machine.board.memory if r.boot)
        self.no_address = boot.base + boot.size - 4
        uc.ctl_set_cpu_model(R.UC_CPU_RISCV64_SIFIVE_E51)    # rv64imac, M + U; before the first mem_map
        self.regs = _Regs64(uc)
        self.read_pc = lambda r=self.regs.read, pc=R.UC_RISCV_REG_PC: r(pc)
        self.in_fault: tuple[GuestFault, int] | None = None
        self.entered_pc = 0
        self._replay_at_return: tuple | None = None
        self.clint = self.plic = None
        self._masked = MaskedStepping()
        r = self.regs.read
        # Registers a debugger reads that are not saved state (sim/gdb/targets.py):
        # read-only to it. mip as the hart sees it: the CLINT/PLIC lines live on the
        # host; Unicorn's own mip holds only the software-writable bits.
        self.debug_regs = {"zero": lambda: 0, "misa": lambda: r(R.UC_RISCV_REG_MISA),
                           "mip": lambda: r(R.UC_RISCV_REG_MIP) | self._pending()}

    @staticmethod
    def executable_address(addr: int) -> bool:
        return True                  # no execute-never regions: unmapped fetches fault by themselves

    def attach(self) -> None:
        m = self.m
        for p in m.peripherals.values():
            if p.type_name == "riscv_clint":
                self.clint = p
            elif p.type_name == "riscv_plic":
                self.plic = p
            else:
                continue
            p.on_change = m._on_irq_pending
        # Stock deterministic mode counts instructions with emu_start(count=N), a
        # per-instruction code hook, and then every other code hook is looked at on
        # every instruction (the 18 unmask sites made it 20x slower): there the CPU is
        # stepped instead while an interrupt waits masked (``slice_cycles``); the few
        # mret hooks stay.
        self._masked = MaskedStepping(m.deterministic and not engine.features.has_icount)
        after, mrets = unmask_sites(m.firmware.segments)
        for a in after if not self._masked.enabled else ():
            self.uc.hook_add(UC_HOOK_CODE, self._on_unmask_site, begin=a, end=a)
        for a in mrets:
            self.uc.hook_add(UC_HOOK_CODE, self._on_mret, begin=a, end=a)

    def irq_line(self, line: int, bit: int, level: bool) -> None:
        if self.plic is not None:
            self.plic.set_source(line, level)

    # -- reset, registers -----------------------------------------------------------------------
    def reset(self, boot) -> None:
        """As QEMU virt with ``-bios none``: its reset vector jumps to the ELF entry with
        a0 = hart id (0), a1 = the device tree address (mpsim has none: 0)."""
        self.in_fault = None
        self._replay_at_return = None
        w = self.regs.write
        for name, reg in CORE_REGS.items():
            w(reg, 0)
        w(R.UC_RISCV_REG_PRIV, 3)
        w(R.UC_RISCV_REG_PC, self.m.firmware.entry)

    def load_cpu_state(self, s: dict[str, int]) -> None:
        w = self.regs.write
        w(R.UC_RISCV_REG_PRIV, 3)
        for name, reg in CORE_REGS.items():
            w(reg, s[name])

    def prepare_call(self, args: tuple[int, ...], ret: int) -> None:
        """RISC-V calling convention: arguments in a0-a7, return address in ra."""
        if len(args) > 8:
            raise SimError("call(): at most 8 arguments are supported")
        r, w = self.regs.read, self.regs.write
        for i, a in enumerate(args):
            w(CORE_REGS[f"a{i}"], a)
        w(CORE_REGS["sp"], (r(CORE_REGS["sp"]) - 256) & ~15)
        w(CORE_REGS["ra"], ret)

    def return_value(self) -> int:
        return self.regs.read(CORE_REGS["a0"])

    # -- interrupts --------------------------------------------------------------------------------------
    def _pending(self) -> int:
        c, p = self.clint, self.plic
        bits = 0
        if c is not None:
            bits = (c.mtip << IRQ_MTI) | (c.msip << IRQ_MSI)
        if p is not None and p.meip:
            bits |= 1 << IRQ_MEI
        return bits

    def _deliverable(self) -> int:
        pending = self._pending()
        if not pending:
            return 0
        r = self.regs.read
        if not r(R.UC_RISCV_REG_MSTATUS) & MSTATUS_MIE:
            return 0
        return pending & r(R.UC_RISCV_REG_MIE)

    def take_interrupt(self, return_pc: int | None = None, dry_run: bool = False) -> bool:
        ready = self._deliverable()
        if not ready and return_pc is not None and self._pending() and self._at_mret(return_pc):
            ready = self._after_mret_ready()
            if ready and not dry_run:                  # stopped at an mret: do it, then take the interrupt
                return_pc = self._do_mret()
        if not ready or dry_run:
            return bool(ready)
        n = next(i for i in _IRQ_ORDER if ready >> i & 1)
        epc = self.read_pc() if return_pc is None else return_pc
        r = self.m._replay
        if r is not None and r[4] == epc:
            # Stock engine: the slice stopped inside an MMIO access whose instruction
            # re-executes at epc. The machine answers a repeat from its record, but
            # the handler's own accesses come first: keep the record for the mret
            # that returns there.
            self._replay_at_return, self.m._replay = r, None
        self.entered_pc = self._enter(_INTERRUPT | n, epc, 0)
        return True

    def _enter(self, cause: int, epc: int, tval: int) -> int:
        r, w = self.regs.read, self.regs.write
        mtvec = r(R.UC_RISCV_REG_MTVEC)
        base = mtvec & ~3
        target = base + 4 * (cause & 0xFF) if cause & _INTERRUPT and mtvec & 3 == 1 else base
        ms = r(R.UC_RISCV_REG_MSTATUS)
        ms = (ms & ~(MSTATUS_MPIE | MSTATUS_MIE)) | (MSTATUS_MPIE if ms & MSTATUS_MIE else 0) | MSTATUS_MPP
        w(R.UC_RISCV_REG_MSTATUS, ms)
        w(R.UC_RISCV_REG_MEPC, epc)
        w(R.UC_RISCV_REG_MCAUSE, cause)
        w(R.UC_RISCV_REG_MTVAL, tval)
        w(R.UC_RISCV_REG_PC, target)
        return target

    def _at_mret(self, pc: int) -> bool:
        try:
            return self.m.read(pc, 4) == _U32.pack(MRET)
        except UcError:
            return False

    def _after_mret_ready(self) -> int:
        r = self.regs.read
        if not r(R.UC_RISCV_REG_MSTATUS) & MSTATUS_MPIE:
            return 0
        return self._pending() & r(R.UC_RISCV_REG_MIE)

    def _do_mret(self) -> int:
        r, w = self.regs.read, self.regs.write
        ms = r(R.UC_RISCV_REG_MSTATUS)
        ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP)) | (MSTATUS_MIE if ms & MSTATUS_MPIE else 0) | MSTATUS_MPIE
        w(R.UC_RISCV_REG_MSTATUS, ms)
        self.in_fault = None
        return r(R.UC_RISCV_REG_MEPC)

    def wakes_from_wfi(self) -> bool:
        pending = self._pending()
        return bool(pending and pending & self.regs.read(R.UC_RISCV_REG_MIE))

    def irq_pending_while_running(self) -> None:
        if self.take_interrupt(dry_run=True):
            self.m._request_stop("irq")

    def before_slice(self) -> None:
        pass

    def slice_cycles(self, cycles: int) -> int:
        """Stock deterministic: single steps while an enabled interrupt waits for
        mstatus.MIE (masked_steps.py)."""
        def waiting() -> bool:
            pending = self._pending()
            return bool(pending and pending & self.regs.read(R.UC_RISCV_REG_MIE))
        return self._masked.slice_cycles(cycles, waiting)

    def _on_unmask_site(self, uc, address: int, size: int, ud) -> None:
        if self._deliverable():
            self.m._request_stop("irq")

    def _on_mret(self, uc, address: int, size: int, ud) -> None:
        r = self._replay_at_return
        if r is not None:
            self._replay_at_return = None
            if r[4] == self.regs.read(R.UC_RISCV_REG_MEPC):
                self.m._replay = r                     # the interrupted access repeats next
        if self._pending() and self._after_mret_ready():
            self.m._request_stop("irq")                # the run loop does the mret, then the trap
        else:
            self.in_fault = None                       # a handler returns

    def after_wfi(self, pc: int) -> bool:
        try:
            return self.m.read(pc - 4, 4) == _U32.pack(WFI)
        except UcError:
            return False

    # -- traps from the engine -------------------------------------------------------------------------------
    def handle_interrupt(self, intno: int) -> None:
        pc = self.read_pc() - 4                         # Unicorn reports the PC after the instruction
        if intno == _INTNO_ECALL:
            self._trap(self.m._fault(_CAUSE_NAMES[CAUSE_ECALL_M], pc), CAUSE_ECALL_M, 0, quiet=True)
        elif intno == _INTNO_ILLEGAL:
            insn = self._insn(pc)
            self._trap(self.m._fault(_CAUSE_NAMES[CAUSE_ILLEGAL], pc), CAUSE_ILLEGAL, insn)
        else:
            raise self.m._fault(f"CPU exception {intno} (unsupported by the emulator)", pc)

    def _insn(self, pc: int) -> int:
        try:
            lo = int.from_bytes(self.m.read(pc, 2), "little")
            if lo & 3 != 3:
                return lo
            return _U32.unpack(self.m.read(pc, 4))[0]
        except UcError:
            return 0

    def classify_fault(self, f: GuestFault, invalid_insn: bool) -> GuestFault:
        if f.access in _ACCESS_CAUSE:
            f.arch = (_ACCESS_CAUSE[f.access], f.address)
        elif invalid_insn:
            insn = self._insn(f.pc)
            if insn in (EBREAK, C_EBREAK):
                if insn == EBREAK and self._is_semihosting(f.pc):
                    f = self.m._fault("semihosting call", f.pc)
                    f.arch = (_SEMIHOST, 0)
                else:
                    f = self.m._fault(_CAUSE_NAMES[CAUSE_BREAKPOINT], f.pc)
                    f.arch = (CAUSE_BREAKPOINT, 0)            # QEMU 7.2: mtval 0 for ebreak
            else:
                f = self.m._fault(_CAUSE_NAMES[CAUSE_ILLEGAL], f.pc)
                f.arch = (CAUSE_ILLEGAL, insn)
        return f

    def _is_semihosting(self, pc: int) -> bool:
        try:
            return self.m.read(pc - 4, 12) == struct.pack("<3I", SEMI_PRE, EBREAK, SEMI_POST)
        except UcError:
            return False

    def take_fault(self, f: GuestFault, cause, tval: int) -> None:
        if cause == _SEMIHOST:
            self._semihost(f.pc)
            return
        self._trap(f, cause, tval)

    def _trap(self, f: GuestFault, cause: int, tval: int, quiet: bool = False) -> None:
        """Enter the firmware's trap handler for a synchronous exception, or raise
        ``f`` to the host when the firmware cannot take it."""
        if self.in_fault is not None and not quiet:
            raise GuestFault(f"{f} (while the firmware handles a fault: {self.in_fault[0]})",
                             f.pc, f.address, f.access)
        base = self.regs.read(R.UC_RISCV_REG_MTVEC) & ~3
        try:
            self.m.read(base, 2)
        except UcError:
            raise GuestFault(f"{f} (the firmware has no trap handler: mtvec {base:#x})",
                             f.pc, f.address, f.access) from None
        if not quiet:
            log.info("%s; entering the firmware's trap handler", f)
            self.in_fault = (f, cause)
        self._enter(cause, f.pc, tval)

    def check_fault_handler(self, pc: int, asleep: bool) -> None:
        f, _cause = self.in_fault
        try:
            insn = self._insn(pc)
        except UcError:
            return
        if insn in _J_SELF or (asleep and not self.wakes_from_wfi() and not self._pending()
                               and not self.regs.read(R.UC_RISCV_REG_MIE)):
            raise GuestFault(f"{f}; the firmware's trap handler took it and stopped at {self.m._where(pc)}",
                             f.pc, f.address, f.access)

    def _semihost(self, pc: int) -> None:
        m, r, w = self.m, self.regs.read, self.regs.write
        op, arg = r(CORE_REGS["a0"]), r(CORE_REGS["a1"])
        try:
            result = m.semihosting.call(op, arg)
        except Exit as e:
            m.exit_status = e.status
            w(R.UC_RISCV_REG_PC, pc + 8)
            m._request_stop("exit")
            return
        except NeedInput:
            w(R.UC_RISCV_REG_PC, pc - 4)               # the whole sequence again when input arrives
            m._request_stop("wait")
            return
        except UcError:
            raise m._fault(f"semihosting call {op:#x} passed a bad pointer ({arg:#x})", pc) from None
        if result == 0xFFFFFFFF:
            result = -1                                 # semihosting's -1, at the register's width
        w(CORE_REGS["a0"], result)
        w(R.UC_RISCV_REG_PC, pc + 8)

    def disasm(self, pc: int) -> str:
        return one_instruction(self.m.read, pc, "CS_ARCH_RISCV", ("CS_MODE_RISCV64", "CS_MODE_RISCVC"))

"""The board: Unicorn + memory map + peripherals + clock, for any CPU.

This is the only module that holds the Unicorn object. What is particular to an
architecture (CPU set-up, reset, exceptions/traps, faults, semihosting, wait
instructions) is its core in ``sim/arch/<arch>/core.py``, picked by the board's
``cpu``. Design choices, each from
a measurement (see ../shared/DESIGN.md):

* libunicorn: the patched build (tools/build-unicorn, chosen by sim.engine) when
  available, else the stock wheel. Stock: 4 KiB pages, virtual TLB and a
  TLB-fill hook that grants execute permission only to pages the CPU actually
  fetches from. Stores to executable pages take TCG's slow path there, so
  keeping data pages non-executable is a ~5x speed-up on a CPU-bound loop. A
  page is made executable on its first instruction fetch if the ARMv7-M default
  memory map allows execution there (so code the firmware generates into RAM
  still runs); fetches from XN regions (peripherals, system) fault. Patched:
  such stores are fast by themselves, so no TLB mode and no Python hook on
  TLB misses (a fetch from a peripheral region faults as an unmapped fetch).
* No memory or per-instruction hooks. Peripherals are ``mmio_map`` callbacks;
  RAM is host memory (mmap) mapped with ``mem_map_ptr``, aliases share it.
* The CPU runs in slices up to the next peripheral deadline; pending interrupts
  are injected between slices and on every exception return (tail-chaining).
  Default mode: slices end on host time (``SliceTimer``), virtual time follows
  the host while running. Deterministic mode: time = instructions / clock_hz;
  slices are bounded by the patched engine's instruction limit and charged the
  exact count (``UC_CTL_INSN_*``), or on stock by ``emu_start(count=N)`` (a
  per-instruction hook, ~2.5x slower) and charged the whole slice.
* Exception entry/return and traps are host code in the core (sim/arch/*), as is
  taking an interrupt right after the guest unmasks it. A
  firmware with a 1 kHz tick costs one ``emu_start`` per tick while it sleeps
  (handler, return, the code up to the next WFI); our firmware is tickless, so a
  ``time.sleep(10)`` is a handful of slices.
* Synchronous faults (bus errors, undefined instructions, bad fetches) go to the
  firmware's handlers as the core would take them (the core says how); the host
  hears of one only when the firmware cannot take it.
* WFI makes ``emu_start`` return: that is a wait point. So is firmware that
  busy-polls UART STATE (detected by the UART). At a wait point the clock jumps
  to the next deadline, or ``run`` reports the board idle.
* A firmware that sleeps by polling clock registers (no WFI) has its clock moved
  forward on each poll once the loop is recognised (busywait.py; host-paced only).
"""

from __future__ import annotations

import ctypes
import functools
import dataclasses
import importlib
import logging
import mmap
import struct
import weakref
import threading
import time
from typing import Any, Callable

from .. import engine                     # chooses libunicorn (patched or stock): before unicorn
from unicorn import (UC_ERR_ARCH, UC_ERR_INSN_INVALID, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNMAPPED, UC_ERR_READ_PROT,
                     UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_PROT, UC_ERR_WRITE_UNMAPPED, UC_HOOK_CODE, UC_HOOK_INTR,
                     UC_HOOK_MEM_INVALID, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_HOOK_TLB_FILL, UC_MEM_FETCH, UC_MEM_FETCH_PROT, UC_MEM_FETCH_UNMAPPED,
                     UC_MEM_READ_PROT, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_PROT, UC_MEM_WRITE_UNMAPPED,
                     UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, UC_TLB_VIRTUAL, Uc, UcError)

from .. import interrupt
from ..arch import core_class
from ..board import BoardSpec
from .busywait import BusyWait
from .clock import SliceTimer, VirtualClock
from ..errors import FirmwareError, GuestFault, SimError
from ..firmware import Firmware
from ..peripherals.base import PERIPHERAL_TYPES, Peripheral
from ..semihosting import BadAddress, Semihosting

log = logging.getLogger(__name__)

PAGE = 0x1000
_MAX_SLICE_S = 0.02                # host-paced: bound a slice so host requests are seen
_MIN_SLICE_S = 0.0001             # host-paced: guaranteed progress per slice
_DET_MAX_CYCLES = 25_000           # deterministic: slice cap (1 ms at 25 MHz)
_DET_MIN_CYCLES = 1_000            # deterministic: first slice after an early stop
_SLEEP_CHUNK_NS = 250_000_000      # a sleeping MicroPython guest: run() fast-forwards this much per call
_SLEEPING = "sleeping (WFI with a timer running, not waiting for input)"
_DET_ICOUNT_SLICE = 250_000        # deterministic with the instruction counter: slice cap (10 ms)
_MEM_ERRORS = {UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED, UC_ERR_READ_PROT,
               UC_ERR_WRITE_PROT, UC_ERR_FETCH_PROT}
_ACCESS = {UC_MEM_READ_UNMAPPED: "read of unmapped", UC_MEM_WRITE_UNMAPPED: "write to unmapped",
           UC_MEM_FETCH_UNMAPPED: "execute from unmapped", UC_MEM_READ_PROT: "read of protected",
           UC_MEM_WRITE_PROT: "write to read-only", UC_MEM_FETCH_PROT: "execute from non-executable"}


@dataclasses.dataclass(frozen=True)
class StopReason:
    """Why ``run`` returned. kind: idle | address | deadline | exit | timeout | stopped | output,
    or, for a debugger: breakpoint | watchpoint (detail: write/read/access) | step;
    ``address``: the breakpoint's or the watched address."""
    kind: str
    pc: int
    now_ns: int
    exit_status: int | None = None
    detail: str = ""
    address: int | None = None


WATCH_HOOKS = {"write": UC_HOOK_MEM_WRITE, "read": UC_HOOK_MEM_READ, "access": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}


class _InsnCounter:
    """``engine.read_icount`` / ``set_icount_limit`` as direct ``uc_ctl`` calls on a
    preallocated buffer (the binding's ``ctl`` costs several us per call; a
    deterministic slice makes three)."""

    def __init__(self, uc):
        from unicorn import UC_CTL_IO_READ, UC_CTL_IO_WRITE
        from unicorn.unicorn_py3.unicorn import uclib
        self._ctl, self._h = uclib.uc_ctl, uc._uch
        self._read_code = (UC_CTL_IO_READ << 30) | (1 << 26) | engine.UC_CTL_INSN_COUNT
        self._limit_code = (UC_CTL_IO_WRITE << 30) | (1 << 26) | engine.UC_CTL_INSN_LIMIT
        self._buf = ctypes.c_uint64()
        self._ref = ctypes.byref(self._buf)

    def read(self) -> int:
        if self._ctl(self._h, self._read_code, self._ref):
            raise SimError("uc_ctl(UC_CTL_INSN_COUNT) failed")
        return self._buf.value

    def set_limit(self, limit: int) -> None:
        if self._ctl(self._h, self._limit_code, ctypes.c_uint64(limit)):
            raise SimError("uc_ctl(UC_CTL_INSN_LIMIT) failed")


class Machine:
    def __init__(self, board: BoardSpec, firmware: Firmware, *, deterministic: bool = False):
        self.board = board
        self.firmware = firmware
        self.deterministic = deterministic
        self.clock = VirtualClock(board.clock_hz, deterministic)
        self.exit_status: int | None = None
        self.resets = 0                 # reset() calls, the firmware's own included
        self.loads: list = []           # files written after the ELF on each reset (sim.machine.loads)
        # Busy-wait sleeps are fast-forwarded in host-paced time (busywait.py).
        self._busy_wait = None if deterministic else BusyWait()
        self.pace = None                # lock_to_wall_clock()
        self.idle_ns = 20_000_000
        self._exec_pages: set[int] = set()
        self._ram: dict[str, tuple[mmap.mmap, int, int]] = {}   # name -> (buffer, base, size)
        self._keep: list[Any] = []
        self._stub_seen: set[int] = set()
        self._fault_info: tuple[int, str] | None = None
        self._stop_kind: str | None = None
        self._running = False
        self._last_activity = 0
        self._slice_timer: SliceTimer | None = None
        self._host_stop = False
        self.last_stop: StopReason | None = None
        self._slice_stop_at: int | None = None
        self._access_lock = threading.RLock()
        self._stop_pending = False
        self._replay: tuple | None = None
        self._last_access: tuple | None = None
        self._det_slice = _DET_MIN_CYCLES
        feats = engine.features
        # Patched libunicorn (tools/unicorn-patches): stores to executable pages are
        # fast by themselves (0001), so no virtual TLB and no Python TLB-fill hook
        # (f(200000): 0.16 s without, 0.27 s with it); an emu_stop from a device
        # callback never repeats the access (0002), so no replay; instruction
        # counting without hooks (0005) for deterministic time.
        self._tlb_hook = not feats.fast_exec_stores
        self._replay_on = not feats.inline_exit_check
        self._icount = deterministic and feats.has_icount
        self._icount_now = self._icount_limit = 0
        # Where a WFI means "waiting for console input": MicroPython's HAL function
        # (every port has it). (0, 0) when the firmware has no such symbol.
        sym = firmware.symbols.get("mp_hal_stdin_rx_chr")
        self._input_wait = (sym.addr, sym.addr + sym.size) if sym is not None and sym.size else (0, 0)
        self._async_hit = False
        self.debug_hooks: dict[tuple, int] = {}    # breakpoints/watchpoints -> Unicorn hook handle
        self._debug_hit: tuple[str, str, int | None] | None = None
        self._bp_skip: int | None = None           # step(): the breakpoint it starts on is not a hit
        self._counting = False                     # Unicorn's count hook is in the translated code
        self._in_call = False                      # call(): host calls are not what a debugger watches
        # Unicorn keeps a deleted memory hook in its list until emu_start returns, and
        # code translated meanwhile keeps the slow path for every load and store
        # (measured: a removed watchpoint left f(200000) 3x slower): all code is
        # dropped again after the next emu_start.
        self._stale_code = False
        # For callers that only call run() (mpsim run): called with None before each
        # run and with each breakpoint/watchpoint stop; it may block while a debugger
        # holds the board (sim.gdb.server.GdbServer.gate). Loops that own the board
        # (serve, repl) leave it None and use the stop reasons themselves.
        self.debug_gate: Callable[[StopReason | None], None] | None = None

        Core = core_class(board.cpu)
        if firmware.elf_machine != Core.elf_machine:
            raise FirmwareError(f"{firmware.path.name} is not built for board {board.name}'s {board.cpu} "
                                f"(ELF machine {firmware.elf_machine})")
        try:
            uc = self.uc = Uc(*Core.uc_args)
        except UcError as e:
            if e.errno != UC_ERR_ARCH:
                raise
            raise SimError(f"the {engine.kind} libunicorn ({engine.library}) cannot emulate a {board.cpu}: "
                           f"rebuild it (tools/build-unicorn --force) or run with MPSIM_ENGINE=stock") from None
        self.core = core = Core(self, uc)                  # before the first mem_map (CPU model)
        self._thumb = core.thumb
        self._debug_regs = getattr(core, "debug_regs", {})
        self._no_address = core.no_address
        if core.variable_page_size:                   # ARM's (1 KiB by default); RISC-V's is 4 KiB, fixed
            uc.ctl_set_page_size(PAGE)
        if self._icount:
            engine.icount_enable(uc)                      # before the first mem_map: no TB flush
            self._counter = _InsnCounter(uc)
        if self._tlb_hook:
            uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        self._read_pc = core.read_pc
        self._tlb_fixup = getattr(core, "tlb_fixup", None)
        if self._tlb_hook:
            uc.hook_add(UC_HOOK_TLB_FILL, self._on_tlb_fill)
        uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        # No UC_HOOK_MEM_INVALID while running: measured 3.5x slower MicroPython
        # (f(200000): 2.2 s with it, 0.64 s without). It is added only to replay a
        # faulting instruction once and learn the address (see _fault_from).
        self._map_memory()
        self.peripherals: dict[str, Peripheral] = {}
        self._irq_bits: dict[tuple[str, str], int] = {}
        self._map_peripherals()
        self._map_stubs()
        self._tickers = [p for p in self.peripherals.values() if type(p).tick is not Peripheral.tick]
        self._uarts = [p for p in self.peripherals.values() if hasattr(p, "on_feed")]
        self._code_ram = [(base, base + size, buf) for buf, base, size in self._ram.values()]
        self._code_ram += [(r.base, r.base + r.size, self._ram[r.alias][0]) for r in board.memory if r.alias]
        core.attach()
        try:
            self.console = self.peripherals[board.console.name]
        except SimError:
            self.console = None
        for p in self.peripherals.values():
            if p in self._uarts:
                p.on_feed = self._on_input
                p.on_activity = self._on_activity
                p.on_poll_idle = lambda: self._request_stop("wait")
            if hasattr(p, "on_exit"):                 # a finisher device (sifive_test)
                p.on_exit = self._on_guest_exit
                p.on_reset = lambda: self._request_stop("reset")
        self._guest_spans = _guest_spans(board, {n for n, p in self.peripherals.items() if hasattr(p, "backing")})
        self.semihosting = Semihosting(self._semihost_read, self._semihost_write, self._semihost_out,
                                       self._semihost_in, self.clock.now, word=core.word,
                                       can_write=self._semihost_can_write)
        self.reset()

    # -- construction --------------------------------------------------------------
    def _map_memory(self) -> None:
        plain = {r.name: r for r in self.board.memory if r.alias is None}
        for r in plain.values():
            buf = mmap.mmap(-1, r.size)              # lazily-allocated zero pages
            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            self._ram[r.name] = (buf, r.base, r.size)
            self.uc.mem_map_ptr(r.base, r.size, _prot(r), addr)
        for r in self.board.memory:
            if r.alias is not None:
                buf, _base, _size = self._ram[r.alias]
                addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
                self.uc.mem_map_ptr(r.base, r.size, _prot(plain[r.alias]), addr)

    def _map_peripherals(self) -> None:
        for spec in self.board.peripherals:
            cls = PERIPHERAL_TYPES.get(spec.type)
            if cls is None:
                try:
                    importlib.import_module(f"..peripherals.{spec.type}", __package__)
                except ImportError:
                    pass
                cls = PERIPHERAL_TYPES.get(spec.type)
            if cls is None:
                log.warning("board %s: no model for peripheral type %r (%s); mapped as a stub",
                            self.board.name, spec.type, spec.name)
                self._map_stub(spec.name, spec.base, spec.size)
                continue
            p = cls(spec, self.board, self._irq_sink(spec))
            if hasattr(p, "clock"):
                p.clock = self.clock.now
            self.peripherals[spec.name] = p
            backing = getattr(p, "backing", None)
            if backing is not None:
                # Memory-like device (NOR flash): the guest reads it at memory speed;
                # writes fault (it is programmed through the host-side model).
                cbuf = (ctypes.c_char * len(backing)).from_buffer(backing)
                self._keep.append(cbuf)
                self.uc.mem_map_ptr(spec.base, spec.size, UC_PROT_READ | UC_PROT_EXEC, ctypes.addressof(cbuf))
            else:
                self.uc.mmio_map(spec.base, spec.size, self._mmio_read, p, self._mmio_write, p)

    def _map_stubs(self) -> None:
        for s in self.board.stubs:
            self._map_stub(s.name, s.base, s.size)

    def _map_stub(self, name: str, base: int, size: int) -> None:
        def rd(uc, off, size_, ud):
            self._stub_log(name, base + off, "read")
            return 0

        def wr(uc, off, size_, value, ud):
            self._stub_log(name, base + off, f"write {value:#x}")
        self.uc.mmio_map(base, size, rd, None, wr, None)

    def _stub_log(self, name: str, addr: int, what: str) -> None:
        if addr not in self._stub_seen:
            self._stub_seen.add(addr)
            log.info("unmodelled %s: %s at %#010x (reads 0, writes ignored)", name, what, addr)

    def _irq_sink(self, spec) -> Callable[[str, bool], None]:
        def sink(name: str, level: bool) -> None:
            line = spec.irq.get(name)
            if line is None or not hasattr(self, "_tickers"):      # not attached yet
                return
            bit = self._irq_bits.setdefault((spec.name, name), 1 << len(self._irq_bits))
            self.core.irq_line(line, bit, level)
        return sink

    # Measured Unicorn behaviour that shapes these wrappers: when emulation stops
    # (emu_stop from a callback or from another thread; no code hook installed)
    # it may resume at an MMIO instruction that already executed, so that access
    # happens *twice* (seen: a UART byte printed twice, PENDSVSET pending PendSV
    # again). So after each host-paced slice the last device access is remembered
    # with the PC emulation resumes at; if the first access at that PC repeats it
    # exactly (device, offset, direction, value), it is answered from the record
    # without touching the device (both clock modes: seen in each).
    def _mmio_read(self, uc, offset: int, size: int, p: Peripheral) -> int:
        r = self._replay
        if r is not None:
            self._replay = None
            if r[0] is p and r[1] == offset and not r[2] and self._read_pc() == r[4]:
                return r[3]
        bw = self._busy_wait
        if bw is not None:
            if offset in p.clock_regs:
                skip = bw.clock_read((p, offset, self._read_pc()), self.clock.now())
                if skip:
                    self._fast_forward(skip)
            else:
                bw.interrupted()
        with self._access_lock:
            v = p.read(offset, size)
        self._last_access = (p, offset, False, v)
        return v

    def _fast_forward(self, ns: int) -> None:
        """A busy-wait sleep (busywait.py): time jumps; past the slice's deadline the
        slice ends, so that timer interrupts due meanwhile are taken."""
        self.clock.skip(ns)
        if self._slice_stop_at is not None and self.clock.now() >= self._slice_stop_at:
            self._request_stop("replan")

    def _mmio_write(self, uc, offset: int, size: int, value: int, p: Peripheral) -> None:
        r = self._replay
        if r is not None:
            self._replay = None
            if r[0] is p and r[1] == offset and r[2] and r[3] == value and self._read_pc() == r[4]:
                return
        if self._busy_wait is not None:
            self._busy_wait.interrupted()
        with self._access_lock:
            p.write(offset, size, value)
            if p in self._tickers:
                self._after_device_write(p)
        self._last_access = (p, offset, True, value)

    def _async_stop(self) -> None:
        """emu_stop from another thread (slice timer, host input), ordered with accesses."""
        with self._access_lock:
            if self._running:
                self._stop_pending = True
                self._async_hit = True
                self.uc.emu_stop()

    # -- public: life cycle -----------------------------------------------------------
    def reset(self) -> None:
        """Power-on / system reset: (re)load the ELF and then the ``loads`` as QEMU does, reset devices,
        take SP and PC from the vector table of the boot region."""
        self.resets += 1
        self.exit_status = None
        self._replay = None
        for seg in self.firmware.segments:
            try:
                self.uc.mem_write(seg.addr, seg.data)
            except UcError:
                raise SimError(f"{self.firmware.path.name}: segment at {seg.addr:#010x}+{len(seg.data):#x} "
                               f"is outside the RAM of board {self.board.name}") from None
        for load in self.loads:
            self.uc.mem_write(load.addr, load.data)
        for p in self.peripherals.values():
            p.reset()
        self.core.reset(next(r for r in self.board.memory if r.boot))
        self._last_activity = self.clock.now()

    def power_off(self, pattern: bytes = b"\xde\xad\xbe\xef") -> None:
        """Lose power: every RAM byte becomes garbage (never zeros); ROM keeps its contents."""
        for name, (buf, _base, size) in self._ram.items():
            if not self.board.region(name).rom:
                buf[:] = _garbage(pattern, size)      # one memcpy per region
        for p in self.peripherals.values():
            p.reset()

    def close(self) -> None:
        if self._slice_timer is not None:
            self._slice_timer.close()
            self._slice_timer = None

    # -- public: memory and registers -----------------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read_u32(self, addr: int) -> int:
        return struct.unpack("<I", self.uc.mem_read(addr, 4))[0]

    def write_u32(self, addr: int, value: int) -> None:
        self.uc.mem_write(addr, struct.pack("<I", value & 0xFFFFFFFF))

    def reg(self, name: str) -> int:
        """A core register, or one the core shows a debugger only (``debug_regs``)."""
        read = self._debug_regs.get(name)
        return read() if read is not None else self.uc.reg_read(self.core.regs_names[name])

    def set_reg(self, name: str, value: int) -> None:
        """A write to a register the core shows a debugger only (x0, misa) is ignored,
        as the hart ignores it."""
        if name not in self._debug_regs:
            self.uc.reg_write(self.core.regs_names[name], value & ((1 << 8 * self.core.word) - 1))

    def symbol(self, name: str) -> int:
        return self.firmware.symbol(name).addr

    @property
    def now_ns(self) -> int:
        return self.clock.now()

    @property
    def pc(self) -> int:
        return self._read_pc()

    def cpu_state(self) -> dict[str, int]:
        """All core registers as plain data (for snapshots)."""
        return {name: self.uc.reg_read(r) for name, r in self.core.regs_names.items()}

    def load_cpu_state(self, s: dict[str, int]) -> None:
        self.core.load_cpu_state(s)

    def state(self) -> dict[str, Any]:
        """CPU + peripherals + clock as plain data (RAM is captured separately)."""
        return {"cpu": self.cpu_state(), "now_ns": self.clock.now(),
                "peripherals": {n: p.state() for n, p in self.peripherals.items()}}

    def load_state(self, s: dict[str, Any]) -> None:
        self.clock.set(s["now_ns"])
        for n, ps in s["peripherals"].items():
            self.peripherals[n].load_state(ps)
        self.load_cpu_state(s["cpu"])

    # -- public: calling firmware functions ---------------------------------------------------
    def call(self, addr: int, *args: int, timeout: float = 10.0) -> int:
        """Call the firmware function at ``addr`` with up to four integer arguments
        and return its result. The CPU context is saved and restored around the
        call; interrupts are not delivered during it."""
        uc = self.uc
        ctx = uc.context_save()
        ret = self._no_address                  # never executed: stop there when the function returns
        self._in_call = True
        try:
            self.core.prepare_call(args, ret)
            if self._icount:
                engine.set_icount_limit(uc, None)
            self._emu(addr | self._thumb, ret, host_seconds=timeout, cycles=1 << 40)
            pc = self._read_pc()
            if self._stop_kind == "exit":
                raise SimError(f"firmware exited (status {self.exit_status}) during call to {addr:#x}")
            if pc != ret:
                raise SimError(f"call to {addr:#x} did not return (stopped at {self._where(pc)})")
            return self.core.return_value()
        finally:
            self._in_call = False
            uc.context_restore(ctx)

    # -- public: running -------------------------------------------------------------------
    def run(self, *, until_ns: int | None = None, address: int | None = None, timeout: float | None = None,
            stop_on_idle: bool = True, idle_ns: int | None = None, stop_on_output: bool = False,
            timeout_s: float | None = None) -> StopReason:
        """Run the board until something the caller asked for happens.

        ``until_ns``: virtual-time deadline. ``address``: stop before executing it.
        ``timeout``: host seconds. ``stop_on_idle``: return "idle" when the firmware
        waits (WFI / UART busy-poll) with no input queued and has produced no
        console activity for ``idle_ns`` of virtual time (default 20 ms). Raises
        GuestFault on a CPU fault. ``stop_on_output``: return "output" as soon as the
        console has output not yet taken. ``timeout_s`` is an alias of ``timeout``.
        """
        gate = self.debug_gate
        if gate is not None:
            gate(None)                   # a debugger's requests; returns once it lets the board run
        reason = self._run(until_ns, address, timeout if timeout is not None else timeout_s,
                           stop_on_idle, idle_ns, stop_on_output)
        while gate is not None and reason.kind in ("breakpoint", "watchpoint"):
            gate(reason)                 # the debugger holds the board until it resumes it
            reason = self._run(until_ns, address, timeout if timeout is not None else timeout_s,
                               stop_on_idle, idle_ns, stop_on_output)
        self.last_stop = reason
        if self.pace is not None:
            time.sleep(self.pace.wait_s())   # asleep and ahead of the wall clock: let it catch up
        return reason

    def lock_to_wall_clock(self) -> None:
        """Real-time behaviour (``--realtime``): a sleep takes its time on the wall
        clock (each ``run`` that leaves the board asleep ahead of it waits), and
        busy-wait sleeps run at host pace instead of being fast-forwarded."""
        from .pace import WallClockPace
        if self.deterministic:
            from ..errors import UsageError
            raise UsageError("--realtime and --deterministic exclude each other (time is either the wall "
                             "clock or the instruction count)")
        self.pace = WallClockPace(self)
        self._busy_wait = None

    def run_until(self, address: int, timeout: float = 10.0) -> StopReason:
        """Run until the CPU is about to execute ``address``; anything else is an error."""
        r = self.run(address=address, timeout=timeout, stop_on_idle=False)
        if r.kind != "address":
            raise SimError(f"firmware did not reach {self._where(address & ~1)} "
                           f"(stopped: {r.kind} at {self._where(r.pc)})")
        return r

    def is_waiting_for_input(self) -> bool:
        """True when the last ``run`` ended with the firmware idle and no console input
        queued. With MicroPython firmware (``mp_hal_stdin_rx_chr`` in the ELF), only
        when it sleeps in that function: a guest in ``time.sleep()`` is idle but not
        waiting for input (a caller blocking for input then would never wake it)."""
        return (self.last_stop is not None and self.last_stop.kind == "idle"
                and self.last_stop.detail != _SLEEPING
                and (self.console is None or not self.console.rx_pending))

    def _run(self, until_ns, address, timeout, stop_on_idle, idle_ns, stop_on_output) -> StopReason:
        if self.exit_status is not None:
            return self._reason("exit")
        idle_ns = self.idle_ns if idle_ns is None else idle_ns
        host_end = time.perf_counter() + timeout if timeout is not None else None
        until_addr = self._no_address if address is None else address & ~1
        progressed = False
        start_activity = self._last_activity
        quiet_from = self.clock.now()      # idle needs idle_ns of quiet *in this call* too
        while True:
            now = self.clock.now()
            deadline = self._tick(now)
            if until_ns is not None and now >= until_ns:
                return self._reason("deadline")
            if host_end is not None and time.perf_counter() >= host_end:
                return self._reason("timeout")
            if self._host_stop:
                self._host_stop = False
                return self._reason("stopped")
            self._deliver_input()
            pc = self._read_pc()
            if self.core.take_interrupt(pc):
                pc = self.core.entered_pc
            if pc == until_addr:
                return self._reason("address")
            stop_at = deadline if until_ns is None else (until_ns if deadline is None else min(deadline, until_ns))
            self._run_slice(pc, until_addr, stop_at, host_end)
            if self._debug_hit is not None:
                return self._debug_reason()
            kind = self._stop_kind
            if stop_on_output and self.console is not None and self.console.output:
                if kind == "exit":
                    return self._reason("exit")
                return self._reason("output")
            if kind == "exit":
                return self._reason("exit")
            if kind == "reset":
                self.reset()
                continue
            if self._host_stop:
                self._host_stop = False
                return self._reason("stopped")
            pc = self._read_pc()
            if pc == until_addr:
                return self._reason("address")
            if self.core.in_fault is not None:
                self.core.check_fault_handler(pc, kind in ("wait", "input") or self._stopped_by_wfi(pc))
            if kind in ("wait", "input") or (kind is None and self._stopped_by_wfi(pc)):
                if self._busy_wait is not None:
                    self._busy_wait.interrupted()
                now = self.clock.now()
                nd = self._tick(now)
                if kind == "input" or self._input_ready():
                    continue
                if self.core.wakes_from_wfi():
                    continue
                progressed = progressed or self._last_activity != start_activity
                # Quiet for idle_ns since the last console activity. A guest waiting
                # for input returns at once then; one that sleeps (WFI between timer
                # ticks elsewhere, e.g. time.sleep) is fast-forwarded by at least
                # idle_ns per call too, rather than reporting "idle" at every 1 ms
                # tick (one run() call per tick was the cost of a sleep).
                if stop_on_idle and progressed and now - self._last_activity >= idle_ns:
                    lo, hi = self._input_wait
                    if lo <= pc < hi:
                        return self._reason("idle")
                    if now - quiet_from >= (max(idle_ns, _SLEEP_CHUNK_NS) if hi else idle_ns):
                        # Without a known input-wait function, a board with a timer
                        # running may only be sleeping: never call it waiting for input.
                        return self._reason("idle", _SLEEPING if hi or nd is not None else "")
                if nd is None and until_ns is None:
                    return self._reason("idle", "asleep with no timer running")
                target = nd if until_ns is None else (until_ns if nd is None else min(nd, until_ns))
                if stop_on_idle:
                    # Never skip past the moment this call reports idle: a far deadline
                    # (a sleep's alarm, a free-running timer's wrap) is reached over
                    # several calls, so a board waiting for input does not age by a
                    # timer's period, and a caller sees "sleeping" and can type into a
                    # sleep. The CPU wakes early then, which WFI allows: the firmware
                    # checks its clock and sleeps again.
                    lo, hi = self._input_wait
                    quiet = max(idle_ns, _SLEEP_CHUNK_NS) if hi and not lo <= pc < hi else idle_ns
                    target = min(target, max(quiet_from + quiet, self._last_activity + idle_ns))
                self.clock.advance_to(target)
                progressed = True

    def stop(self) -> None:
        """Ask a running ``run`` to return soon (safe from another thread)."""
        self._host_stop = True
        if self._running:
            self._async_stop()

    # -- public: debugging -----------------------------------------------------------------------
    # Breakpoints and watchpoints are Unicorn hooks bound to the address range they
    # watch, added when set and removed when cleared: Unicorn instruments only
    # instructions (code hooks) or accesses (memory hooks) in a hook's range, so with
    # none set the board runs exactly as without a debugger. A hit calls emu_stop from
    # the hook: a breakpoint stops before its instruction runs (PC exact); a watchpoint
    # stops at the access, with PC at the accessing instruction, which runs again on
    # resume (its access repeats with the same value: GDB's "non-steppable
    # watchpoint" model for ARM, where GDB steps over it with watchpoints lifted).
    # Unicorn cannot stop inside an IT block: a breakpoint on an instruction there
    # stops after the block. Host calls (``call``) never hit.
    def add_breakpoint(self, addr: int) -> None:
        """Stop ``run`` before the instruction at ``addr`` executes (kind "breakpoint")."""
        key = ("break", addr & ~1)
        if key not in self.debug_hooks:
            self.debug_hooks[key] = self.uc.hook_add(UC_HOOK_CODE, self._on_breakpoint, begin=key[1], end=key[1])
            self.uc.ctl_remove_cache(key[1], key[1] + 4)      # retranslate with the hook in place

    def remove_breakpoint(self, addr: int) -> bool:
        h = self.debug_hooks.pop(("break", addr & ~1), None)
        if h is not None:
            self.uc.hook_del(h)            # Unicorn drops the code translated with it
        return h is not None

    def add_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        """Stop ``run`` at an access (kind: write | read | access) to [addr, addr+length)."""
        key = ("watch", addr, length, kind)
        if key not in self.debug_hooks:
            def hit(uc, access, a, size, value, ud, lo=addr, hi=addr + length, kind=kind):
                if a < hi and a + size > lo and self._debug_hit is None and not self._in_call:
                    self._debug_hit = ("watchpoint", kind, lo)
                    self._request_stop("debug")
            # An access that starts up to 7 bytes below still overlaps (ldrd/strd).
            self.debug_hooks[key] = self.uc.hook_add(WATCH_HOOKS[kind], hit, begin=max(0, addr - 7),
                                                     end=addr + length - 1)
            self.uc.ctl_flush_tb()     # code translated before has no access check for hooks

    def remove_watchpoint(self, addr: int, length: int, kind: str = "write") -> bool:
        h = self.debug_hooks.pop(("watch", addr, length, kind), None)
        if h is not None:
            self.uc.hook_del(h)
            self._stale_code = True            # back to the fast path for loads and stores
        return h is not None

    def step(self) -> StopReason:
        """Execute one instruction (a breakpoint on it is not a hit). Pending interrupts
        are not taken first, as QEMU's gdbstub steps by default."""
        pc = self._read_pc()
        self._bp_skip = pc
        if not self._counting and not (self.deterministic and not self._icount):
            # Unicorn adds its instruction-count hook without retranslating: code
            # translated before would run to the end of its block uncounted.
            self.uc.ctl_flush_tb()
        self._counting = True
        try:
            self._emu(pc | self._thumb, self._no_address, count=1)
        except GuestFault as f:
            if f.arch is None:
                raise
            self.core.take_fault(f, *f.arch)
        finally:
            self._bp_skip = None
        if self.deterministic:
            self.clock.add_cycles(1)
        hit = self._debug_hit
        if hit is not None and not (hit[0] == "breakpoint" and hit[2] != self._read_pc()):
            return self._debug_reason()          # (a breakpoint passed inside an IT block: a step)
        self._debug_hit = None
        if self._stop_kind == "exit":
            return self._reason("exit")
        if self._stop_kind == "reset":
            self.reset()
        return self._reason("step")

    def _on_breakpoint(self, uc, address: int, size: int, ud) -> None:
        if address == self._bp_skip:
            self._bp_skip = None
            return
        if self._debug_hit is None and not self._in_call:
            self._debug_hit = ("breakpoint", "", address)
            self._request_stop("debug")

    def _debug_reason(self) -> StopReason:
        kind, detail, address = self._debug_hit
        self._debug_hit = None
        return StopReason(kind, self._read_pc(), self.clock.now(), None, detail, address)

    # -- run-loop internals --------------------------------------------------------------------
    def _reason(self, kind: str, detail: str = "") -> StopReason:
        return StopReason(kind, self._read_pc(), self.clock.now(),
                          self.exit_status if kind == "exit" else None, detail)

    def _tick(self, now: int) -> int | None:
        nxt = None
        for p in self._tickers:
            d = p.tick(now)
            if d is not None and (nxt is None or d < nxt):
                nxt = d
        return nxt

    def _run_slice(self, pc: int, until_addr: int, stop_at: int | None, host_end: float | None) -> None:
        try:
            self._emulate_slice(pc, until_addr, stop_at, host_end)
        except GuestFault as f:
            if f.arch is None:
                raise
            self._stop_kind = None
            self.core.take_fault(f, *f.arch)

    def _emulate_slice(self, pc: int, until_addr: int, stop_at: int | None, host_end: float | None) -> None:
        self._slice_stop_at = stop_at
        if self._icount:
            budget = _DET_ICOUNT_SLICE if stop_at is None else min(_DET_ICOUNT_SLICE, self.clock.cycles_until(stop_at))
            counter = self._counter
            start = counter.read()
            self._icount_limit = start + budget
            counter.set_limit(self._icount_limit)
            # A device read mid-slice sees the instructions run so far (a timer's
            # VALUE, a clock read twice around a sleep), not the slice's start time.
            self.clock.progress = lambda: counter.read() - start
            try:
                self._emu(pc | self._thumb, until_addr, cycles=0)
            finally:
                self.clock.progress = None
            # Exact: the instructions that ran (a limit stop may end a few past the
            # budget, at the end of a block; early stops are charged what ran).
            self._icount_now = counter.read()
            self.clock.add_cycles(self._icount_now - start)
        elif self.deterministic:
            cycles = self._det_slice if stop_at is None else min(self._det_slice, self.clock.cycles_until(stop_at))
            cycles = self.core.slice_cycles(cycles)
            self._emu(pc | self._thumb, until_addr, cycles=cycles)
            # Early stops (WFI, busy-poll, semihosting, interrupts raised by register
            # writes) are charged the whole slice: stock Unicorn does not report how
            # many instructions ran, and this keeps time a pure function of the
            # instruction stream. After an early stop slices restart small and grow
            # back, so frequent stops (e.g. one per interrupt-driven TX byte) cost
            # little virtual time.
            self.clock.add_cycles(cycles)
            pc = self._read_pc()
            if self._stop_kind is None and pc != until_addr and not self.core.after_wfi(pc):
                self._det_slice = min(_DET_MAX_CYCLES, self._det_slice * 2)
            else:
                self._det_slice = _DET_MIN_CYCLES
        else:
            host_s = _MAX_SLICE_S
            if stop_at is not None:
                # Never shorter than _MIN_SLICE_S: interrupt entry/return run in Python
                # and count as guest time here, so a timer faster than that overhead
                # would otherwise starve the guest.
                host_s = max(_MIN_SLICE_S, min(host_s, self.clock.host_ns_until(stop_at) / 1e9))
            if host_end is not None:
                host_s = min(host_s, max(0.0, host_end - time.perf_counter()))
            self._emu(pc | self._thumb, until_addr, host_seconds=host_s)

    def _stopped_by_wfi(self, pc: int) -> bool:
        """The slice just run ended because the CPU executed WFI. Not when it was
        stopped from outside (slice timer, instruction limit) at the instruction
        after a WFI, e.g. right after an exception returned there: that is no
        sleep. (Mistaking a WFI for such a stop only makes a spurious wake-up,
        which the architecture allows; the converse would skip guest time.)"""
        if self._async_hit or (self._icount and self._icount_now >= self._icount_limit):
            return False
        return self.core.after_wfi(pc)

    def _emu(self, begin: int, until: int, *, host_seconds: float | None = None, cycles: int = 0,
             count: int | None = None) -> None:
        self._stop_kind = None
        self._debug_hit = None
        self._async_hit = False
        self._fault_info = None
        self._running = True
        timer = None
        if not self.deterministic and host_seconds is not None:
            timer = self._slice_timer
            if timer is None:
                timer = self._slice_timer = SliceTimer(self._async_stop)
                weakref.finalize(self, timer.close)      # a machine nobody closed: end its thread
            timer.arm(host_seconds)
        self.core.before_slice()
        self.clock.start_slice()
        try:
            if count is None:
                count = cycles if self.deterministic and not self._icount else 0
                self._counting = count > 0     # Unicorn drops its count hook (and all code) at 0
            self.uc.emu_start(begin, until, count=count)
        except UcError as e:
            raise self._fault_from(e) from None
        finally:
            self.clock.end_slice()
            if timer is not None:
                timer.disarm()
            if self._stale_code:
                self._stale_code = False
                self.uc.ctl_flush_tb()
            with self._access_lock:
                self._running = False
                self._stop_pending = False
            if self._last_access is not None and self._replay_on:
                self._replay = (*self._last_access, self._read_pc())
            self._last_access = None
        interrupt.check()

    def _request_stop(self, kind: str | None) -> None:
        """Stop from the emulation thread (hooks, device callbacks)."""
        if self._stop_kind is None or (kind in ("exit", "reset") and self._stop_kind not in ("exit", "reset")):
            self._stop_kind = kind
        if self._running:
            self._stop_pending = True
            self.uc.emu_stop()

    def _on_guest_exit(self, status: int) -> None:
        self.exit_status = status
        self._request_stop("exit")

    def _on_input(self) -> None:
        self._last_activity = self.clock.now()
        if self._running:
            self._stop_kind = self._stop_kind or "input"
            self._async_stop()

    def _on_activity(self) -> None:
        self._last_activity = self.clock.now()

    def _input_ready(self) -> bool:
        return any(p.deliver() for p in self._uarts)

    def _deliver_input(self) -> None:
        for p in self._uarts:
            if p.rx_fifo:
                p.deliver()

    def _on_irq_pending(self) -> None:
        # Something became pending while the CPU runs (a register write, a UART
        # byte read): if it can preempt right now, end the slice so it is taken at
        # once, as the hardware would. The stop point is set by the guest, so this
        # is deterministic too.
        if self._running:
            self.core.irq_pending_while_running()

    def _after_device_write(self, p: Peripheral) -> None:
        # A timer was reprogrammed: if its next deadline is before the one this
        # slice was planned for, end the slice so the plan is redone.
        if self._running:
            d = p.tick(self.clock.now())
            if d is not None and (self._slice_stop_at is None or d < self._slice_stop_at):
                self._request_stop("replan")

    # -- Unicorn hooks ------------------------------------------------------------------------------
    def _on_tlb_fill(self, uc, vaddr: int, access: int, entry, ud) -> bool:
        # Stock Unicorn syncs the CPU state to this instruction before calling the
        # hook, IT state included, and the rest of the block never resets it: after
        # an IT block it would leak into the next block looked up (the callee of a
        # BLX then ran "inside" the IT block: a conditional branch there is UNDEFINED;
        # upstream issue #2309). QEMU keeps it 0 mid-block, and so do we.
        if self._tlb_fixup is not None:
            self._tlb_fixup()
        page = vaddr & ~(PAGE - 1)
        entry.paddr = page
        perms = UC_PROT_READ | UC_PROT_WRITE
        if page in self._exec_pages:
            perms |= UC_PROT_EXEC
        elif access == UC_MEM_FETCH:
            if self.core.executable_address(vaddr):
                self._exec_pages.add(page)
                perms |= UC_PROT_EXEC
            else:
                self._fault_info = (vaddr, "execute from execute-never region")
        entry.perms = perms
        return True

    def _on_mem_invalid(self, uc, access: int, address: int, size: int, value: int, ud) -> bool:
        self._fault_info = (address, _ACCESS.get(access, "invalid access to"))
        return False

    def _on_interrupt(self, uc, intno: int, ud) -> None:
        if self.deterministic:
            self.core.handle_interrupt(intno)
        else:
            t0 = self.clock.host_ns()
            self.core.handle_interrupt(intno)
            # Python time spent entering/leaving exceptions is not guest time;
            # counting it would let a fast timer starve the guest.
            self.clock.exclude(self.clock.host_ns() - t0)
            # Measured on the stock library: after a hook writes PC, Unicorn (with no
            # code hook installed) may later leave emu_start without syncing PC, so
            # the PC we read back would be stale. Ending the slice right here keeps
            # PC exact. The patched library (0002: exits at block boundaries only)
            # keeps running into the handler / the interrupted code.
            if self._replay_on:
                self._request_stop("hook")

    # The host reads and writes guest memory for a semihosting call under the bus
    # rules the guest's own loads and stores obey: writes only into writable RAM,
    # reads only from memory (RAM, ROM, the memory-mapped flash) -- never a device
    # register (a host read would have side effects) or unmapped space. Anything
    # else is BadAddress, which the call returns to the guest as EFAULT (as QEMU
    # does), instead of Unicorn's mem_write, which ignores the mapping's protection
    # and once let a guest overwrite both committed hibernate images in flash.
    def _semihost_allowed(self, addr: int, n: int, write: bool) -> bool:
        end = addr + n
        if addr < 0 or end > 1 << (8 * self.core.word):
            return False
        for base, stop, writable in self._guest_spans:
            if addr >= end:
                return True
            if base <= addr < stop:
                if write and not writable:
                    return False
                addr = stop
        return addr >= end

    def _semihost_can_write(self, addr: int, n: int) -> bool:
        return self._semihost_allowed(addr, n, True)

    def _semihost_read(self, addr: int, n: int) -> bytes:
        if not self._semihost_allowed(addr, n, False):
            raise BadAddress(addr, n)
        return self.read(addr, n)

    def _semihost_write(self, addr: int, data: bytes) -> None:
        if not self._semihost_allowed(addr, len(data), True):
            raise BadAddress(addr, len(data))
        self.write(addr, data)

    def _semihost_out(self, data: bytes) -> None:
        if self.console is not None:
            self.console.emit(data)

    def _semihost_in(self, n: int) -> bytes:
        c = self.console
        if c is None:
            return b""
        out = bytearray()
        with c._lock:
            while c.rx_fifo and len(out) < n:
                out.append(c.rx_fifo.popleft())
        if out:
            self._on_activity()
        return bytes(out)

    # -- faults --------------------------------------------------------------------------------------
    def _where(self, pc: int) -> str:
        sym = self.firmware.symbol_at(pc)
        if sym is None:
            return f"{pc:#010x}"
        return f"{pc:#010x} <{sym.name}+{pc - sym.addr:#x}>"

    def _fault(self, what: str, pc: int, address: int | None = None, access: str | None = None) -> GuestFault:
        msg = f"guest fault: {what} at pc {self._where(pc)}"
        if address is not None:
            msg += f", address {address:#010x}"
        d = self.core.disasm(pc)
        if d:
            msg += f" [{d}]"
        return GuestFault(msg, pc=pc, address=address, access=access)

    def _fault_from(self, e: UcError) -> GuestFault:
        pc = self._read_pc()
        if self._fault_info is None and e.errno in _MEM_ERRORS:
            # Re-execute the faulting instruction (it did not complete) with the
            # invalid-access hook installed, only to learn the address.
            h = self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_mem_invalid)
            ctx = self.uc.context_save()
            try:
                self.uc.emu_start(pc | self._thumb, self._no_address, count=1)
            except UcError:
                pass
            finally:
                self.uc.hook_del(h)
                self.uc.context_restore(ctx)
        if self._fault_info is not None:
            address, access = self._fault_info
            return self.core.classify_fault(self._fault(access, pc, address, access.split()[0]), False)
        if e.errno == UC_ERR_INSN_INVALID:
            return self.core.classify_fault(self._fault("invalid instruction", pc), True)
        return self._fault(f"{e}", pc)


def _guest_spans(board, memory_like: set[str]) -> list[tuple[int, int, bool]]:
    """Sorted (start, end, writable) of the memory the guest may read: RAM and ROM
    regions, and memory-like devices (the NOR flash: read-only on the bus)."""
    spans = [(r.base, r.end, not (r.rom or (r.alias is not None and board.region(r.alias).rom)))
             for r in board.memory]
    spans += [(p.base, p.end, False) for p in board.peripherals if p.name in memory_like]
    return sorted(spans)


def _prot(r) -> int:
    return UC_PROT_READ | UC_PROT_EXEC if r.rom else UC_PROT_READ | UC_PROT_WRITE | UC_PROT_EXEC


@functools.lru_cache(maxsize=8)
def _garbage(pattern: bytes, size: int) -> bytes:
    """``size`` bytes of ``pattern`` repeated (cached: power cycles happen thousands of times)."""
    return (pattern * (size // len(pattern) + 1))[:size]

"""The bridge's loop: the board, its serial endpoint and the control socket, in one thread.

One thread does everything, in one loop: it runs the machine in short slices,
moves bytes between the endpoint and the UART, and carries out control commands
(hibernate, power-cycle, ...) between slices, so the machine is never touched by
two threads. When the firmware sits in its stdin wait (``mp_hal_stdin_rx_chr``)
the loop blocks in ``poll`` on the endpoint, the control socket and a signal
wake-up pipe: an idle board costs no CPU. (Idle is judged by where the CPU
waits, not by console silence: a ``time.sleep`` in a program is not waiting for
input and keeps running.)

Flow control, both ways, so nothing is ever dropped:

* host -> board: our firmware reads the UART in an interrupt handler into a
  256-byte ring and silently drops bytes when it is full (a real board does the
  same on a paste faster than the REPL consumes it). The bridge reads the ring's
  fill level (``rx_head - rx_tail``) from guest RAM and feeds the UART only as
  many bytes as fit; the rest waits here, and when that queue is full the bridge
  stops reading the endpoint, so the writer is held back by the kernel. A
  firmware that polls the UART (RX interrupt off) cannot overflow anything:
  the UART model holds fed bytes until they are read, so it gets all at once.
* board -> host: TX completes instantly in the model; when the endpoint cannot
  take output as fast, the machine is paused until it drains.

While no client is attached, output is discarded (as QEMU does): a client
attaching later does not get a screenful of stale text; it sends Enter (or
mpremote its Ctrl-C) and gets a fresh prompt.

Control (sim/bridge/control.py): one line per request, one line per answer
(``ok ...`` / ``error ...``): ``hibernate``, ``power-cycle`` (hibernate, cut
power, resume), ``resume`` (power on from the newest image), ``reset``,
``status``, ``quit``. SIGUSR1 / SIGUSR2 do hibernate / power-cycle; SIGINT and
SIGTERM shut down cleanly (flash image saved).

``poll`` rather than ``select``: select() cannot watch a descriptor numbered 1024
or more, and ~1,000 control connections once took ``serve`` (and the board's
unsaved state) down with it.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..errors import SimError
from ..mpy import profiles
from .control import ControlServer
from .endpoint import Endpoint

RX_RING = 256            # the firmware's RX ring (firmware/uart.c RX_BUF_SIZE)
RX_MARGIN = 16           # never fill it to the brim
RX_FALLBACK_CHUNK = 32   # firmware without ring symbols, UART interrupt on: this much while the UART is empty
MAX_PENDING_IN = 4096    # host->board bytes held here before the endpoint is back-pressured
MAX_PENDING_OUT = 64 * 1024  # board->host bytes held before the machine is paused
RUN_SLICE_S = 0.02       # host time per machine.run call while the board is busy
SETTLE_S = 5.0           # control requests that need the REPL idle wait this long for it
WAIT_FUNCTION = "mp_hal_stdin_rx_chr"
REPL_MODE = "pyexec_mode_kind"   # pyexec.c; the enum's order depends on the version (sim.mpy.profiles)
CTRL_C = b"\x03"
COMMANDS = ("hibernate", "power-cycle", "resume", "reset", "status", "power-fail", "quit", "help")


@dataclass
class Counters:
    bytes_in: int = 0
    bytes_out: int = 0
    clients: int = 0


class Bridge:
    """Run ``board`` forever, its console UART joined to ``endpoint``."""

    def __init__(self, board, endpoint: Endpoint, control: ControlServer | None = None,
                 log: Callable[[str], None] = lambda s: print(f"mpsim: {s}", file=sys.stderr, flush=True)):
        self.board = board
        self.machine = board.machine
        self.endpoint = endpoint
        self.control = control
        self.log = log
        self.pending_in = bytearray()
        self.counters = Counters()
        self.state = "running"          # running | waiting | exited | faulted
        self.fault = ""
        self._quit = False
        self._signals: deque[str] = deque()
        fw = self.machine.firmware
        self._ring = ((fw.symbol("rx_head").addr, fw.symbol("rx_tail").addr)
                      if fw.has_symbol("rx_head") and fw.has_symbol("rx_tail") else None)
        if fw.has_symbol(WAIT_FUNCTION):
            s = fw.symbol(WAIT_FUNCTION)
            self._wait_range = (s.addr & ~1, (s.addr & ~1) + max(s.size, 2))
        else:
            self._wait_range = None
        self._mode = fw.symbol(REPL_MODE).addr if fw.has_symbol(REPL_MODE) else None
        self._mode_names = dict(enumerate(profiles.repl_mode_names(fw)))
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.machine.console.on_output = self._on_output
        self._was_connected = False
        self.debugger = None            # a sim.gdb.server.GdbServer: more fds; no running while it halts
        self.power_fail = None          # a sim.bridge.powerfail.PowerFailSchedule (serve --power-fail)

    # -- output -----------------------------------------------------------------------
    def _on_output(self, data: bytes) -> None:
        self.counters.bytes_out += len(data)
        self.endpoint.send(data)

    def _discard_console_buffer(self) -> None:
        # on_output already forwarded everything; the UART's own buffer is for
        # the board's REPL helper (used by hibernate/resume), not for us.
        self.machine.console.take_output()

    # -- signals -----------------------------------------------------------------------
    def install_signals(self) -> Callable[[], None]:
        """SIGUSR1 hibernate, SIGUSR2 power-cycle, SIGINT/SIGTERM quit. Returns an undo."""
        def handler(signum, _frame):
            self._signals.append({signal.SIGUSR1: "hibernate", signal.SIGUSR2: "power-cycle"}.get(signum, "quit"))
        old = {s: signal.signal(s, handler) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM)}
        old_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

        def undo():
            signal.set_wakeup_fd(old_fd)
            for s, h in old.items():
                signal.signal(s, h)
        return undo

    # -- the loop ------------------------------------------------------------------------
    def serve(self) -> None:
        while not self._quit:
            self._step()

    def _step(self) -> None:
        ep = self.endpoint
        connected = ep.connected
        if connected != self._was_connected:
            self._was_connected = connected
            if connected:
                self.counters.clients += 1
            self.log(f"client {'attached' if connected else 'detached'} ({ep.label})")
        last_words = ep.take_inbox()
        if last_words:
            self.counters.bytes_in += len(last_words)
            self.pending_in += last_words
        dbg = self.debugger
        halted = dbg is not None and dbg.halted       # GDB holds the board: serial input waits here
        if not halted and self._feed() and self.state == "waiting":
            self.state = "running"
        runnable = self.state == "running" and len(ep.out) < MAX_PENDING_OUT and not halted
        rfds = [self._wake_r] + (dbg.read_fds() if dbg else [])
        if len(self.pending_in) < MAX_PENDING_IN:
            rfds += ep.read_fds()
        wfds = ep.write_fds()
        if self.control is not None:
            rfds += self.control.read_fds()
            wfds += self.control.write_fds()
        timeout = 0.0 if runnable else ep.poll_s
        for fd, events in _poll(rfds, wfds, timeout):
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif dbg is not None and fd in dbg.read_fds():
                dbg.on_readable(fd)
                if self.state == "waiting":
                    self.state = "running"    # GDB may have moved the PC: look again
            elif self.control is not None and self.control.owns(fd):
                if events & select.POLLOUT:
                    self.control.on_writable(fd)
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    for client, line in self.control.on_readable(fd):
                        self.control.answer(client, self.command(line))
            else:
                if events & select.POLLOUT:
                    ep.flush()
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    data = ep.on_readable(fd)
                    if data:
                        self.counters.bytes_in += len(data)
                        self.pending_in += data
        while self._signals:
            what = self._signals.popleft()
            answer = self.command(what)
            self.log(f"signal: {what}: {answer}")
        halted = dbg is not None and dbg.halted
        if not halted and self._feed() and self.state == "waiting":
            self.state = "running"
        if self.state == "running" and len(ep.out) < MAX_PENDING_OUT and not self._quit and not halted:
            self._run_slice()
        ep.flush()

    def _run_slice(self) -> None:
        m = self.machine
        pf = self.power_fail
        try:
            reason = m.run(timeout_s=RUN_SLICE_S, until_ns=pf.deadline_ns(self) if pf else None)
        except SimError as e:
            self.state, self.fault = "faulted", str(e)
            self.log(f"{e}; the board is stopped (control: reset or resume)")
            if self.debugger is not None:
                self.debugger.after_fault(e)
            return
        finally:
            self._discard_console_buffer()
        if self.debugger is not None:
            self.debugger.after_run(reason)
        if pf is not None and reason.kind != "exit" and pf.after_slice(self, reason):
            return
        if reason.kind == "exit":
            self.state = "exited"
            self.log(f"firmware exited with status {m.exit_status}; the board is stopped (control: reset)")
        elif reason.kind == "idle" and self._waiting_for_input(reason.pc):
            self.state = "waiting"

    def _waiting_for_input(self, pc: int) -> bool:
        if self.pending_in or not self.machine.is_waiting_for_input():
            return False
        if self._wait_range is None:
            return True
        lo, hi = self._wait_range
        return lo <= (pc & ~1) < hi

    def _ring_room(self) -> int:
        console = self.machine.console
        if self._ring is None:
            if not getattr(console, "rx_interrupts", True):
                # A polled UART (a hook-free firmware): fed bytes wait in the UART
                # model until the firmware reads them, nothing can overflow, so
                # all of it goes at once rather than a chunk per machine slice.
                return MAX_PENDING_IN
            return RX_FALLBACK_CHUNK if not console.rx_pending else 0
        head, tail = (self.machine.read_u32(a) for a in self._ring)
        level = (head - tail) & 0xFFFFFFFF
        if level > RX_RING:             # not initialised yet (RAM garbage): wait for uart_init
            return 0
        return max(0, RX_RING - RX_MARGIN - level - console.rx_pending)

    def _feed(self) -> bool:
        """Move what fits of the pending input into the UART.

        A Ctrl-C held back behind input that does not fit goes ahead of it: the
        firmware takes it in the UART interrupt (it never enters the ring) and a
        user who pasted into a running program must still be able to stop it."""
        if not self.pending_in or self.state in ("exited", "faulted"):
            return False
        n = min(len(self.pending_in), self._ring_room())
        fed = b""
        if n > 0:
            fed = bytes(self.pending_in[:n])
            del self.pending_in[:n]
        intr = self.pending_in.find(CTRL_C)
        if intr >= 0:
            del self.pending_in[intr]
            fed += CTRL_C
        if not fed:
            return False
        self.machine.console.feed(fed)
        return True

    # -- control --------------------------------------------------------------------------
    def command(self, line: str) -> str:
        """Carry out one control request between machine slices; one answer line."""
        word = line.strip().split()[0].lower() if line.strip() else ""
        try:
            if not word:
                return f"error empty request (commands: {' '.join(COMMANDS)})"
            if word == "quit":
                self._quit = True
                return "ok quitting"
            if word == "status":
                return self._status()
            if word == "power-fail":
                return ("ok " + self.power_fail.summary() if self.power_fail
                        else "error not serving with --power-fail")
            if word == "help":
                return "ok commands: " + " ".join(COMMANDS)
            if word == "hibernate":
                r, kind = self._hibernate(line)
                heap = "" if kind else f", {r.used_heap_bytes} B of heap"
                return (f"ok hibernated {kind}image #{r.sequence} ({r.image_bytes} B{heap}) "
                        f"in {r.host_time_s * 1000:.1f} ms")
            if word == "power-cycle":
                r, _kind = self._hibernate(line)
                self._power_off()
                rr = self.board.resume()
                self.state = "running"
                return (f"ok hibernated image #{r.sequence}, power cut, resumed image #{rr.sequence} "
                        f"in {rr.host_time_s * 1000:.1f} ms")
            if word == "resume":
                from ..runstate.control import latest_image
                image, skipped = latest_image(self.board)
                if image is None:          # say so before cutting the power
                    why = "; ".join(skipped) or "the hibernate partition is empty"
                    return f"error no valid hibernate image to resume ({why}); the board carries on"
                self._power_off()
                try:
                    rr = self.board.resume(image)
                except SimError:
                    self.machine.reset()       # the board must not stay powered off
                    self.state = "running"
                    raise
                self.state = "running"
                return f"ok resumed image #{rr.sequence} in {rr.host_time_s * 1000:.1f} ms"
            if word == "reset":
                # The reset button: the firmware starts over; RAM is not lost, but
                # nothing in it survives the boot code either.
                self.machine.reset()
                self.state, self.fault = "running", ""
                return "ok reset"
            return f"error unknown command {word!r} (commands: {' '.join(COMMANDS)})"
        except SimError as e:
            return f"error {e}"
        finally:
            self._discard_console_buffer()

    def _hibernate(self, line: str):
        """``hibernate``: at the prompt, the prompt-time image; while a program runs
        (it has not come back to the prompt within the settle time) or with
        ``hibernate run-state``, the run-state image, saved where the program is."""
        run_state = "run-state" in line.split()[1:]
        if not run_state:
            try:
                self._settle()
            except SimError as e:
                if "not been waiting for input" not in str(e):
                    raise
                run_state = True
        return self.board.hibernate(run_state=run_state), ("run-state " if run_state else "")

    def _settle(self, timeout_s: float = SETTLE_S) -> None:
        """Run until the firmware waits for input with nothing queued for it (a
        client's last bytes may still be on their way): hibernate needs that. The
        client is still heard meanwhile, so its Ctrl-C can end a running program
        and the request then succeeds."""
        deadline = time.monotonic() + timeout_s
        while self.state == "running" or self.pending_in:
            if len(self.pending_in) < MAX_PENDING_IN:
                for fd, _events in _poll(self.endpoint.read_fds(), [], 0):
                    data = self.endpoint.on_readable(fd)
                    self.counters.bytes_in += len(data)
                    self.pending_in += data
            if self.state in ("exited", "faulted"):
                raise SimError(f"cannot hibernate: the board is {self.state}")
            if time.monotonic() > deadline:
                raise SimError(f"cannot hibernate now: the firmware has not been waiting for input within "
                               f"{timeout_s:g} s (a program is running; interrupt it with Ctrl-C)")
            if self._feed():
                self.state = "running"
            self._run_slice()
            self.endpoint.flush()

    def _power_off(self) -> None:
        """Cut power: input on its way to the board is lost with it."""
        self.board.power_cycle()
        self.pending_in.clear()
        console = self.machine.console
        with console._lock:
            console.rx_fifo.clear()
        self.fault = ""

    def _status(self) -> str:
        m = self.machine
        fields = [f"state={self.state}", f"client={'attached' if self.endpoint.connected else 'none'}",
                  f"serial={self.endpoint.label}", f"time={m.now_ns / 1e9:.3f}s",
                  f"in={self.counters.bytes_in}", f"out={self.counters.bytes_out}",
                  f"clients={self.counters.clients}"]
        if self._mode is not None and self.state == "waiting":
            fields.append(f"repl={self._mode_names.get(m.read(self._mode, 1)[0], 'other')}")
        if self.state == "exited":
            fields.append(f"exit_status={m.exit_status}")
        if self.fault:
            fields.append(f"fault={self.fault!r}")
        if self.power_fail is not None:
            fields += self.power_fail.status_fields()
        return "ok " + " ".join(fields)

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.endpoint.close()
        if self.control is not None:
            self.control.close()


def _poll(read_fds: list[int], write_fds: list[int], timeout_s: float | None) -> list[tuple[int, int]]:
    """(fd, events) ready within ``timeout_s`` (None: until one is); no fd-number limit."""
    poller = select.poll()
    events: dict[int, int] = {}
    for fd in read_fds:
        events[fd] = events.get(fd, 0) | select.POLLIN
    for fd in write_fds:
        events[fd] = events.get(fd, 0) | select.POLLOUT
    for fd, ev in events.items():
        poller.register(fd, ev)
    try:
        return poller.poll(None if timeout_s is None else timeout_s * 1000)
    except InterruptedError:
        return []

"""The GDB stub's TCP side, shaped to sit in a loop that owns the board.

The loop (``mpsim serve``'s bridge, ``mpsim repl``) does four things with it:

* ``read_fds()``: add these to its ``select``; ``on_readable(fd)`` when one is ready
  (packets are answered there, at once: registers, memory, breakpoints, a single
  step, monitor commands; the board is between slices then, never inside one);
* ``halted``: do not run the board while True (GDB holds it: after a stop, a
  Ctrl-C, on attach, and from the start with ``wait``); serial input waits;
* ``after_run(reason)``: each ``StopReason`` the board's ``run`` returned (a
  breakpoint or watchpoint hit becomes GDB's stop reply);
* ``after_fault(error)``: the board stopped on a guest fault (GDB sees SIGSEGV and
  can look at the registers).

One client at a time (others wait in the listen backlog). Whatever a client sends
(bad checksums, bytes outside packets, oversized packets, a hang-up in the middle
of a packet) costs at most one line on stderr; the board keeps running, and when
the client goes, its breakpoints go with it.
"""

from __future__ import annotations

import select
import socket
import sys
from typing import Callable

from ..bridge.tcp import listen_tcp
from ..errors import SimError
from . import rsp
from .session import PACKET_SIZE, Session
from .targets import arch_for, regions

SEND_TIMEOUT_S = 5.0     # a client that stops reading is dropped after this long


def _stderr(text: str) -> None:
    print(f"mpsim: {text}", file=sys.stderr, flush=True)


class GdbServer:
    def __init__(self, machine, port: int, *, wait: bool = False,
                 monitor: Callable[[str], str] | None = None, log: Callable[[str], None] = _stderr,
                 host: str = "127.0.0.1"):
        self.machine = machine
        self.arch = arch_for(machine.board)
        self.regions = regions(machine.board)
        self.monitor = monitor or (lambda word: f"error monitor {word} is not available here")
        self.log = log
        self.listener = listen_tcp(host, port, backlog=1, purpose="GDB")
        self.host, self.port = self.listener.getsockname()[:2]
        self.label = f"gdb:{self.host}:{self.port}"
        self.client: socket.socket | None = None
        self.session: Session | None = None
        self._reader: rsp.Reader | None = None
        self._halted_alone = wait            # --gdb-wait: halted before the first client
        self._last_sent = b""
        self._in_gate = False

    # -- what the loop asks ---------------------------------------------------------------
    @property
    def halted(self) -> bool:
        return self.session.halted if self.session is not None else self._halted_alone

    def read_fds(self) -> list[int]:
        return [self.client.fileno() if self.client is not None else self.listener.fileno()]

    def on_readable(self, fd: int) -> None:
        if self.client is None:
            self._accept()
            return
        try:
            data = self.client.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            mid = self._reader is not None and self._reader.mid_packet
            self._drop("client disconnected" + (" in the middle of a packet" if mid else ""))
            return
        for ev in self._reader.feed(data):
            self._event(ev)
            if self.session is None:
                return

    def after_run(self, reason) -> None:
        s = self.session
        if s is not None and not s.halted:
            reply = s.stop_reply(reason)
            if reply is not None:
                self._send(reply)

    def after_fault(self, error: Exception) -> None:
        s = self.session
        if s is not None and not s.halted:
            self.log("gdb: the board stopped on a fault; reported to GDB as SIGSEGV")
            self._send(s.fault_reply())

    def gate(self, reason=None) -> None:
        """``Machine.debug_gate`` for callers that only call ``machine.run`` (mpsim run):
        answer what GDB sent; report ``reason``; block while GDB holds the board.
        Re-entered from a monitor command that runs the board: returns at once."""
        if self._in_gate:
            return
        self._in_gate = True
        try:
            if reason is not None:
                self.after_run(reason)
            self._poll(0)
            while self.halted:
                self._poll(None)
        finally:
            self._in_gate = False

    def _poll(self, timeout: float | None) -> None:
        fds = self.read_fds()
        try:
            ready = select.select(fds, [], [], timeout)[0]
        except InterruptedError:
            return
        for fd in ready:
            self.on_readable(fd)

    def close(self, exit_status: int | None = None) -> None:
        """``exit_status``: the program is over (mpsim run): GDB hears it exited."""
        if self.client is not None:
            if exit_status is not None:
                self._send(f"W{exit_status & 0xFF:02x}")
            self._drop("shutting down", quiet=True)
        self.listener.close()

    # -- connection ---------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            conn, addr = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = conn
        self._reader = rsp.Reader(PACKET_SIZE)
        self.session = Session(self.machine, self.arch, self.regions, self.monitor, halted=True)
        self._halted_alone = False
        self.log(f"gdb: client attached from {addr[0]}:{addr[1]}; the board is halted")

    def _drop(self, why: str, quiet: bool = False) -> None:
        if self.session is not None:
            self.session.release()
        self.session = None
        self._reader = None
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
        self.client = None
        if not quiet:
            self.log(f"gdb: {why}; breakpoints removed, the board keeps running")

    def _send(self, payload: str | bytes, raw: bool = False) -> None:
        if self.client is None:
            return
        data = payload if isinstance(payload, bytes) else payload.encode("latin-1")
        if not raw:
            data = rsp.frame(data)
            self._last_sent = data
        try:
            self.client.settimeout(SEND_TIMEOUT_S)
            self.client.sendall(data)
            self.client.setblocking(False)
        except OSError:
            self._drop("client stopped reading")

    # -- protocol events --------------------------------------------------------------------------
    def _event(self, ev: rsp.Event) -> None:
        s = self.session
        if ev.kind == "packet":
            if not s.no_ack:
                self._send(b"+", raw=True)
            for reply in self._handle(s, ev.payload):
                self._send(reply)
            if s.detached:
                self._drop("client detached", quiet=True)
                self.log("gdb: client detached; the board keeps running")
        elif ev.kind == "interrupt":
            if not s.halted:
                self._send(s.interrupt_reply())
        elif ev.kind == "nak":
            if self._last_sent:
                self._send(self._last_sent, raw=True)
        elif ev.kind == "ack":
            pass
        elif ev.kind == "bad_checksum":
            self.log(f"gdb: packet with a bad checksum ({ev.payload[:16]!r}...); asked for a resend")
            if not s.no_ack:
                self._send(b"-", raw=True)
        elif ev.kind == "too_long":
            self.log(f"gdb: packet longer than {PACKET_SIZE} bytes dropped; asked for a resend")
            if not s.no_ack:
                self._send(b"-", raw=True)
        elif ev.kind == "garbage":
            self.log(f"gdb: ignored {ev.payload.decode()} bytes outside any packet")

    def _handle(self, s: Session, payload: bytes) -> list[str | bytes]:
        try:
            return s.handle(payload)
        except SimError as e:
            self.log(f"gdb: {e}")
            if payload[:1] in b"sScCv":
                return [s.fault_reply()]
            return ["E01"]
        except Exception as e:        # a stub bug must not take the board (and serve) down
            self.log(f"gdb: internal error on packet {payload[:24]!r}: {type(e).__name__}: {e}; answered E01")
            return ["E01"]

"""The board's console UART on a host serial endpoint: a pseudo-terminal or TCP.

What ``mpsim serve`` runs. Like QEMU's ``-serial pty`` / ``-serial tcp::N,server``:
a stock serial tool (mpremote, picocom, screen, pyserial) attaches to the
simulated board exactly as to a real one, and may come and go while the board
keeps running.

One thread does everything, in one loop: it runs the machine in short slices,
moves bytes between the endpoint and the UART, and carries out control commands
(hibernate, power-cycle, ...) between slices, so the machine is never touched by
two threads. When the firmware sits in its stdin wait (``mp_hal_stdin_rx_chr``)
the loop blocks in ``select`` on the endpoint, the control socket and a signal
wake-up pipe: an idle board costs no CPU. (Idle is judged by where the CPU
waits, not by console silence: a ``time.sleep`` in a program is not waiting for
input and keeps running.)

Flow control, both ways, so nothing is ever dropped:

* host -> board: MicroPython 1.9.2 reads the UART in an interrupt handler into a
  256-byte ring and silently drops bytes when it is full (a real board does the
  same on a paste faster than the REPL consumes it). The bridge reads the ring's
  fill level (``rx_head - rx_tail``) from guest RAM and feeds the UART only as
  many bytes as fit; the rest waits here, and when that queue is full the bridge
  stops reading the endpoint, so the writer is held back by the kernel.
* board -> host: TX completes instantly in the model; when the endpoint cannot
  take output as fast, the machine is paused until it drains.

While no client is attached, output is discarded (as QEMU does): a client
attaching later does not get a screenful of stale text; it sends Enter (or
mpremote its Ctrl-C) and gets a fresh prompt.

Control: a unix socket speaking one line per request, one line per answer
(``ok ...`` / ``error ...``): ``hibernate``, ``power-cycle`` (hibernate, cut
power, resume), ``resume`` (power on from the newest image), ``reset``,
``status``, ``quit``. SIGUSR1 / SIGUSR2 do hibernate / power-cycle; SIGINT and
SIGTERM shut down cleanly (flash image saved).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import sys
import time
import tty
from collections import deque
from dataclasses import dataclass
from typing import Callable

from .errors import SimError, UsageError
from .mpy import profiles

RX_RING = 256            # the firmware's RX ring (firmware/uart.c RX_BUF_SIZE)
RX_MARGIN = 16           # never fill it to the brim
RX_FALLBACK_CHUNK = 32   # firmware without ring symbols: this much while the UART is empty
MAX_PENDING_IN = 4096    # host->board bytes held here before the endpoint is back-pressured
MAX_PENDING_OUT = 64 * 1024  # board->host bytes held before the machine is paused
RUN_SLICE_S = 0.02       # host time per machine.run call while the board is busy
SETTLE_S = 5.0           # control requests that need the REPL idle wait this long for it
ATTACH_POLL_S = 0.2      # pty with no client: how often to look for one (no event exists)
WAIT_FUNCTION = "mp_hal_stdin_rx_chr"
REPL_MODE = "pyexec_mode_kind"   # pyexec.c; the enum's order depends on the version (sim.mpy.profiles)
CTRL_C = b"\x03"
COMMANDS = ("hibernate", "power-cycle", "resume", "reset", "status", "quit", "help")


class Endpoint:
    """The host side of the serial line: at most one client at a time."""

    label = ""

    def read_fds(self) -> list[int]: ...
    def on_readable(self, fd: int) -> bytes: ...
    @property
    def connected(self) -> bool: ...
    def send(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...

    out: bytearray
    poll_s: float | None = None     # look for a client this often (None: an fd event says so)

    def write_fds(self) -> list[int]:
        return []

    def take_inbox(self) -> bytes:
        """Input that arrived outside ``on_readable`` (e.g. just before a hang-up)."""
        return b""


class PtyEndpoint(Endpoint):
    """A pseudo-terminal pair; clients open the slave (``/dev/pts/N``).

    The slave is set raw and then closed here, as QEMU does: the master reports
    POLLHUP while no process has the slave open, which is how a client's
    arrival and departure are seen (polled, since Linux has no event for it)."""

    def __init__(self):
        self.master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self.path = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(self.master, False)
        self.label = self.path
        self.out = bytearray()
        self.inbox = bytearray()        # input read while noticing the client left
        self._poll = select.poll()
        self._poll.register(self.master, select.POLLIN | select.POLLOUT)
        self._connected = False

    @property
    def connected(self) -> bool:
        events = 0
        for _fd, ev in self._poll.poll(0):
            events |= ev
        now = not events & select.POLLHUP
        if not now and self._connected:
            # The client wrote and closed (mpremote ends with "\r\x02" then
            # close): what it sent before leaving still belongs to the board.
            self.inbox += self._read_rest()
        if now != self._connected:
            self._connected = now
            self.out.clear()
        return now

    def _read_rest(self) -> bytes:
        data = b""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return data
            if not chunk:
                return data
            data += chunk

    def take_inbox(self) -> bytes:
        data, self.inbox = bytes(self.inbox), bytearray()
        return data

    @property
    def poll_s(self) -> float | None:
        return None if self._connected else ATTACH_POLL_S

    def read_fds(self) -> list[int]:
        return [self.master] if self._connected else []

    def write_fds(self) -> list[int]:
        return [self.master] if self._connected and self.out else []

    def on_readable(self, fd: int) -> bytes:
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError as e:            # EIO: the last client closed the slave
            if e.errno != errno.EIO:
                raise
            self._connected = False
            self.out.clear()
            return b""

    def send(self, data: bytes) -> None:
        if self._connected:
            self.out += data

    def flush(self) -> None:
        while self.out and self._connected:
            try:
                n = os.write(self.master, self.out[:4096])
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                self._connected = False
                self.out.clear()
                return
            del self.out[:n]

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


class TcpEndpoint(Endpoint):
    """A TCP server on loopback; one client at a time (later ones wait in the
    listen backlog until the current one leaves), raw bytes, no telnet."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
        except OSError as e:
            self.listener.close()
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.host, self.port = self.listener.getsockname()[:2]
        self.label = f"tcp:{self.host}:{self.port}"
        self.client: socket.socket | None = None
        self.out = bytearray()

    @property
    def connected(self) -> bool:
        return self.client is not None

    def read_fds(self) -> list[int]:
        return [self.client.fileno()] if self.client is not None else [self.listener.fileno()]

    def write_fds(self) -> list[int]:
        return [self.client.fileno()] if self.client is not None and self.out else []

    def on_readable(self, fd: int) -> bytes:
        if self.client is None:
            try:
                self.client, _addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return b""
            self.client.setblocking(False)
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.out.clear()
            return b""
        try:
            data = self.client.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self._drop()
        return data

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.out.clear()

    def send(self, data: bytes) -> None:
        if self.client is not None:
            self.out += data

    def flush(self) -> None:
        while self.out and self.client is not None:
            try:
                n = self.client.send(self.out[:65536])
            except BlockingIOError:
                return
            except OSError:
                self._drop()
                return
            del self.out[:n]

    def close(self) -> None:
        self._drop()
        self.listener.close()


class ControlServer:
    """Unix-socket line protocol: one request line in, one answer line out."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if os.path.exists(path) and _is_stale_socket(path):
                os.unlink(path)
            self.sock.bind(path)
        except OSError as e:
            self.sock.close()
            raise UsageError(f"cannot create control socket {path}: {e.strerror or e}") from None
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}

    def read_fds(self) -> list[int]:
        return [self.sock.fileno(), *self.clients]

    def on_readable(self, fd: int) -> list[tuple[socket.socket, str]]:
        """Requests that arrived: (connection to answer on, command line)."""
        if fd == self.sock.fileno():
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return []
            conn.setblocking(False)
            self.clients[conn.fileno()] = (conn, bytearray())
            return []
        conn, buf = self.clients[fd]
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return []
        buf += data
        out = []
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            text = line.decode(errors="replace").strip()
            if text:
                out.append((conn, text))
        if len(buf) > 1024:
            self._close(fd)
        return out

    def answer(self, conn: socket.socket, text: str) -> None:
        line = (" ".join(text.split("\n")) + "\n").encode()
        try:
            conn.setblocking(True)
            conn.settimeout(2.0)
            conn.sendall(line)
            conn.setblocking(False)
        except OSError:
            self._close(conn.fileno())

    def _close(self, fd: int) -> None:
        conn, _ = self.clients.pop(fd, (None, None))
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for fd in list(self.clients):
            self._close(fd)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _is_stale_socket(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        return True
    finally:
        s.close()
    return False


def control_request(path: str, line: str, timeout_s: float = 60.0) -> str:
    """Send one control request to a running ``mpsim serve``; return its answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(path)
        except OSError as e:
            raise UsageError(f"cannot reach the control socket {path}: {e.strerror or e}") from None
        s.sendall(line.strip().encode() + b"\n")
        buf = b""
        try:
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            raise SimError(f"no answer to {line.strip()!r} within {timeout_s:g} s") from None
    return buf.decode(errors="replace").strip()


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
        if self._feed() and self.state == "waiting":
            self.state = "running"
        runnable = self.state == "running" and len(ep.out) < MAX_PENDING_OUT
        rfds = [self._wake_r]
        if len(self.pending_in) < MAX_PENDING_IN:
            rfds += ep.read_fds()
        if self.control is not None:
            rfds += self.control.read_fds()
        wfds = ep.write_fds()
        timeout = 0.0 if runnable else ep.poll_s
        try:
            readable, writable, _ = select.select(rfds, wfds, [], timeout)
        except InterruptedError:
            readable, writable = [], []
        if wfds and writable:
            ep.flush()
        for fd in readable:
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif self.control is not None and fd in self.control.read_fds():
                for conn, line in self.control.on_readable(fd):
                    self.control.answer(conn, self.command(line))
            else:
                data = ep.on_readable(fd)
                if data:
                    self.counters.bytes_in += len(data)
                    self.pending_in += data
        while self._signals:
            what = self._signals.popleft()
            answer = self.command(what)
            self.log(f"signal: {what}: {answer}")
        if self._feed() and self.state == "waiting":
            self.state = "running"
        if self.state == "running" and len(ep.out) < MAX_PENDING_OUT and not self._quit:
            self._run_slice()
        ep.flush()

    def _run_slice(self) -> None:
        m = self.machine
        try:
            reason = m.run(timeout_s=RUN_SLICE_S)
        except SimError as e:
            self.state, self.fault = "faulted", str(e)
            self.log(f"{e}; the board is stopped (control: reset or resume)")
            return
        finally:
            self._discard_console_buffer()
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
            if word == "quit":
                self._quit = True
                return "ok quitting"
            if word == "status":
                return self._status()
            if word == "help":
                return "ok commands: " + " ".join(COMMANDS)
            if word == "hibernate":
                self._settle()
                r = self.board.hibernate()
                return (f"ok hibernated image #{r.sequence} ({r.image_bytes} B, {r.used_heap_bytes} B of heap) "
                        f"in {r.host_time_s * 1000:.1f} ms")
            if word == "power-cycle":
                self._settle()
                r = self.board.hibernate()
                self._power_off()
                rr = self.board.resume()
                self.state = "running"
                return (f"ok hibernated image #{r.sequence}, power cut, resumed image #{rr.sequence} "
                        f"in {rr.host_time_s * 1000:.1f} ms")
            if word == "resume":
                image, skipped = self.board.hibernator.latest_usable_image()
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

    def _settle(self, timeout_s: float = SETTLE_S) -> None:
        """Run until the firmware waits for input with nothing queued for it (a
        client's last bytes may still be on their way): hibernate needs that."""
        deadline = time.monotonic() + timeout_s
        while self.state == "running" or self.pending_in:
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

"""The control socket: a unix socket speaking one request line in, one answer line out.

A client may be anything (``nc -U``, a script, a flood of connections): whatever
it does, the board keeps running and every other client keeps its answers.
So every request line gets exactly one answer, a blank one included; answers
are queued and sent without blocking (a client that does not read only loses
its own connection once its queue is full); at most ``MAX_CLIENTS`` connections
are open at once, and a connection beyond that gets one ``error`` line and is
closed.
"""

from __future__ import annotations

import os
import socket
import stat

from ..errors import SimError, UsageError

MAX_CLIENTS = 32           # control connections open at once; more are refused with one line
MAX_LINE = 1024            # a request longer than this is not a request
MAX_QUEUED_ANSWERS = 64 * 1024   # bytes of answers a client may leave unread


class _Client:
    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.closing = False        # close once the outbox is sent


class ControlServer:
    """Accepts control connections and splits what they send into request lines."""

    def __init__(self, path: str):
        self.path = path
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise UsageError(f"cannot create control socket {path}: {e.strerror or e}") from None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise UsageError(f"cannot create control socket {path}: it exists and is not a socket "
                                 f"(not touched)")
            if not _is_stale_socket(path):
                raise UsageError(f"cannot create control socket {path}: another server is listening on it")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if st is not None:
                os.unlink(path)
            self.sock.bind(path)
        except OSError as e:
            self.sock.close()
            raise UsageError(f"cannot create control socket {path}: {e.strerror or e}") from None
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.clients: dict[int, _Client] = {}

    def read_fds(self) -> list[int]:
        return [self.sock.fileno(), *(fd for fd, c in self.clients.items() if not c.closing)]

    def write_fds(self) -> list[int]:
        return [fd for fd, c in self.clients.items() if c.outbox]

    def owns(self, fd: int) -> bool:
        return fd == self.sock.fileno() or fd in self.clients

    def on_readable(self, fd: int) -> list[tuple[int, str]]:
        """Requests that arrived: (client to answer, request line, maybe empty)."""
        if fd == self.sock.fileno():
            self._accept()
            return []
        client = self.clients.get(fd)
        if client is None:
            return []
        try:
            data = client.conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return []
        client.inbox += data
        requests = []
        while b"\n" in client.inbox:
            line, _, rest = bytes(client.inbox).partition(b"\n")
            client.inbox[:] = rest
            requests.append((fd, line.decode(errors="replace").strip()))
        if len(client.inbox) > MAX_LINE:
            client.inbox.clear()
            client.closing = True
            self.answer(fd, f"error request longer than {MAX_LINE} bytes; closing")
        return requests

    def on_writable(self, fd: int) -> None:
        client = self.clients.get(fd)
        if client is not None:
            self._send(fd, client)

    def answer(self, fd: int, text: str) -> None:
        """Queue one answer line for client ``fd`` (gone clients are skipped)."""
        client = self.clients.get(fd)
        if client is None:
            return
        client.outbox += (" ".join(text.split("\n")) + "\n").encode()
        if len(client.outbox) > MAX_QUEUED_ANSWERS:
            self._close(fd)                 # it does not read its answers
            return
        self._send(fd, client)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:                     # gone already, or out of file descriptors
            return
        if len(self.clients) >= MAX_CLIENTS:
            try:
                conn.setblocking(False)
                conn.send(f"error too many control connections ({MAX_CLIENTS} open); try again later\n".encode())
            except OSError:
                pass
            conn.close()
            return
        conn.setblocking(False)
        self.clients[conn.fileno()] = _Client(conn)

    def _send(self, fd: int, client: _Client) -> None:
        try:
            while client.outbox:
                n = client.conn.send(client.outbox)
                del client.outbox[:n]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(fd)
            return
        if client.closing:
            self._close(fd)

    def _close(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            client.conn.close()

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


def control_requests(path: str, lines: list[str], timeout_s: float = 60.0) -> list[str]:
    """Send requests to a running ``mpsim serve`` over one connection, in order; one
    answer line each."""
    answers: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(path)
        except OSError as e:
            raise UsageError(f"cannot reach the control socket {path}: {e.strerror or e}") from None
        buf = b""
        try:
            for line in lines:
                s.sendall(line.strip().encode() + b"\n")
                while b"\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise SimError(f"the server closed the control connection before answering {line.strip()!r}")
                    buf += chunk
                answer, _, buf = buf.partition(b"\n")
                answers.append(answer.decode(errors="replace").strip())
        except socket.timeout:
            raise SimError(f"no answer to {line.strip()!r} within {timeout_s:g} s") from None
    return answers

"""A TCP endpoint on loopback: ``mpremote connect socket://127.0.0.1:PORT``."""

from __future__ import annotations

import socket

from ..errors import UsageError
from .endpoint import Endpoint


def listen_tcp(host: str, port: int, backlog: int, purpose: str = "") -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (port 0: any free one);
    UsageError ``cannot listen[ for PURPOSE] on host:port: why`` when the port is
    taken or the address is not ours. Also the GDB stub's (sim/gdb/server.py)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as e:
        listener.close()
        for_what = f" for {purpose}" if purpose else ""
        raise UsageError(f"cannot listen{for_what} on {host}:{port}: {e.strerror or e}") from None
    listener.listen(backlog)
    listener.setblocking(False)
    return listener


class TcpEndpoint(Endpoint):
    """A TCP server on loopback; one client at a time (later ones wait in the
    listen backlog until the current one leaves), raw bytes, no telnet."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.listener = listen_tcp(host, port, backlog=4)
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

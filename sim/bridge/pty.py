"""A pseudo-terminal endpoint: clients open ``/dev/pts/N`` as they would a USB serial port."""

from __future__ import annotations

import errno
import os
import select
import tty

from .endpoint import Endpoint

ATTACH_POLL_S = 0.2      # no client: how often to look for one (Linux has no event for it)


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

"""What the bridge's loop needs from a serial endpoint (pty or TCP)."""

from __future__ import annotations


class Endpoint:
    """The host side of the serial line: at most one client at a time."""

    label = ""
    out: bytearray
    poll_s: float | None = None     # look for a client this often (None: an fd event says so)

    @property
    def connected(self) -> bool: ...
    def read_fds(self) -> list[int]: ...
    def on_readable(self, fd: int) -> bytes: ...
    def send(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...

    def write_fds(self) -> list[int]:
        return []

    def take_inbox(self) -> bytes:
        """Input that arrived outside ``on_readable`` (e.g. just before a hang-up)."""
        return b""

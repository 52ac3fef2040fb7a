"""The host's end of a console UART: what the CMSDK UART and the NS16550A share.

Bytes the host feeds wait in ``rx_fifo`` until the device model moves them into
its receiver (``deliver``, the model's own: each has its own idea of room); bytes
the guest sends collect in ``output`` and go to ``on_output``. ``feed`` may be
called from any thread (the bridge's reader), hence the lock. A guest that reads
the status register over and over with nothing to receive is waiting for input:
``poll_status`` counts those reads and tells the machine (``on_poll_idle``).
"""

from __future__ import annotations

import collections
import threading
from typing import Callable

from .base import Peripheral

POLL_IDLE_READS = 64   # status reads with RX empty and no data access that mean "waiting for input"


class SerialLine(Peripheral):
    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.rx_fifo: collections.deque[int] = collections.deque()    # fed, not yet received
        self._lock = threading.Lock()
        self.output = bytearray()
        self.on_output: Callable[[bytes], None] | None = None
        self.on_feed: Callable[[], None] | None = None       # machine: wake the CPU
        self.on_activity: Callable[[], None] | None = None   # machine: console not quiet
        self.on_poll_idle: Callable[[], None] | None = None  # machine: busy-poll detected
        self._polls = 0
        self.reset()

    def feed(self, data: bytes) -> None:
        """Queue bytes as if typed on the serial line (safe from any thread)."""
        with self._lock:
            self.rx_fifo.extend(data)
        if self.on_feed:
            self.on_feed()

    def take_output(self) -> bytes:
        with self._lock:
            out = bytes(self.output)
            self.output.clear()
        return out

    def emit(self, data: bytes) -> None:
        """Bytes leaving the board on this port (the UART's transmitter or the
        semihosting console)."""
        with self._lock:
            self.output += data
        if self.on_output:
            self.on_output(data)
        if self.on_activity:
            self.on_activity()

    def poll_status(self, rx_empty: bool) -> None:
        """The guest read the status register: count it toward "waiting for input"."""
        if rx_empty:
            self._polls += 1
            if self._polls >= POLL_IDLE_READS:
                self._polls = 0
                if self.on_poll_idle:
                    self.on_poll_idle()

    def data_access(self) -> None:
        """The guest read or wrote the data register: it is not idle-polling."""
        self._polls = 0

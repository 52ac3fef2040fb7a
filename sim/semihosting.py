"""ARM semihosting (``bkpt 0xAB`` on M-profile; on RISC-V ``slli x0,x0,0x1f;
ebreak; srai x0,x0,7``): operation in r0/a0, argument block pointer in r1/a1,
result to r0/a0 — the subset firmware for QEMU actually uses. The argument block
holds words of the core's width (``word``: 4, or 8 on RV64).

Console I/O goes to the board's console UART streams, as QEMU does when run with
``-semihosting -serial stdio`` (both end up on the same terminal): SYS_WRITE*
append to the console output, SYS_READ/SYS_READC take fed console input.
Host files are deliberately not exposed: only ":tt" opens. A read with no input
available asks the machine to wait (the bkpt is re-executed when input arrives).

Guest pointers are untrusted: ``read_mem``/``write_mem`` raise ``BadAddress`` for
memory the guest itself could not read or write that way (flash, ROM, device
registers, unmapped space), and the call then fails the way QEMU's does: -1 with
SYS_ERRNO = EFAULT, or for SYS_READ/SYS_WRITE "nothing transferred" (the length).
A call writes all of its results or none of them.
"""

from __future__ import annotations

import struct
import time
from typing import Callable

SYS_OPEN, SYS_CLOSE, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ, SYS_READC = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
SYS_ISERROR, SYS_ISTTY, SYS_SEEK, SYS_FLEN, SYS_TMPNAM, SYS_REMOVE, SYS_RENAME = 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x0F
SYS_CLOCK, SYS_TIME, SYS_SYSTEM, SYS_ERRNO, SYS_GET_CMDLINE, SYS_HEAPINFO = 0x10, 0x11, 0x12, 0x13, 0x15, 0x16
SYS_EXIT, SYS_ELAPSED, SYS_TICKFREQ, SYS_EXIT_EXTENDED = 0x18, 0x30, 0x31, 0x20
ADP_STOPPED_APPLICATION_EXIT = 0x20026
EBADF, ENOENT, EINVAL, EFAULT, E2BIG = 9, 2, 22, 14, 7
TT_IN, TT_OUT, TT_ERR = 1, 2, 3


class NeedInput(Exception):
    """SYS_READ/SYS_READC with no console input queued: retry later."""


class BadAddress(Exception):
    """A guest buffer outside the memory the guest may access that way."""


class Exit(Exception):
    def __init__(self, status: int):
        self.status = status
        super().__init__(status)


class Semihosting:
    def __init__(self, read_mem: Callable[[int, int], bytes], write_mem: Callable[[int, bytes], None],
                 out: Callable[[bytes], None], take_input: Callable[[int], bytes],
                 now_ns: Callable[[], int], cmdline: str = "", heapinfo: tuple[int, int, int, int] = (0, 0, 0, 0),
                 word: int = 4, can_write: Callable[[int, int], bool] = lambda addr, n: True):
        self.read_mem, self.write_mem, self.out, self.take_input = read_mem, write_mem, out, take_input
        self.can_write = can_write
        self.now_ns = now_ns
        self.cmdline = cmdline
        self.heapinfo = heapinfo
        self.errno = 0
        self.handles: dict[int, int] = {}
        self.next_handle = 1
        self.word = word
        self.minus1 = (1 << (8 * word)) - 1     # -1 in a register of the core's width

    def _arg(self, block: int, i: int) -> int:
        w = self.word
        return int.from_bytes(self.read_mem(block + w * i, w), "little")

    def _cstr(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            try:
                chunk = self.read_mem(addr + len(out), 64)
            except BadAddress:                  # may end just before the end of memory
                chunk = self.read_mem(addr + len(out), 1)
            z = chunk.find(0)
            if z >= 0:
                return bytes(out + chunk[:z])
            out += chunk
        return bytes(out)

    def _put(self, *writes: tuple[int, bytes]) -> None:
        """Write every piece, or none when one of them may not be written."""
        for addr, data in writes:
            if not self.can_write(addr, len(data)):
                raise BadAddress(addr)
        for addr, data in writes:
            self.write_mem(addr, data)

    def call(self, op: int, arg: int) -> int:
        """Perform one operation; returns the value for r0 (may raise Exit/NeedInput)."""
        try:
            return self._call(op, arg)
        except BadAddress:
            self.errno = EFAULT
            return self.minus1

    def _call(self, op: int, arg: int) -> int:
        if op == SYS_WRITEC:
            self.out(self.read_mem(arg, 1))
            return 0
        if op == SYS_WRITE0:
            self.out(self._cstr(arg, 1 << 20))
            return 0
        if op == SYS_OPEN:
            name = self.read_mem(self._arg(arg, 0), self._arg(arg, 2))
            mode = self._arg(arg, 1)
            if name != b":tt":
                self.errno = ENOENT
                return self.minus1
            h = self.next_handle
            self.next_handle += 1
            self.handles[h] = TT_IN if mode < 4 else (TT_OUT if mode < 8 else TT_ERR)
            return h
        if op == SYS_CLOSE:
            if self.handles.pop(self._arg(arg, 0), None) is None:
                self.errno = EBADF
                return self.minus1
            return 0
        if op == SYS_WRITE:
            h, buf, n = self._arg(arg, 0), self._arg(arg, 1), self._arg(arg, 2)
            if h not in self.handles and h not in (1, 2):
                self.errno = EBADF
                return n
            try:
                data = self.read_mem(buf, n)
            except BadAddress:
                self.errno = EFAULT
                return n                        # nothing written
            self.out(data)
            return 0
        if op == SYS_READ:
            h, buf, n = self._arg(arg, 0), self._arg(arg, 1), self._arg(arg, 2)
            if h not in self.handles and h != 0:
                self.errno = EBADF
                return self.minus1
            if not self.can_write(buf, n):      # checked before any input is taken
                self.errno = EFAULT
                return n                        # nothing read
            data = self.take_input(n)
            if not data and n:
                raise NeedInput()
            self.write_mem(buf, data)
            return n - len(data)
        if op == SYS_READC:
            data = self.take_input(1)
            if not data:
                raise NeedInput()
            return data[0]
        if op == SYS_ISERROR:
            return 1 if self._arg(arg, 0) & 0x80000000 else 0
        if op == SYS_ISTTY:
            return 1 if self._arg(arg, 0) in self.handles else 0
        if op == SYS_SEEK:
            return self.minus1
        if op == SYS_FLEN:
            return 0 if self._arg(arg, 0) in self.handles else self.minus1
        if op == SYS_CLOCK:
            return (self.now_ns() // 10_000_000) & 0xFFFFFFFF     # centiseconds since reset
        if op == SYS_TIME:
            return int(time.time()) & 0xFFFFFFFF
        if op == SYS_ELAPSED:
            t = self.now_ns() // 1000
            self._put((arg, struct.pack("<Q", t)))
            return 0
        if op == SYS_TICKFREQ:
            return 1_000_000
        if op == SYS_ERRNO:
            return self.errno
        if op == SYS_GET_CMDLINE:
            buf, size = self._arg(arg, 0), self._arg(arg, 1)
            data = self.cmdline.encode() + b"\0"
            if len(data) > size:
                self.errno = E2BIG
                return self.minus1
            self._put((buf, data), (arg + self.word, (len(data) - 1).to_bytes(self.word, "little")))
            return 0
        if op == SYS_HEAPINFO:
            self._put((self._arg(arg, 0), b"".join(v.to_bytes(self.word, "little") for v in self.heapinfo)))
            return 0
        if op == SYS_EXIT and self.word == 8:          # A64/RV64: a (reason, subcode) block, as EXIT_EXTENDED
            op = SYS_EXIT_EXTENDED
        if op == SYS_EXIT:
            raise Exit(0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1)
        if op == SYS_EXIT_EXTENDED:
            reason, sub = self._arg(arg, 0), self._arg(arg, 1)
            raise Exit(sub if reason == ADP_STOPPED_APPLICATION_EXIT else 1)
        self.errno = EINVAL
        return self.minus1

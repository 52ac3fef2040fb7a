"""Readers of .mpy files, as py/persistentcode.c of MicroPython 1.18 (.mpy v5) and
1.19-1.23 (.mpy v6) loads them, for tests that take real bytecode from mpy-cross.

A v5 .mpy stores qstrs outside the bytecode (a 32-entry window), so V5Loader rebuilds
the in-memory bytecode as 1.18's loader does: 2-byte qstrs written back into it;
runtime qstrs are numbered from DYNAMIC_QSTR_BASE.  A v6 .mpy holds the bytecode as
it is in memory, plus the module's qstr and object tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.mpy.bytecode import mpy_v5


@dataclass
class RawCode:
    fun_data: bytes
    children: list = field(default_factory=list)
    const_table: list = field(default_factory=list)     # v5: arg names, objects, raw codes


@dataclass
class Module:
    mpy_version: int
    rc: RawCode
    qstrs: list = field(default_factory=list)     # v6: the qstr table; v5: dynamic qstrs (qstr 1000 + i)
    objs: list = field(default_factory=list)      # v6: the object table


class Reader:
    def __init__(self, data: bytes):
        self.data, self.p = data, 0

    def byte(self) -> int:
        self.p += 1
        return self.data[self.p - 1]

    def bytes(self, n: int) -> bytes:
        self.p += n
        return self.data[self.p - n:self.p]

    def uint(self) -> tuple[int, bytes]:
        start, v = self.p, 0
        while True:
            b = self.byte()
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v, self.data[start:self.p]


DYNAMIC_QSTR_BASE = 1000


class V5Loader:
    """1.18 py/persistentcode.c: load_raw_code, load_prelude, load_bytecode, the qstr window."""

    def __init__(self, data: bytes):
        self.r, self.module = Reader(data), Module(5, None)
        self.window, self.head = [0] * 32, 0

    def qstr(self) -> int:
        n, _ = self.r.uint()
        if n == 0:
            return self.r.byte()                    # static qstr
        if n & 1:                                   # from the window (qstr_window_access)
            i = (self.head + 32 - (n >> 1)) % 32
            q = self.window[i]
            if i > self.head:
                self.window[i:31] = self.window[i + 1:32]
                self.window[31] = self.window[0]
                i = 0
            self.window[i:self.head] = self.window[i + 1:self.head + 1]
            self.window[self.head] = q
            return q
        text = self.r.bytes(n >> 1).decode()
        if text not in self.module.qstrs:
            self.module.qstrs.append(text)
        q = DYNAMIC_QSTR_BASE + self.module.qstrs.index(text)
        self.head = (self.head + 1) % 32
        self.window[self.head] = q
        return q

    def obj(self):
        t = chr(self.r.byte())
        if t == "e":
            return ...
        n, _ = self.r.uint()
        return (t, self.r.bytes(n))

    def load(self) -> Module:
        assert self.r.bytes(2) == b"M\x05"
        self.r.bytes(2)
        self.r.uint()                               # qstr window size
        self.module.rc = self.raw_code()
        assert self.r.p == len(self.r.data)
        return self.module

    def raw_code(self) -> RawCode:
        kind_len, _ = self.r.uint()
        assert kind_len & 3 == 0, "bytecode only"
        length = kind_len >> 2
        buf = bytearray()
        _, sig = self.r.uint()
        _, size = self.r.uint()
        buf += sig + size
        # the section sizes (and the argument count) from the decoder under test: a wrong
        # decoder misreads the rest of the file, which the tests then catch
        pre = mpy_v5.PERSISTENT.prelude(bytes(buf) + bytes(1 << 16))
        for _ in range(2):
            q = self.qstr()
            buf += bytes([q & 0xFF, q >> 8])
        buf += self.r.bytes(pre.code_start - len(buf))
        while len(buf) < length:                    # load_bytecode, with mp_opcode_format
            op = self.r.byte()
            buf.append(op)
            fmt = (0x000003A4 >> (2 * (op >> 4))) & 3
            if fmt == 1:
                q = self.qstr()
                buf += bytes([q & 0xFF, q >> 8])
                continue
            if fmt == 2:
                buf += self.r.uint()[1]
            elif fmt == 3:
                buf += self.r.bytes(2)
            if op & 0x9E == 0:
                buf += self.r.bytes(1)
        assert len(buf) == length
        n_obj, _ = self.r.uint()
        n_raw, _ = self.r.uint()
        ct = [("qstr", self.qstr()) for _ in range(pre.n_pos_args + pre.n_kwonly_args)]
        ct += [("obj", self.obj()) for _ in range(n_obj)]
        rc = RawCode(bytes(buf))
        rc.children = [self.raw_code() for _ in range(n_raw)]
        rc.const_table = ct + [("child", c) for c in rc.children]
        return rc


class V6Loader:
    """1.19-1.23 py/persistentcode.c: qstr table, object table, raw codes with children."""

    def __init__(self, data: bytes):
        self.r = Reader(data)

    def obj(self):
        t = self.r.byte()
        if t <= 4:
            return ("const", t)
        n, _ = self.r.uint()
        if t == 10:
            return ("tuple", [self.obj() for _ in range(n)])
        data = self.r.bytes(n)
        if t in (5, 6):
            assert self.r.byte() == 0
        return (t, data)

    def load(self) -> Module:
        assert self.r.bytes(2) == b"M\x06"
        self.r.bytes(2)
        n_qstr, _ = self.r.uint()
        n_obj, _ = self.r.uint()
        m = Module(6, None)
        for _ in range(n_qstr):
            n, _ = self.r.uint()
            if n & 1:
                m.qstrs.append(("static", n >> 1))
            else:
                m.qstrs.append(self.r.bytes(n >> 1).decode())
                assert self.r.byte() == 0
        m.objs = [self.obj() for _ in range(n_obj)]
        m.rc = self.raw_code()
        assert self.r.p == len(self.r.data)
        return m

    def raw_code(self) -> RawCode:
        kind_len, _ = self.r.uint()
        assert kind_len & 3 == 0, "bytecode only"
        rc = RawCode(self.r.bytes(kind_len >> 3))
        if kind_len & 4:
            n, _ = self.r.uint()
            rc.children = [self.raw_code() for _ in range(n)]
        return rc


def raw_codes(rc: RawCode):
    yield rc
    for c in rc.children:
        yield from raw_codes(c)

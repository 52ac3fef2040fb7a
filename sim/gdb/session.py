"""One GDB connection's commands: packet payload in, reply payloads out.

No sockets here (server.py has them), so every command can be tried on its own.
The board is driven only through ``Machine``'s public methods: registers
(``reg``/``set_reg``), memory (``read``/``write``), ``add_breakpoint``,
``add_watchpoint``, ``step``. ``halted`` says whether GDB holds the board; the
loop that owns the board runs it only while it is False, and hands each
``StopReason`` to ``stop_reply``.

Memory: GDB may read RAM and the NOR flash and write RAM (targets.regions);
a write to flash is refused (E01), as the board refuses the guest's own stores
there; anything else (peripherals, unmapped) is E14.
"""

from __future__ import annotations

import contextlib
from typing import Callable

from . import rsp
from .targets import Arch, Region, memory_map_xml, target_xml

PACKET_SIZE = 0x4000
MONITOR_HELP = ("monitor commands: hibernate (save the interpreter to flash), power-cycle (hibernate, cut "
                "power, resume), resume (power on from the newest image), reset (the reset button), help")
MONITOR_WORDS = ("hibernate", "power-cycle", "resume", "reset")
_WATCH = {2: "write", 3: "read", 4: "access"}
_WATCH_REPLY = {"write": "watch", "read": "rwatch", "access": "awatch"}
SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11


class Session:
    def __init__(self, machine, arch: Arch, regions: list[Region], monitor: Callable[[str], str],
                 halted: bool = False):
        self.machine = machine
        self.arch = arch
        self.regions = regions
        self.monitor = monitor
        self.halted = halted
        self.no_ack = False
        self.detached = False          # D or k: the client is done; the server closes it
        self.breakpoints: dict[int, str] = {}                 # address -> "swbreak" | "hwbreak"
        self.watchpoints: set[tuple[int, int, str]] = set()   # (address, length, kind)
        self._gdb_features: set[str] = set()
        self._last_stop = f"T{SIGTRAP:02x}thread:1;"
        self._xml = {"features": {"target.xml": target_xml(arch)},
                     "memory-map": {"": memory_map_xml(regions)}}

    # -- stops ------------------------------------------------------------------------
    def stop_reply(self, reason) -> str | None:
        """The reply for a ``StopReason`` the board stopped with (None: not a stop GDB
        is told about). Halts the session."""
        kind = reason.kind
        if kind == "exit":
            self.halted = True
            return f"W{(reason.exit_status or 0) & 0xFF:02x}"
        if kind == "breakpoint":
            how = self.breakpoints.get(reason.pc, "swbreak")
            extra = f"{how}:;" if how in self._gdb_features else ""
        elif kind == "watchpoint":
            extra = f"{_WATCH_REPLY[reason.detail]}:{reason.address:x};"
        elif kind == "step":
            extra = ""
        else:
            return None
        return self._stopped(SIGTRAP, extra)

    def interrupt_reply(self) -> str:
        return self._stopped(SIGINT)

    def fault_reply(self) -> str:
        return self._stopped(SIGSEGV)

    def _stopped(self, signal: int, extra: str = "") -> str:
        self.halted = True
        self._last_stop = f"T{signal:02x}{extra}thread:1;"
        return self._last_stop

    # -- dispatch -----------------------------------------------------------------------
    def handle(self, payload: bytes) -> list[str | bytes]:
        """Replies to send, in order (none while the board runs on after ``c``)."""
        text = payload.decode("latin-1")
        for prefix, fn in self._table:
            if text.startswith(prefix):
                try:
                    return fn(self, text[len(prefix):], payload)
                except (ValueError, IndexError):
                    return ["E22"]                       # EINVAL: a malformed argument
        return [""]

    # -- registers ------------------------------------------------------------------------
    def _reg_value(self, r) -> str:
        v = self.machine.reg(r.machine_name or r.name)
        return v.to_bytes(r.bits // 8, "little" if self.arch.little_endian else "big").hex()

    def _set_reg(self, r, hexval: str) -> None:
        data = bytes.fromhex(hexval)
        if len(data) != r.bits // 8:
            raise ValueError("register width")
        v = int.from_bytes(data, "little" if self.arch.little_endian else "big")
        self.machine.set_reg(r.machine_name or r.name, v)

    def _g(self, args, raw):
        return ["".join(self._reg_value(r) for r in self.arch.regs)]

    def _G(self, args, raw):
        pos = 0
        for r in self.arch.regs:
            width = r.bits // 4
            if pos + width > len(args):
                break
            self._set_reg(r, args[pos:pos + width])
            pos += width
        return ["OK"]

    def _p(self, args, raw):
        r = self.arch.numbers.get(int(args, 16))
        return [self._reg_value(r)] if r is not None else ["E45"]

    def _P(self, args, raw):
        num, _, val = args.partition("=")
        r = self.arch.numbers.get(int(num, 16))
        if r is None:
            return ["E45"]
        self._set_reg(r, val)
        return ["OK"]

    # -- memory -------------------------------------------------------------------------------
    def _region(self, addr: int) -> Region | None:
        return next((r for r in self.regions if r.base <= addr < r.end), None)

    def _m(self, args, raw):
        a, _, n = args.partition(",")
        addr, length = int(a, 16), min(int(n, 16), (PACKET_SIZE - 8) // 2)
        out = bytearray()
        while len(out) < length:
            r = self._region(addr + len(out))
            if r is None:
                break
            chunk = min(length - len(out), r.end - (addr + len(out)))
            out += self.machine.read(addr + len(out), chunk)
        return [out.hex()] if out or length == 0 else ["E14"]

    def _write(self, addr: int, data: bytes) -> str:
        end = addr + len(data)
        pos = addr
        while pos < end:
            r = self._region(pos)
            if r is None:
                return "E14"
            if not r.writable:
                return "E01"             # flash: programmed by the flash model, never stored to
            pos = r.end
        if data:
            self.machine.write(addr, data)
        return "OK"

    def _M(self, args, raw):
        where, _, hexdata = args.partition(":")
        a, _, n = where.partition(",")
        data = bytes.fromhex(hexdata)
        if len(data) != int(n, 16):
            return ["E22"]
        return [self._write(int(a, 16), data)]

    def _X(self, args, raw):
        colon = raw.index(b":")
        a, _, n = raw[1:colon].decode("latin-1").partition(",")
        data = rsp.unescape(raw[colon + 1:])
        if len(data) != int(n, 16):
            return ["E22"]
        return [self._write(int(a, 16), data)]

    # -- breakpoints and watchpoints ---------------------------------------------------------
    def _Z(self, args, raw, insert=True):
        kind, a, length = args.split(",")[:3]
        kind, addr, length = int(kind), int(a, 16), int(length.split(";")[0], 16)
        m = self.machine
        if kind in (0, 1):
            if insert:
                m.add_breakpoint(addr)
                self.breakpoints[addr & ~1] = "swbreak" if kind == 0 else "hwbreak"
            elif self.breakpoints.pop(addr & ~1, None) is not None:
                m.remove_breakpoint(addr)
            return ["OK"]
        if kind in _WATCH:
            key = (addr, length, _WATCH[kind])
            if insert:
                m.add_watchpoint(*key)
                self.watchpoints.add(key)
            elif key in self.watchpoints:
                self.watchpoints.discard(key)
                m.remove_watchpoint(*key)
            return ["OK"]
        return [""]

    def _z(self, args, raw):
        return self._Z(args, raw, insert=False)

    def release(self) -> None:
        """Remove every breakpoint and watchpoint (GDB left); the board runs on."""
        for addr in list(self.breakpoints):
            self.machine.remove_breakpoint(addr)
        for key in list(self.watchpoints):
            self.machine.remove_watchpoint(*key)
        self.breakpoints.clear()
        self.watchpoints.clear()
        self.halted = False

    @contextlib.contextmanager
    def lifted(self):
        """Breakpoints and watchpoints out of the machine meanwhile (a monitor command
        runs the board to its safe point), back in afterwards."""
        m = self.machine
        for addr in self.breakpoints:
            m.remove_breakpoint(addr)
        for key in self.watchpoints:
            m.remove_watchpoint(*key)
        try:
            yield
        finally:
            for addr in self.breakpoints:
                m.add_breakpoint(addr)
            for key in self.watchpoints:
                m.add_watchpoint(*key)

    # -- running --------------------------------------------------------------------------------
    def _resume_at(self, args: str) -> None:
        if args:
            r = next(r for r in self.arch.regs if r.name == self.arch.pc)
            self._set_reg(r, int(args, 16).to_bytes(r.bits // 8, "little" if self.arch.little_endian else "big").hex())

    def _c(self, args, raw):
        self._resume_at(args)
        self.halted = False
        return []

    def _s(self, args, raw):
        self._resume_at(args)
        reason = self.machine.step()
        return [self.stop_reply(reason) or self.fault_reply()]

    def _C(self, args, raw):           # continue with a signal: there are no signals to deliver
        _sig, _, addr = args.partition(";")
        return self._c(addr, raw)

    def _S(self, args, raw):
        _sig, _, addr = args.partition(";")
        return self._s(addr, raw)

    def _vcont(self, args, raw):
        if args == "?":
            return ["vCont;c;C;s;S"]
        actions = [a for a in args.split(";") if a]
        if not actions:
            return ["E22"]
        act = actions[0].split(":")[0][:1]
        if act in ("s", "S"):
            return self._s("", raw)
        if act in ("c", "C"):
            return self._c("", raw)
        return [""]

    def _question(self, args, raw):
        self.halted = True
        return [self._last_stop]

    def _detach(self, args, raw):
        self.release()
        self.detached = True
        return ["OK"]

    def _kill(self, args, raw):
        """No process to kill: the board is reset and runs on (GDB closes the link)."""
        self.release()
        self.machine.reset()
        self.detached = True
        return []

    # -- queries ----------------------------------------------------------------------------------
    def _qsupported(self, args, raw):
        self._gdb_features = {f[:-1] for f in args.lstrip(":").split(";") if f.endswith("+")}
        return [f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;qXfer:memory-map:read+;"
                "swbreak+;hwbreak+;QStartNoAckMode+;vContSupported+"]

    def _qxfer(self, args, raw):
        obj, _, rest = args.partition(":")
        op, _, rest = rest.partition(":")
        annex, _, span = rest.rpartition(":")
        docs = self._xml.get(obj)
        if docs is None or op != "read":
            return [""]
        doc = docs.get(annex)
        if doc is None:
            return ["E00"]
        off, _, n = span.partition(",")
        off, n = int(off, 16), int(n, 16)
        chunk = doc[off:off + min(n, PACKET_SIZE // 2)]
        return [(b"l" if off + len(chunk) >= len(doc) else b"m") + rsp.escape(chunk)]

    def _rcmd(self, args, raw):
        line = bytes.fromhex(args).decode(errors="replace").strip()
        word = line.split()[0].lower() if line else "help"
        if word not in MONITOR_WORDS:
            text = MONITOR_HELP if word == "help" else f"unknown monitor command {word!r}; {MONITOR_HELP}"
        else:
            with self.lifted():
                text = self.monitor(word)
        return ["O" + (text.rstrip("\n") + "\n").encode().hex(), "OK"]

    def _no_ack(self, args, raw):
        self.no_ack = True
        return ["OK"]

    def _const(value):
        return lambda self, args, raw: [value]

    # Longest prefixes first where one is a prefix of another (qC vs qCRC is not served).
    _table = [
        ("qSupported", _qsupported), ("qXfer:", _qxfer), ("qRcmd,", _rcmd), ("qAttached", _const("1")),
        ("qfThreadInfo", _const("m1")), ("qsThreadInfo", _const("l")), ("qC", _const("QC1")),
        ("qSymbol", _const("OK")), ("QStartNoAckMode", _no_ack), ("vCont", _vcont),
        ("qCRC", _const("")), ("v", _const("")), ("q", _const("")), ("Q", _const("")),
        ("?", _question), ("g", _g), ("G", _G), ("p", _p), ("P", _P), ("m", _m), ("M", _M), ("X", _X),
        ("Z", _Z), ("z", _z), ("c", _c), ("s", _s), ("C", _C), ("S", _S), ("D", _detach), ("k", _kill),
        ("H", _const("OK")), ("T", _const("OK")),
    ]

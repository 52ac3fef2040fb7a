"""The stub at the byte level, over a plain socket: what GDB never sends but a
broken or hostile client might (bad checksums, garbage, oversized packets, a
hang-up mid-packet), Ctrl-C, memory rules, and that none of it stops the board."""

from __future__ import annotations

import socket
import time

import pytest

from sim.gdb import rsp


class Client:
    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def raw(self, data: bytes) -> None:
        self.s.sendall(data)

    def _fill(self) -> None:
        chunk = self.s.recv(65536)
        if not chunk:
            raise AssertionError(f"stub closed the connection (had {self.buf!r})")
        self.buf += chunk

    def ack(self) -> bytes:
        """The next '+' or '-'."""
        while not self.buf:
            self._fill()
        c, self.buf = self.buf[:1], self.buf[1:]
        assert c in (b"+", b"-"), (c, self.buf)
        return c

    def reply(self) -> bytes:
        """The next packet's payload (checksum checked, acked)."""
        while True:
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                break
            self._fill()
        assert self.buf[:start].strip(b"+") == b"", self.buf[:start]
        payload, cs = self.buf[start + 1:end], self.buf[end + 1:end + 3]
        self.buf = self.buf[end + 3:]
        assert int(cs, 16) == rsp.checksum(payload)
        self.raw(b"+")
        return payload

    def ask(self, payload: bytes) -> bytes:
        self.raw(rsp.frame(payload))
        assert self.ack() == b"+"
        return self.reply()

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def client(served):
    c = Client(served.gdb_port)
    yield c
    c.close()


def test_bad_checksum_is_naked_and_unknown_packets_get_an_empty_reply(served, client):
    client.raw(b"$g#00")
    assert client.ack() == b"-"
    assert client.ask(b"qNoSuchThing") == b""
    assert client.ask(b"jUnknown") == b""
    assert len(client.ask(b"g")) == 23 * 8                   # 23 32-bit registers, hex
    assert "bad checksum" in served.stderr()


def test_garbage_and_a_huge_packet_leave_the_stub_answering(served, client):
    client.raw(b"hello\x00\xff garbage")
    client.raw(b"$" + b"m" * 100_000 + b"#00")
    assert client.ack() == b"-"
    assert client.ask(b"?").startswith(b"T05")
    err = served.stderr()
    assert "bytes outside any packet" in err and "longer than" in err


def test_disconnect_mid_packet_removes_breakpoints_and_the_board_runs_on(served, client):
    bc = served_symbol("mp_execute_bytecode")
    assert client.ask(b"Z0,%x,2" % bc) == b"OK"
    client.raw(b"$m2000")                                  # and hang up inside the packet
    client.close()
    assert "42" in served.repl("print(6 * 7)")             # no breakpoint holds it any more
    assert "disconnected in the middle of a packet" in served.stderr()


def test_ctrl_c_stops_a_running_board_with_sigint_and_holds_it(served, client):
    assert client.ask(b"?").startswith(b"T05")
    client.raw(rsp.frame(b"c"))
    assert client.ack() == b"+"
    with socket.create_connection(("127.0.0.1", served.serial_port), timeout=10) as console:
        console.sendall(b"while True: print('tick')\r\r")
        seen = b""
        while seen.count(b"tick") < 5:                     # the program runs
            seen += console.recv(4096)
        client.raw(b"\x03")
        assert client.reply().startswith(b"T02")
        pc = int.from_bytes(bytes.fromhex(client.ask(b"pf").decode()), "little")
        assert 0 < pc < 0x400000                            # somewhere in the firmware's code
        assert _quiet(console, 0.3, give_up_s=10), "the board kept printing after the stop"
        console.settimeout(0.5)
        try:
            late = console.recv(4096)                       # held: nothing more comes
        except socket.timeout:
            late = b""
        assert late == b""
    assert client.ask(b"D") == b"OK"


def _quiet(s: socket.socket, quiet_s: float, give_up_s: float) -> bool:
    """Read until ``quiet_s`` passes with nothing (output already on its way drains)."""
    deadline = time.monotonic() + give_up_s
    s.settimeout(quiet_s)
    while time.monotonic() < deadline:
        try:
            s.recv(65536)
        except socket.timeout:
            return True
    return False


def test_flash_writes_are_refused_ram_writes_applied(served, client):
    flash = 0x6000_0000
    before = client.ask(b"m%x,4" % flash)
    assert client.ask(b"M%x,4:00000000" % flash) == b"E01"
    assert client.ask(b"X%x,4:" % flash + rsp.escape(b"\x00\x00\x00\x00")) == b"E01"
    assert client.ask(b"m%x,4" % flash) == before
    ram = 0x2030_0000                                      # far above the firmware's data
    assert client.ask(b"X%x,4:" % ram + rsp.escape(b"#$}*")) == b"OK"
    assert client.ask(b"m%x,4" % ram) == b"#$}*".hex().encode()
    assert client.ask(b"m40004000,4") == b"E14"             # a UART register: not through GDB


def test_qsupported_and_target_description(served, client):
    feats = client.ask(b"qSupported:multiprocess+;swbreak+;hwbreak+").split(b";")
    for f in (b"qXfer:features:read+", b"qXfer:memory-map:read+", b"swbreak+", b"hwbreak+"):
        assert f in feats
    xml = client.ask(b"qXfer:features:read:target.xml:0,ffff")
    assert xml.startswith(b"l") and b"org.gnu.gdb.arm.m-profile" in xml and b"org.gnu.gdb.arm.m-system" in xml
    mm = client.ask(b"qXfer:memory-map:read::0,ffff")
    assert b'<memory type="flash" start="0x60000000" length="0x800000">' in mm
    assert client.ask(b"qRcmd," + b"help".hex().encode()).startswith(b"O")


def served_symbol(name: str) -> int:
    from sim.firmware import Firmware
    from tests.conftest import FIRMWARE
    return Firmware.load(FIRMWARE).symbol(name).addr & ~1


def test_serial_input_waits_while_gdb_holds_the_board(served, client):
    assert client.ask(b"?").startswith(b"T05")            # attached: the board is held
    with socket.create_connection(("127.0.0.1", served.serial_port), timeout=10) as console:
        console.sendall(b"held = 7\r")
        console.settimeout(0.5)
        try:
            echoed = console.recv(4096)                     # the firmware would echo at once
        except socket.timeout:
            echoed = b""
        assert echoed == b""
        assert client.ask(b"D") == b"OK"                    # let go: the queued line runs
    assert "7" in served.repl("print(held)")


def test_register_write_reads_back_and_pc_keeps_thumb(served, client):
    client.ask(b"?")
    r0 = client.ask(b"p0")
    assert client.ask(b"P0=efbeadde") == b"OK"
    assert client.ask(b"p0") == b"efbeadde"
    assert client.ask(b"P0=" + r0) == b"OK"
    pc = client.ask(b"pf")
    assert client.ask(b"Pf=" + pc) == b"OK"                # written back without the Thumb bit
    assert client.ask(b"pf") == pc
    assert client.ask(b"p99") == b"E45"
    assert client.ask(b"D") == b"OK"
    assert "42" in served.repl("print(6 * 7)")              # still executes Thumb code


def test_malformed_arguments_get_an_error_not_a_crash(served, client):
    for bad in (b"Z0,xyz,2", b"m", b"mzz,4", b"P0=12", b"M20300000,4:0g", b"X20300000,4:ab", b"qRcmd,zz",
                b"qXfer:features:read:target.xml:zz", b"p"):
        assert client.ask(bad).startswith(b"E"), bad
    assert client.ask(b"qXfer:features:read:nosuch.xml:0,10") == b"E00"
    assert client.ask(b"?").startswith(b"T05")
    assert "Traceback" not in served.stderr()


def test_step_packet_and_kill_resets_the_board(served, client):
    client.ask(b"?")
    pc = client.ask(b"pf")
    assert client.ask(b"s").startswith(b"T05")
    assert client.ask(b"pf") != pc
    client.raw(rsp.frame(b"c"))
    assert client.ack() == b"+"
    served.repl("gone = 1")
    client.raw(b"\x03")
    assert client.reply().startswith(b"T02")
    client.raw(rsp.frame(b"k"))
    assert client.ack() == b"+"
    out = served.repl("print(gone)")                    # a fresh boot: the name is gone
    assert "NameError" in out

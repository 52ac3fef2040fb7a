"""gdb-multiarch (batch mode) against ``mpsim serve --board virt-rv64 --gdb`` running a
RISC-V ELF (tests/guest_rv/gdb_target.c: main calls bump() until ``released`` is
set, then prints "released" and sleeps in WFI), with its console read over TCP.

GDB must take the RV64 target description (x0-x31 under ABI names, pc, the M-mode
CSRs), break in bump, stepi one instruction, show the registers and CSRs, read
memory, stop on a write to ``counter`` with old and new values, write memory, and
detach leaving the guest running (it then prints "released")."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.guest.build import build_or_skip

from .conftest import GDB, GDB_TIMEOUT_S, Server, pc_values



@pytest.fixture(scope="module")
def target_elf(tmp_path_factory) -> Path:
    if GDB is None:
        pytest.skip("gdb-multiarch is not installed (apt-get install gdb-multiarch)")
    return build_or_skip("gdb_target", tmp_path_factory.mktemp("guest_rv"), "rv64")


@pytest.fixture(params=[[], ["--deterministic"]], ids=["host-paced", "deterministic"])
def rv_served(tmp_path, target_elf, request):
    s = Server(tmp_path, "--board", "virt-rv64", "--firmware", str(target_elf), *request.param)
    console = socket.create_connection(("127.0.0.1", s.serial_port), timeout=10)
    yield s, console
    console.close()
    s.stop()


def _gdb(port: int, elf: Path, *commands: str) -> str:
    args = [GDB, "-batch", "-nx", "-ex", "set pagination off", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args + [str(elf)], capture_output=True, timeout=GDB_TIMEOUT_S, text=True)
    return r.stdout + r.stderr


def _read_until(sock: socket.socket, marker: bytes, timeout_s: float = 30.0) -> bytes:
    buf, deadline = b"", time.monotonic() + timeout_s
    while marker not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise AssertionError(f"no {marker!r} on the console: {buf!r}") from None
        if not chunk:
            raise AssertionError(f"console closed: {buf!r}")
        buf += chunk
    return buf


def test_break_step_registers_memory_watch_write_detach(rv_served, target_elf):
    s, console = rv_served
    out = _gdb(s.gdb_port, target_elf,
               "break bump", "continue", "p/x $pc", "stepi", "p/x $pc",
               "info registers", "info registers mstatus misa mtvec mip",
               "x/2gx pattern", "p counter", "delete",
               "watch counter", "continue", "delete",
               "set var released = 1", "p released", "detach")
    assert "Traceback" not in out and "warning: Architecture rejected" not in out, out
    assert re.search(r"Breakpoint 1, bump \(step=", out), out
    pcs = pc_values(out)
    bump = int(re.search(r"Breakpoint 1 at (0x[0-9a-f]+)", out).group(1), 16)
    assert pcs[0] == bump and pcs[1] in (bump + 2, bump + 4), out          # stepi: one instruction (RVC or not)
    # Every ABI-named x register and pc, 64 bits wide; the CSRs of the csr feature.
    for name in ("ra", "sp", "gp", "tp", "t0", "fp", "s1", "a0", "a7", "s11", "t6", "pc"):
        assert re.search(rf"^{name}\s+0x[0-9a-f]+", out, re.M), (name, out)
    assert re.search(r"^sp\s+0x800[0-9a-f]{5}\s", out, re.M), out          # the stack in DRAM
    assert re.search(r"^a0\s+0x1\s+1$", out, re.M), out                    # bump(1): the argument
    assert re.search(r"^misa\s+0x8000000000101105\s+RV64ACIMU", out, re.M), out   # rv64imac + U
    assert re.search(r"^mtvec\s+0x800[0-9a-f]{5}\s", out, re.M), out       # crt0 set it to trap_entry
    assert re.search(r"^mstatus\s+0x", out, re.M) and re.search(r"^mip\s+0x", out, re.M), out
    assert re.search(r"<pattern>:\s+0x1122334455667788\s+0x99aabbccddeeff00", out), out
    m = re.search(r"Hardware watchpoint 2: counter\s+Old value = (\d+)\s+New value = (\d+)", out)
    assert m and int(m.group(2)) == int(m.group(1)) + 1, out              # bump(1): one more
    assert re.search(r"^\$\d+ = 1$", out, re.M), out                        # released, read back
    assert "[Inferior 1 (Remote target) detached]" in out, out
    assert b"released 0x0000000000000001" in _read_until(console, b"released 0x"), out   # ran on


def test_memory_map_is_the_boards_dram_and_flash(rv_served, target_elf):
    s, _console = rv_served
    out = _gdb(s.gdb_port, target_elf, "info mem", "x/2gx 0x10000000", "detach")
    # QEMU virt's DRAM from boards/virt-rv64.toml, and the NOR flash at the start of pflash bank 0.
    assert re.search(r"0x0*80000000\s+0x0*88000000\s+rw", out), out
    assert re.search(r"0x0*20000000\s+0x0*20800000\s+flash\s+blocksize 0x1000", out), out
    assert "Cannot access memory at address 0x10000000" in out, out       # the UART is not memory


def test_gdb_wait_holds_the_hart_at_its_reset_vector(tmp_path, target_elf):
    s = Server(tmp_path, "--board", "virt-rv64", "--firmware", str(target_elf), "--gdb-wait")
    try:
        console = socket.create_connection(("127.0.0.1", s.serial_port), timeout=10)
        out = _gdb(s.gdb_port, target_elf, "p/x $pc", "p/x $a0", "info symbol $pc", "break main", "continue",
                   "p counter", "delete", "set var released = 1", "detach")
        entry = int(subprocess.run(["riscv64-unknown-elf-nm", str(target_elf)], capture_output=True,
                                   text=True).stdout.split(" T _start")[0].rsplit("\n", 1)[-1], 16)
        assert pc_values(out)[:2] == [entry, 0], out               # QEMU virt -bios none: a0 = hart id 0
        assert "_start in section .text" in out and re.search(r"Breakpoint 1, main \(\)", out), out
        assert re.search(r"^\$\d+ = 0$", out, re.M), out           # held from reset: bump() never ran
        assert b"gdb target\n" in _read_until(console, b"released 0x")
        console.close()
    finally:
        s.stop()

"""A real ``mpsim serve --tcp 0 --gdb 0`` on the real firmware, Debian's
``gdb-multiarch`` in batch mode against it, and a plain socket on its console.

Every wait is bounded; the server is always stopped (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIRMWARE, require_firmware

ROOT = Path(__file__).resolve().parents[2]
MPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
GDB = shutil.which("gdb-multiarch")
SEND = Path(__file__).with_name("serial_send.py")
START_TIMEOUT_S = 60
GDB_TIMEOUT_S = 120


class Server:
    def __init__(self, tmp_path: Path, *extra: str):
        self.stderr_path = tmp_path / "serve.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([*MPSIM, "serve", "--tcp", "0", "--gdb", "0", "--flash",
                                      str(tmp_path / "flash.bin"), *extra],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.serial_port = int(self._line().rpartition(":")[2])
        self._line()                                           # control socket
        gdb = self._line()
        assert gdb.startswith("gdb:127.0.0.1:"), gdb
        self.gdb_port = int(gdb.rpartition(":")[2])

    def _line(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        buf = b""
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"mpsim serve did not start: {buf!r} {self.stderr()!r}")
            if select.select([fd], [], [], 0.5)[0]:
                buf += os.read(fd, 1)
        return buf.decode().strip()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def send_cmd(self, text: str) -> str:
        """A GDB ``shell`` command that types ``text`` on the console."""
        return f"shell {sys.executable} {SEND} {self.serial_port} '{text}'"

    def gdb(self, *commands: str) -> str:
        """Run gdb-multiarch in batch mode: attach, the commands, detach. Returns its output."""
        return run_gdb(self.gdb_port, *commands)

    def repl(self, line: str, timeout_s: float = 30.0) -> str:
        """Type ``line`` on the console; the text the REPL printed up to the next prompt."""
        with socket.create_connection(("127.0.0.1", self.serial_port), timeout=timeout_s) as s:
            s.sendall(b"\x03\r" + line.encode() + b"\r")     # Ctrl-C: stop whatever runs first
            echo = line.encode()
            out = recv_until(s, lambda b: echo in b and b.endswith(b">>> ") and b.rfind(b">>> ") > b.rfind(echo),
                             f"the echo of {echo!r} and a prompt", timeout_s)
            return out.rpartition(echo)[2].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def served(tmp_path):
    require_firmware()
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def gdb_served(served):
    if GDB is None:
        if os.environ.get("CI"):
            pytest.fail("gdb-multiarch missing in CI: tools/setup should have installed it")
        pytest.skip("gdb-multiarch is not installed (apt-get install gdb-multiarch; tools/setup does it)")
    return served


def start_with_gdb(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    """``mpsim ARGS --gdb 0 --flash ...`` (repl, run): the process and the GDB port it
    announced on stderr (``mpsim: GDB on 127.0.0.1:PORT``)."""
    require_firmware()
    if GDB is None:
        pytest.skip("gdb-multiarch is not installed")
    p = subprocess.Popen([*MPSIM, *args, "--gdb", "0", "--flash", str(tmp_path / "f.bin")], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line, deadline = b"", time.monotonic() + START_TIMEOUT_S
    while b"GDB on" not in line:
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            raise AssertionError(f"no GDB port announced: {line!r}")
        if select.select([p.stderr], [], [], 1)[0]:
            line = p.stderr.readline()
    return p, int(line.decode().strip().rpartition(":")[2])


def run_gdb(port: int, *commands: str, elf: Path = FIRMWARE) -> str:
    """gdb-multiarch in batch mode on ``elf``: attach to ``port``, the commands; its output."""
    args = [GDB, "-batch", "-nx", "-ex", "set pagination off", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args + [str(elf)], capture_output=True, timeout=GDB_TIMEOUT_S, cwd=ROOT)
    return (r.stdout + r.stderr).decode(errors="replace")


def recv_until(sock: socket.socket, until, what: str = "", timeout_s: float = 30.0) -> bytes:
    """Read the console until ``until`` (bytes) arrives, or ``until(everything read)``
    holds; fail naming ``what`` (or the bytes) was awaited."""
    if isinstance(until, bytes):
        marker, what = until, what or repr(until)

        def done(buf: bytes) -> bool:
            return marker in buf
    else:
        done = until
    buf, deadline = b"", time.monotonic() + timeout_s
    while not done(buf):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise AssertionError(f"no {what} on the console: {buf!r}") from None
        if not chunk:
            raise AssertionError(f"console closed: {buf!r}")
        buf += chunk
    return buf


def pc_values(out: str) -> list[int]:
    """Every ``pc = 0x...`` line printed by ``p/x $pc``-style commands ($N = 0x...)."""
    return [int(v, 16) for v in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.M)]

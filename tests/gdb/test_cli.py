"""``--gdb`` usage errors: one line on stderr, exit 2, nothing started."""

from __future__ import annotations

import socket
import subprocess

import pytest

from .conftest import MPSIM, ROOT
from tests.conftest import require_firmware


def _mpsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MPSIM, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [("serve", "--gdb-wait"), ("repl", "--gdb-wait"), ("run", "-c", "1", "--gdb-wait")])
def test_gdb_wait_without_gdb_is_a_usage_error(tmp_path, args):
    require_firmware()
    r = _mpsim(*args, "--flash", str(tmp_path / "f.bin"))
    assert r.returncode == 2 and r.stderr.strip() == "mpsim: --gdb-wait needs --gdb PORT", r.stderr


def test_a_busy_gdb_port_is_one_line_and_exit_2(tmp_path):
    require_firmware()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _mpsim("serve", "--tcp", "0", "--gdb", str(port), "--flash", str(tmp_path / "f.bin"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"mpsim: cannot listen for GDB on 127.0.0.1:{port}: Address already in use"


def test_a_port_out_of_range_is_refused_by_the_parser(tmp_path):
    r = _mpsim("serve", "--gdb", "70000")
    assert r.returncode == 2 and "port out of range" in r.stderr and "Traceback" not in r.stderr

"""Run a guest test program to its exit on a chosen libunicorn, in a child process
(the engine is chosen once per process, so a test under the patched engine checks
the stock one -- or the other way round -- this way)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import sys
from sim.board import load_board
from sim.firmware import Firmware
from sim.machine.machine import Machine
m = Machine(load_board(sys.argv[3]), Firmware.load(sys.argv[1]), deterministic=sys.argv[2] == "1")
r = m.run(timeout=30, stop_on_idle=False)
assert r.kind == "exit", r
sys.stdout.buffer.write(m.console.take_output())
sys.exit(r.exit_status)
"""


def run_on_engine(elf: Path, engine: str, deterministic: bool, board: str = "mps2-an385") -> subprocess.CompletedProcess:
    """Exit code = the guest's exit status; stdout = its console output (bytes)."""
    return subprocess.run([sys.executable, "-c", _CHILD, str(elf), str(int(deterministic)), board], cwd=REPO,
                          env=dict(os.environ, MPSIM_ENGINE=engine), capture_output=True, timeout=120)

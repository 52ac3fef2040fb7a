"""What the machine tests on the real MicroPython firmware share."""

from __future__ import annotations

import time

import pytest

from sim.machine.machine import Machine
from sim.paths import default_firmware

ELF = default_firmware("mps2-an385")
needs_firmware = pytest.mark.skipif(not ELF.exists(), reason=f"MicroPython firmware not built ({ELF})")
MODES = [pytest.param(False, id="hostpaced"), pytest.param(True, id="deterministic")]


def until_prompt(m: Machine, limit: float = 30.0) -> bytes:
    """Run until the console shows the friendly prompt (or ``limit`` host seconds pass)."""
    out, end = b"", time.perf_counter() + limit
    while not out.endswith(b">>> ") and time.perf_counter() < end:
        m.run(timeout=end - time.perf_counter())
        out += m.console.take_output()
    return out

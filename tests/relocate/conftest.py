"""Real heaps for the walker and relocation tests, captured from QEMU at test time.

A RAM dump holds the firmware's data, so none is committed: ``tools/dump-qemu-ram``
boots the firmware in QEMU, builds the objects (tests/relocate/state_code.py) and
saves data RAM. Tests skip with the reason when QEMU or the firmware is missing.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
from pathlib import Path

import pytest

from sim.paths import firmware_elf

REPO = Path(__file__).resolve().parents[2]
# The walker and relocation are checked here on MicroPython 1.9.2, the core they were written for
# (state_code.py's objects; the walker has no layouts yet for some 1.23 types, e.g. mp_type_range_it):
# its ELF explicitly, whatever the default firmware is.
FIRMWARE = firmware_elf("mps2-an385", "1.9.2")


def load_tool():
    path = REPO / "tools" / "dump-qemu-ram"
    loader = importlib.machinery.SourceFileLoader("dump_qemu_ram", str(path))
    spec = importlib.util.spec_from_loader("dump_qemu_ram", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def require_qemu():
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm not installed: real heaps for these tests come from QEMU")
    if not FIRMWARE.exists():
        pytest.skip(f"MicroPython 1.9.2 firmware not built ({FIRMWARE}); run: make -C firmware MPY_VERSION=1.9.2")


@pytest.fixture(scope="session")
def firmware():
    require_qemu()
    from sim.firmware import Firmware
    return Firmware.load(FIRMWARE)


@pytest.fixture(scope="session")
def qemu_capture(firmware):
    """capture(code, heap=None, steps=()) -> RamImage of data RAM at the friendly prompt."""
    tool = load_tool()
    from sim.mpy.walk import RamImage
    cache = {}

    def capture(code: str, heap=None, steps=()):
        key = (code, heap, tuple(steps))
        if key not in cache:
            base, data = tool.capture(code, FIRMWARE, heap, list(steps))
            cache[key] = (base, data)
        base, data = cache[key]
        return RamImage(base, data)
    return capture

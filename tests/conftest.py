"""Shared fixtures: the real default firmware, booted in the real emulator.

Tests that need the firmware skip with a clear reason when it has not been built
(``bash tools/setup`` builds it); CI always builds it first.
"""

from __future__ import annotations

import gc
import os

import pytest

from sim.paths import default_firmware

FIRMWARE = default_firmware("mps2-an385")


def require_firmware():
    if not FIRMWARE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"firmware {FIRMWARE} missing in CI: the setup step should have built it")
        pytest.skip(f"default firmware not built ({FIRMWARE}); run: bash tools/setup")
    return FIRMWARE


@pytest.fixture
def firmware_path():
    return require_firmware()


@pytest.fixture(scope="session", autouse=True)
def private_flash_dir(tmp_path_factory):
    """Flash images a test saves without naming a path go to this run's (and, under
    pytest-xdist, this worker's) temp folder, never into the tree's flash_images/:
    parallel workers would share, lock and overwrite one image there, and a
    developer's own saved boards would be clobbered."""
    saved = os.environ.get("MPSIM_FLASH_DIR")
    os.environ["MPSIM_FLASH_DIR"] = str(tmp_path_factory.mktemp("flash_images"))
    yield
    if saved is None:
        os.environ.pop("MPSIM_FLASH_DIR", None)
    else:
        os.environ["MPSIM_FLASH_DIR"] = saved


# A closed Machine's engine and guest RAM (~10 MB each) are freed only when Python's
# cycle collector finds them (Unicorn hooks and peripherals point back at the machine),
# and in a process as full of long-lived objects as a test run the oldest generation is
# seldom collected: a worker grew to 8 GB and was killed. Collect when resident memory
# has grown by COLLECT_GROWTH since the last collection (reading it costs microseconds).
COLLECT_GROWTH = 512 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_collected_at = [0]


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    rss = _resident_bytes()
    if rss - _collected_at[0] > COLLECT_GROWTH:
        gc.collect()
        _collected_at[0] = _resident_bytes()


# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, which
# the mpsim processes tests start would inherit: rich then cuts tables to 80 columns in a
# pipe (tests/cli/test_polish.py). Workers get the controller's values (or none) back.
_TERMINAL_ENV = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["mpsim_terminal_env"] = {k: os.environ.get(k) for k in _TERMINAL_ENV}


def pytest_configure(config):
    for name, value in getattr(config, "workerinput", {}).get("mpsim_terminal_env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

"""Shared fixtures: the real default firmware, booted in the real emulator.

Tests that need the firmware skip with a clear reason when it has not been built
(``bash tools/setup`` builds it); CI always builds it first.
"""

from __future__ import annotations

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

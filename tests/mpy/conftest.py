"""The ``mpsim`` console script as a user runs it, for the firmware-version tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MPSIM = Path(sys.executable).with_name("mpsim")


@pytest.fixture
def run(tmp_path):
    """``run(*args)``: ``mpsim ARGS`` in tmp_path with its own flash folder; the
    CompletedProcess (text)."""
    env = dict(os.environ, MPSIM_FLASH_DIR=str(tmp_path / "flash_images"), COLUMNS="200")

    def go(*args):
        return subprocess.run([str(MPSIM), *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
    return go

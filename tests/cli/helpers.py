"""Running the real ``mpsim`` console script as a user or a CI job would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MPSIM = Path(sys.executable).with_name("mpsim")
needs_console_script = pytest.mark.skipif(not MPSIM.exists(),
                                          reason=f"console script {MPSIM} not installed (pip install -e .)")


def firmwares() -> list[Path]:
    """The default firmware and any other MicroPython version built next to it
    (``firmware/build/<board>/<version>/firmware.elf``): behaviour that must hold on
    every version is tested on each one present."""
    from sim.paths import default_firmware
    default = default_firmware("mps2-an385")
    extra = sorted(default.parent.glob("*/firmware.elf"))
    return [default, *extra]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["MPSIM_FLASH_DIR"] = str(tmp_path / "flash_images")
    return e


@pytest.fixture
def mpsim(env, tmp_path):
    def run(*args, timeout: float = 120, stdin: str | None = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(MPSIM), *map(str, args)], cwd=tmp_path, env=env, input=stdin,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
    return run


def one_error_line(r: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit ``code``, no traceback, and stderr's last line is ``mpsim: ...`` naming ``words``."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == code, f"exit {r.returncode}, want {code}; stderr: {r.stderr!r}"
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("mpsim: "), r.stderr
    for w in words:
        assert w in last, f"{w!r} not in {last!r}"
    return last

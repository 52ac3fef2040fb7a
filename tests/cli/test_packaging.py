"""A wheel works away from the source tree: board files inside it, a default firmware
found or one line saying how to get one, ``mpsim --version``, ``python -m sim``.

Builds the real wheel, installs it (no network: ``--no-deps --no-index``) into a
fresh venv under tmp_path whose dependencies come from this interpreter's
site-packages (added as a plain path, so the editable mpsim there is not seen),
and runs it from a folder that is not the source tree.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sim import __version__
from tests.cli.helpers import REPO

pytestmark = pytest.mark.skipif(importlib.util.find_spec("wheel") is None,
                                reason="the 'wheel' package is needed to build one (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy of what the wheel is made of: setuptools writes build/ and *.egg-info
    # into the tree it builds, which parallel test workers (or a concurrent setup) share.
    src = tmp / "src"
    for part in ("sim", "boards"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, src / part)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300,
                           cwd=tmp)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("mpsim-*.whl"))
    v = tmp / "venv"
    # No pip inside (ensurepip is most of a venv's making): this interpreter's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v)], check=True, timeout=300)
    py = v / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps-from-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                           "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    return v


def _run(venv: Path, tmp_path: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPSIM_") and k != "PYTHONPATH"}
    env.update(HOME=str(tmp_path / "home"), **(env_extra or {}))
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def test_the_installed_package_is_the_wheels(venv, tmp_path):
    r = _run(venv, tmp_path, venv / "bin" / "python", "-c", "import sim; print(sim.__file__)")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).is_relative_to(venv), r.stdout


def test_version_from_the_script_and_python_m_sim(venv, tmp_path):
    for cmd in ([venv / "bin" / "mpsim", "--version"], [venv / "bin" / "python", "-m", "sim", "--version"]):
        r = _run(venv, tmp_path, *cmd)
        assert (r.returncode, r.stdout.strip()) == (0, f"mpsim {__version__}"), r.stderr


def test_info_and_run_with_the_shipped_board_file(venv, tmp_path, firmware_path):
    env = {"MPSIM_FIRMWARE": str(firmware_path)}
    r = _run(venv, tmp_path, venv / "bin" / "mpsim", "info", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "mps2-an385" in r.stdout
    r = _run(venv, tmp_path, venv / "bin" / "mpsim", "hibernate", "-c", "x = 6 * 7", env_extra=env)
    assert r.returncode == 0, r.stderr
    saved = tmp_path / "home" / ".local" / "share" / "mpsim" / "flash_images" / "mps2-an385.bin"
    assert saved.is_file(), "flash images go to the user's data folder, not into site-packages"
    r = _run(venv, tmp_path, venv / "bin" / "mpsim", "resume", "-c", "print(x)", env_extra=env)
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr


def test_no_firmware_is_one_line_saying_how_to_build_one(venv, tmp_path):
    r = _run(venv, tmp_path, venv / "bin" / "mpsim", "run", "-c", "print(1)")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mpsim: no firmware:") and "tools/setup" in lines[0], r.stderr

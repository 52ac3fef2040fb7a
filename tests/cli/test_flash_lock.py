"""Two real ``mpsim`` processes racing hibernates on one flash file never lose an
update silently (before the lock: 39 of 40 rounds lost one, both exiting 0).
Every update that a process reports (exit 0) is in the final image; a process
that could not have the file says who holds it, in one line, and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_firmware

MPSIM = Path(sys.executable).with_name("mpsim")
pytestmark = pytest.mark.skipif(not MPSIM.exists(), reason=f"console script {MPSIM} not installed")


@pytest.fixture
def env(tmp_path):
    require_firmware()
    return dict(os.environ, MPSIM_FLASH_DIR=str(tmp_path), COLUMNS="200")


def race(env, tmp_path, rounds: int, *extra: str) -> tuple[int, list[str]]:
    """``rounds`` times, two ``hibernate --resume -c 'n += 1'`` at once; returns (exits 0, refusals)."""
    ok, refusals = 0, []
    for _ in range(rounds):
        procs = [subprocess.Popen([str(MPSIM), "hibernate", "--resume", *extra, "-c", "n += 1"], cwd=tmp_path,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert "Traceback" not in out + err
            if p.returncode == 0:
                ok += 1
            else:
                assert p.returncode == 2, err
                lines = [line for line in err.splitlines() if line.strip()]
                assert len(lines) == 1, err
                refusals.append(lines[0])
    return ok, refusals


def final_n(env, tmp_path) -> int:
    r = subprocess.run([str(MPSIM), "resume", "-c", "print(n)"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


def test_racing_hibernates_lose_no_update(env, tmp_path):
    subprocess.run([str(MPSIM), "hibernate", "-c", "n = 0"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    ok, refusals = race(env, tmp_path, 6)
    assert final_n(env, tmp_path) == ok                     # every reported update is there
    for line in refusals:
        assert line.startswith("mpsim: flash image ") and " is in use by pid " in line
        assert "(mpsim hibernate --resume -c n += 1)" in line and "--wait-lock" in line


def test_racing_hibernates_with_wait_lock_all_succeed(env, tmp_path):
    subprocess.run([str(MPSIM), "hibernate", "-c", "n = 0"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    ok, refusals = race(env, tmp_path, 4, "--wait-lock")
    assert (ok, refusals) == (8, [])
    assert final_n(env, tmp_path) == 8


def test_flash_info_and_export_take_no_lock(env, tmp_path):
    subprocess.run([str(MPSIM), "hibernate", "-c", "n = 0"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    hold = subprocess.Popen([str(MPSIM), "repl"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"MicroPython" in hold.stdout.readline()      # booted: it holds the flash file
        r = subprocess.run([str(MPSIM), "flash", "erase"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and "is in use by pid" in r.stderr and "mpsim repl" in r.stderr
        info = subprocess.run([str(MPSIM), "flash", "info"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        exp = subprocess.run([str(MPSIM), "flash", "export", str(tmp_path / "out.bin")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
        assert exp.returncode == 0, exp.stderr
    finally:
        hold.kill()
        hold.wait(10)
    assert (tmp_path / "out.bin").read_bytes() == (tmp_path / "mps2-an385.bin").read_bytes()

"""A firmware mpsim cannot read the interpreter of is refused in one line, exit 2,
before anything boots, and the flash image already saved is left byte for byte:
an ELF without DWARF, without ``mp_state_ctx``, of a MicroPython version without a
profile (older than 1.9, or between generations), and one whose ``mp_state_ctx``
contradicts the profile its version picks. The broken ELFs are made from the real
firmware with objcopy or by rewriting its version banner (same length)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sim.firmware import Firmware
from tests.firmware_versions import firmware_for

OBJCOPY = shutil.which("arm-none-eabi-objcopy")


@pytest.fixture(scope="module")
def elf():
    return firmware_for("1.9.2")


@pytest.fixture
def saved_flash(tmp_path, run, elf):
    """A flash image holding a real hibernate image of the good firmware."""
    flash = tmp_path / "saved.bin"
    r = run("hibernate", "--firmware", elf, "--flash", flash, "-c", "x = 41")
    assert r.returncode == 0, r.stderr
    return flash, flash.read_bytes()


def refused(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mpsim: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def with_banner(src: Path, dst: Path, version: bytes) -> Path:
    raw = src.read_bytes()
    old = b"MicroPython v" + ".".join(map(str, Firmware.load(src).micropython_version)).encode()
    assert len(version) == len(old) - len(b"MicroPython v") and raw.count(old) >= 1
    dst.write_bytes(raw.replace(old, b"MicroPython v" + version))
    return dst


def objcopy(src: Path, dst: Path, *args: str) -> Path:
    if OBJCOPY is None:
        pytest.skip("arm-none-eabi-objcopy not installed")
    subprocess.run([OBJCOPY, *args, str(src), str(dst)], check=True)
    return dst


def broken(kind: str, elf: Path, tmp: Path) -> tuple[Path, tuple[str, ...]]:
    if kind == "no-dwarf":
        return objcopy(elf, tmp / "nodwarf.elf", "--strip-debug"), ("debug info",)
    if kind == "no-mp_state_ctx":
        return objcopy(elf, tmp / "noctx.elf", "--redefine-sym", "mp_state_ctx=not_the_ctx"), ("mp_state_ctx",)
    if kind == "too-old":
        return with_banner(elf, tmp / "old.elf", b"1.8.2"), ("1.8.2", "older than 1.9")
    if kind == "no-profile":
        return with_banner(elf, tmp / "mid.elf", b"1.12."), ("1.12", "no profile")
    if kind == "contradicts-profile":
        # a 1.9 interpreter claiming to be 1.23: its mp_state_ctx has no mem.area
        return with_banner(elf, tmp / "liar.elf", b"1.23."), ("mem.area", "1.20 profile")
    raise AssertionError(kind)


KINDS = ("no-dwarf", "no-mp_state_ctx", "too-old", "no-profile", "contradicts-profile")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["hibernate", "resume", "power-cycle"])
def test_unreadable_firmware_is_refused_and_the_saved_image_kept(kind, command, elf, tmp_path, run, saved_flash):
    flash, before = saved_flash
    bad, words = broken(kind, elf, tmp_path)
    r = run(command, "--firmware", bad, "--flash", flash, "-c", "x = 1")
    refused(r, *words)
    assert flash.read_bytes() == before


@pytest.mark.parametrize("kind", KINDS)
def test_info_says_why_the_firmware_cannot_hibernate(kind, elf, tmp_path, run):
    bad, words = broken(kind, elf, tmp_path)
    r = run("info", "--firmware", bad)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if "hibernate" in line and "no:" in line)
    assert all(w in r.stdout for w in words[:1]), line

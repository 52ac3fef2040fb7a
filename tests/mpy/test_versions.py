"""Version profiles on real firmware: the version is read from each ELF, the right
profile is picked and agrees with the DWARF; a firmware newer than the newest
profile is used with it when its DWARF confirms the layout (it hibernates); a
hook-free ("third-party") firmware hibernates but refuses relocation in one line."""

from __future__ import annotations

import pytest

from sim.firmware import Firmware
from sim.mpy import profiles
from sim.mpy.support import support
from tests.firmware_versions import ALL, PLAIN, firmware_for, selected

PROFILE_OF = {"1.9": "1.9", "1.18": "1.18", "1.19": "1.19", "1.20": "1.20+", "1.22": "1.20+", "1.23": "1.20+"}


@pytest.mark.parametrize("version", selected(ALL))
def test_each_firmware_names_its_version_and_profile(version):
    fw = Firmware.load(firmware_for(version))
    major_minor = ".".join(version.split("-")[0].split(".")[:2])
    assert ".".join(map(str, fw.micropython_version[:2])) == major_minor
    s = support(fw)
    assert s.profile == PROFILE_OF[major_minor]
    assert s.hibernate is None
    if version in PLAIN:
        assert s.restore_point == "pyexec_friendly_repl" and s.boot_params and s.relocation
    else:
        assert s.restore_point == "mpsim_restore_point" and s.boot_params is None and s.relocation is None


def test_versions_without_a_profile_are_refused_by_name():
    with pytest.raises(Exception, match="older than 1.9"):
        profiles.for_version((1, 8, 7))
    with pytest.raises(Exception, match="1.12.0 has no profile"):
        profiles.for_version((1, 12, 0))
    assert profiles.for_version((1, 30, 1)).name == "1.20"


def test_a_newer_firmware_whose_dwarf_agrees_uses_the_newest_profile(tmp_path, run):
    src = firmware_for("1.23")
    raw = src.read_bytes()
    assert b"MicroPython v1.23.0" in raw
    newer = tmp_path / "newer.elf"
    newer.write_bytes(raw.replace(b"MicroPython v1.23.0", b"MicroPython v1.99.0"))
    fw = Firmware.load(newer)
    assert fw.micropython_version == (1, 99, 0) and support(fw).profile == "1.20+"
    flash = tmp_path / "f.bin"
    r = run("hibernate", "--firmware", newer, "--flash", flash, "-c", "kept = [1, 'two', 3.0]")
    assert r.returncode == 0, r.stderr
    r = run("resume", "--firmware", newer, "--flash", flash, "-c", "print(kept)")
    assert r.returncode == 0 and "[1, 'two', 3.0]" in r.stdout, r.stderr


@pytest.mark.parametrize("version", selected(PLAIN))
def test_hook_free_firmware_hibernates_in_place_and_refuses_relocation(version, tmp_path, run):
    elf = firmware_for(version)
    flash = tmp_path / "f.bin"
    r = run("hibernate", "--firmware", elf, "--flash", flash, "-c", "kept = {'k': [1, 2]}")
    assert r.returncode == 0, r.stderr
    saved = flash.read_bytes()
    r = run("resume", "--firmware", elf, "--flash", flash, "--heap-size", "256K", "-c", "print(kept)")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("mpsim: "), r.stderr
    assert "mpsim_boot_params" in lines[0] and "Traceback" not in r.stderr
    assert flash.read_bytes() == saved
    r = run("resume", "--firmware", elf, "--flash", flash, "-c", "print(kept)")
    assert r.returncode == 0 and "{'k': [1, 2]}" in r.stdout, r.stderr

"""``mpsim resume --firmware NEW.elf`` after a firmware update, as a user runs it."""

from __future__ import annotations

from tests.cli.helpers import env, mpsim, needs_console_script  # noqa: F401 - fixtures
from tests.firmware_versions import firmware_for


@needs_console_script
def test_resume_on_new_firmware_migrates_and_says_so_in_one_line(mpsim, tmp_path):  # noqa: F811
    flash = tmp_path / "f.bin"
    old, new = firmware_for("1.22"), firmware_for("1.23")
    r = mpsim("hibernate", "--firmware", old, "--flash", flash, "-c", "x = [1, 'abc', 2**70]; y = {'k': x}")
    assert r.returncode == 0, r.stderr
    r = mpsim("resume", "--firmware", new, "--flash", flash, "-c", "print(x, y['k'] is x)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("[1, 'abc', 1180591620717411303424] True")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("migrated image")]
    assert len(lines) == 1
    assert "from 1.22/firmware.elf (MicroPython 1.22" in lines[0] and "to 1.23/firmware.elf (MicroPython 1.23" in lines[0]
    assert "qstrs re-interned" in lines[0] and "ms host" in lines[0]
    info = mpsim("flash", "info", "--flash", flash)
    assert "MicroPython 1.22.2" in info.stdout and "MicroPython 1.23.0" in info.stdout
    # back to the older firmware: refused in one line, exit 2, nothing written
    saved = flash.read_bytes()
    r = mpsim("resume", "--firmware", old, "--flash", flash, "-c", "print(x)")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "mpsim: cannot migrate from MicroPython 1.23 down to 1.22: a downgrade (the older firmware may lack types, "
        "builtins and layouts the state uses)"]
    assert flash.read_bytes() == saved

"""Bad input everywhere a user can type, through the real ``mpsim`` console script.

Every case runs ``mpsim`` as a subprocess, as a user would, and checks the CLI
contract (sim/cli.py, issue 5):

- a user error is ONE line on stderr starting ``mpsim:`` (argparse's usage line +
  ``mpsim: error:`` for bad usage), exit 2 for bad usage/input, 1 for a failure;
- no Python traceback anywhere in the output;
- nothing already saved is overwritten: the flash image's bytes are compared
  before and after every refused command that names one.

Flash images live in a per-test ``MPSIM_FLASH_DIR``, never in ``flash_images/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_firmware
from tests.guest.build import build_or_skip

REPO = Path(__file__).resolve().parents[2]
MPSIM = Path(sys.executable).with_name("mpsim")
BOARD_TOML = REPO / "boards" / "mps2-an385.toml"
FLASH_SIZE = 0x80_0000

pytestmark = pytest.mark.skipif(not MPSIM.exists(), reason=f"console script {MPSIM} not installed (pip install -e .)")


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["MPSIM_FLASH_DIR"] = str(tmp_path / "flash_images")
    e["COLUMNS"] = "200"
    return e


@pytest.fixture
def mpsim(env, tmp_path):
    def run(*args: str, timeout: float = 120, stdin: str | None = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(MPSIM), *map(str, args)], cwd=tmp_path, env=env, input=stdin,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
    return run


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stdout + r.stderr, f"traceback:\n{r.stderr}"


def user_error(r: subprocess.CompletedProcess, code: int = 2, *words: str) -> str:
    """One ``mpsim: ...`` line on stderr, exit ``code``; returns the message."""
    no_traceback(r)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, f"exit {r.returncode}, want {code}; stderr: {r.stderr!r}"
    assert len(lines) == 1, f"want one stderr line, got {len(lines)}: {r.stderr!r}"
    msg = lines[0]
    assert msg.startswith("mpsim: "), msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def usage_error(r: subprocess.CompletedProcess, *words: str) -> None:
    """argparse: ``usage: mpsim ...`` then ``mpsim...: error: ...``, exit 2."""
    no_traceback(r)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("usage: mpsim"), r.stderr
    assert lines[-1].startswith("mpsim") and ": error: " in lines[-1], r.stderr
    for w in words:
        assert w in lines[-1], f"{w!r} not in {lines[-1]!r}"


@pytest.fixture
def firmware():
    return require_firmware()


@pytest.fixture
def flash_file(tmp_path):
    """A full-size flash image with recognisable non-erased content (not a valid hibernate image)."""
    p = tmp_path / "mine.bin"
    data = bytearray(b"\xff") * FLASH_SIZE
    data[0:16] = b"user data here!!"
    data[0x40_0000:0x40_0010] = b"not an image....."[:16]
    p.write_bytes(bytes(data))
    return p


def arm_guest(tmp_path: Path) -> Path:
    """A tiny ARM ELF that is not MicroPython: prints a line, exits with status 7."""
    return build_or_skip("hello", tmp_path)


def stripped_firmware(tmp_path: Path, firmware: Path) -> Path:
    if shutil.which("arm-none-eabi-strip") is None:
        pytest.skip("arm-none-eabi-strip not installed")
    out = tmp_path / "nodebug.elf"
    subprocess.run(["arm-none-eabi-strip", "--strip-debug", "-o", str(out), str(firmware)], check=True)
    return out


# -- firmware ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["run", "-c", "1"], ["hibernate"], ["resume"], ["info"], ["power-cycle"],
                                 ["repl"], ["snapshot", "save", "s.snap"]])
def test_missing_firmware(mpsim, cmd):
    r = mpsim(*cmd[:1], *cmd[1:], "--firmware", "no/such/firmware.elf")
    user_error(r, 2, "firmware not found", "no/such/firmware.elf")


def test_firmware_is_a_directory(mpsim, tmp_path):
    (tmp_path / "fw").mkdir()
    user_error(mpsim("run", "--firmware", "fw", "-c", "1"), 2, "directory")
    user_error(mpsim("info", "--firmware", "fw"), 2, "directory")


@pytest.mark.parametrize("content", [b"", b"hello\n", b"\x7fEL", b"MZ\x90\x00" + bytes(100)],
                         ids=["empty", "text", "short-magic", "pe-exe"])
def test_not_an_elf(mpsim, tmp_path, content):
    (tmp_path / "fw.elf").write_bytes(content)
    user_error(mpsim("run", "--firmware", "fw.elf", "-c", "1"), 2, "not an ELF", "fw.elf")


@pytest.mark.parametrize("size", [20, 52, 4096, 100_000])
def test_truncated_elf(mpsim, tmp_path, firmware, size):
    (tmp_path / "cut.elf").write_bytes(firmware.read_bytes()[:size])
    user_error(mpsim("run", "--firmware", "cut.elf", "-c", "1"), 2, "not a valid ELF", "cut.elf")


def test_x86_64_elf(mpsim):
    ls = Path("/bin/ls").resolve()
    if not ls.read_bytes()[:4] == b"\x7fELF":
        pytest.skip("/bin/ls is not an ELF here")
    for cmd in (["run", "-c", "1"], ["hibernate"], ["info"]):
        user_error(mpsim(cmd[0], "--firmware", str(ls), *cmd[1:]), 2, "not a little-endian 32-bit ARM (Cortex-M) or 64-bit RISC-V")


def test_firmware_for_the_other_architecture(mpsim, tmp_path):
    """An ARM ELF on the RISC-V board, and the other way round: refused by name."""
    rv = build_or_skip("traps", tmp_path, "rv64")
    user_error(mpsim("run", "--board", "virt-rv64", "--firmware", arm_guest(tmp_path), "-c", "1"), 2,
               "not built for board virt-rv64's rv64imac")
    user_error(mpsim("run", "--firmware", rv, "-c", "1"), 2, "not built for board mps2-an385's cortex-m3")


def test_arm_elf_that_is_not_micropython(mpsim, tmp_path, flash_file):
    elf = arm_guest(tmp_path)
    before = flash_file.read_bytes()
    for cmd in (["hibernate"], ["resume"], ["power-cycle"], ["heap"], ["soak", "--cycles", "1"], ["power-loss"],
                ["demo"]):
        r = mpsim(*cmd, "--firmware", elf, "--flash", flash_file)
        user_error(r, 2, elf.name, "no mp_state_ctx")
        assert flash_file.read_bytes() == before, f"{cmd} changed the flash image"
    r = mpsim("run", "--hibernate", "--firmware", elf, "--flash", flash_file, "-c", "1")
    user_error(r, 2, "no mp_state_ctx")
    # run is allowed to run it: the firmware prints and exits before any prompt.
    r = mpsim("run", "--timeout", "5", "--firmware", elf, "--flash", flash_file, "-c", "print(1)")
    assert "hello from guest" in r.stdout
    user_error(r, 1, "exited (status 7)", "nothing was run")
    assert flash_file.read_bytes() == before
    # an interactive session on it ends when the firmware exits, with its status
    r = mpsim("repl", "--firmware", elf, "--flash", flash_file, timeout=60)
    no_traceback(r)
    assert r.returncode == 7 and "hello from guest" in r.stdout and "exited with status 7" in r.stdout
    r = mpsim("info", "--firmware", elf)
    no_traceback(r)
    assert r.returncode == 0


def test_micropython_without_debug_info(mpsim, tmp_path, firmware, flash_file):
    elf = stripped_firmware(tmp_path, firmware)
    before = flash_file.read_bytes()
    for cmd in (["hibernate", "-c", "x = 1"], ["resume"], ["power-cycle"], ["run", "--hibernate", "-c", "1"],
                ["heap"], ["power-loss"]):
        r = mpsim(*cmd, "--firmware", elf, "--flash", flash_file)
        user_error(r, 2, "nodebug.elf", "no debug info")
        assert flash_file.read_bytes() == before, f"{cmd} changed the flash image"
    r = mpsim("run", "--firmware", elf, "--flash", flash_file, "-c", "print(6 * 7)")
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr
    assert flash_file.read_bytes() == before


# -- boards ---------------------------------------------------------------------------------------------
def board_variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = BOARD_TOML.read_text()
    assert old in text, old
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def test_unknown_board(mpsim):
    for cmd in (["run", "-c", "1"], ["info"], ["flash", "info"], ["hibernate"]):
        user_error(mpsim(*cmd[:1], *cmd[1:], "--board", "no-such-board"), 2, "unknown board", "no-such-board",
                   "mps2-an385")


@pytest.mark.parametrize("name, old, new, words", [
    ("syntax.toml", "[[memory]]", "[[memory]", ["malformed TOML", "line"]),
    ("unknown-key.toml", 'cpu = "cortex-m3"', 'cpu = "cortex-m3"\nfrobulate = 3', ["unknown key 'frobulate'"]),
    ("unknown-setting.toml", "sector_size = 4096", "sector_size = 4096\nsector_sise = 1",
     ["unknown key 'sector_sise'"]),
    ("setting-type.toml", "hibernate_size = 0x0040_0000", 'hibernate_size = "big"', ["'hibernate_size' must be int"]),
    ("value-type.toml", "clock_hz = 25_000_000", 'clock_hz = "fast"', ["'clock_hz' must be int"]),
    ("bad-cpu.toml", 'cpu = "cortex-m3"', 'cpu = "cortex-m33"', ["cortex-m33", "not supported"]),
    ("overlap.toml", "base = 0x4000_1000", "base = 0x4000_0000", ["overlaps"]),
    ("console-type.toml", 'type = "cmsdk_uart"', 'type = "cmsdk_uartt"', ["console", "cmsdk_uartt"]),
    ("geometry.toml", "sector_size = 4096", "sector_size = 4000", ["sector_size", "power of two"]),
    ("missing-key.toml", "num_irq = 32", "", ["missing key 'num_irq'"]),
    # numbers the machine computes with, and what a CPU cannot do without (each a traceback before)
    ("clock0.toml", "clock_hz = 25_000_000", "clock_hz = 0", ["clock_hz must be 1.."]),
    ("irq-range.toml", "irq = { timer = 8 }", "irq = { timer = 32 }", ["irq timer = 32 is not below num_irq"]),
    ("num-irq0.toml", "num_irq = 32", "num_irq = 0", ["num_irq must be 1..496"]),
    ("num-irq-huge.toml", "num_irq = 32", "num_irq = 1_000_000_000", ["num_irq must be 1..496"]),
    ("no-console.toml", "console = true", "console = false", ["no peripheral is marked console"]),
    ("no-scs.toml", 'type = "scs"', 'type = "mps2_fpgaio"', ["needs its system block", "scs"]),
    ("escape.toml", 'name = "mps2-an385"', 'name = "../x"', ["board name '../x' is not a valid name"]),
    ("deep.toml", 'description = "', 'nest = ' + "[" * 50_000 + "]" * 50_000 + '\ndescription = "',
     ["nested too deeply"]),
])
def test_malformed_board_file(mpsim, tmp_path, flash_file, name, old, new, words):
    path = board_variant(tmp_path, name, old, new)
    before = flash_file.read_bytes()
    for cmd in (["run", "-c", "1"], ["flash", "info"], ["hibernate"]):
        r = mpsim(*cmd[:1], *cmd[1:], "--board", path, "--flash", flash_file)
        user_error(r, 2, *words)
    if name not in ("geometry.toml", "no-scs.toml"):      # a flash / a second fpgaio is not info's to build
        user_error(mpsim("info", "--board", path), 2, *words)
    assert flash_file.read_bytes() == before


def test_board_file_unreadable(mpsim, tmp_path):
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    user_error(mpsim("run", "--board", "missing.toml", "-c", "1"), 2, "not found", "missing.toml")
    user_error(mpsim("run", "--board", "dir.toml", "-c", "1"), 2, "dir.toml")
    user_error(mpsim("run", "--board", "binary.toml", "-c", "1"), 2, "binary.toml")


# -- flash images --------------------------------------------------------------------------------------
WRONG_SIZE_COMMANDS = [
    ["run", "-c", "1"], ["hibernate", "-c", "x = 1"], ["resume"], ["power-cycle"], ["repl"],
    ["snapshot", "save", "s.snap"], ["flash", "info"], ["flash", "erase"], ["flash", "export", "out.bin"],
    ["flash", "import", "in.bin"],
]


@pytest.mark.parametrize("size", [0, 1000, FLASH_SIZE - 1, FLASH_SIZE + 4096])
def test_flash_image_of_wrong_size_is_refused_and_untouched(mpsim, tmp_path, size):
    img = tmp_path / "odd.bin"
    img.write_bytes(os.urandom(size))
    (tmp_path / "in.bin").write_bytes(b"\x00" * 64)
    before = img.read_bytes()
    cmds = WRONG_SIZE_COMMANDS if size == 1000 else WRONG_SIZE_COMMANDS[:2] + WRONG_SIZE_COMMANDS[6:8]
    for cmd in cmds:
        sub = cmd[:2] if cmd[0] in ("flash", "snapshot") else cmd[:1]
        r = mpsim(*sub, "--flash", img, *cmd[len(sub):])
        user_error(r, 2, str(size), str(FLASH_SIZE), "odd.bin")
        assert img.read_bytes() == before, f"{cmd} changed the refused flash image"
    assert not (tmp_path / "out.bin").exists() and not (tmp_path / "s.snap").exists()


def test_flash_image_unreadable(mpsim, tmp_path):
    # We may run as root (chmod 000 would not stop us): a directory is unreadable as a file for anyone.
    (tmp_path / "img.bin").mkdir()
    for cmd in (["run", "-c", "1"], ["resume"], ["flash", "info"], ["flash", "erase"]):
        sub = cmd[:2] if cmd[0] == "flash" else cmd[:1]
        r = mpsim(*sub, "--flash", "img.bin", *cmd[len(sub):])
        user_error(r, 2, "img.bin")
    assert (tmp_path / "img.bin").is_dir()


def test_resume_with_erased_flash_boots_fresh(mpsim, tmp_path, firmware):
    img = tmp_path / "f.bin"
    r = mpsim("flash", "erase", "--flash", img)
    assert r.returncode == 0, r.stderr
    r = mpsim("resume", "--flash", img, "-c", "print('fresh', 6 * 7)")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fresh 42\n"
    lines = r.stderr.splitlines()
    assert lines == ["no valid hibernate image: booting fresh"], lines


def test_resume_with_garbage_flash_boots_fresh(mpsim, tmp_path, firmware):
    img = tmp_path / "f.bin"
    img.write_bytes(os.urandom(FLASH_SIZE))
    before = img.read_bytes()
    r = mpsim("resume", "--flash", img, "-c", "print('fresh')")
    no_traceback(r)
    assert r.returncode == 0 and r.stdout == "fresh\n", r.stderr
    assert r.stderr.splitlines()[-1] == "no valid hibernate image: booting fresh"
    for line in r.stderr.splitlines()[:-1]:       # one line per slot skipped, naming why
        assert line.startswith("skipped slot "), line
    assert img.read_bytes() == before


def test_image_from_another_firmware_is_skipped_and_kept(mpsim, tmp_path, firmware):
    """Resume with a firmware the image cannot move to (written by 1.9.2, resumed on the
    default 1.23: no migration path between those bytecode generations): the image is
    skipped with a one-line reason, the board boots fresh, the image survives. (Another
    build of the same version migrates instead: tests/portable.)"""
    from tests.firmware_versions import firmware_for
    old = firmware_for("1.9.2")
    if old.resolve() == firmware.resolve():
        pytest.skip("the default firmware is 1.9.2 itself")
    img = tmp_path / "f.bin"
    assert mpsim("hibernate", "--flash", img, "--firmware", old, "-c", "k = 42").returncode == 0
    before = img.read_bytes()
    r = mpsim("resume", "--flash", img, "-c", "print('k' in globals())")
    no_traceback(r)
    assert (r.returncode, r.stdout) == (0, "False\n"), r.stderr
    lines = r.stderr.splitlines()
    assert any(line.startswith("skipped slot 0 (image #1): ") and "firmware" in line for line in lines), lines
    assert lines[-1] == "no valid hibernate image: booting fresh", lines
    assert img.read_bytes() == before
    r = mpsim("resume", "--flash", img, "--firmware", old, "-c", "print(k)")
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr


@pytest.mark.parametrize("name, content, words", [
    ("garbage.hex", b":garbage\nnot hex at all\n", ["not a valid Intel HEX"]),
    ("short.hex", b":10000000FFFFFFFF\n", ["not a valid Intel HEX"]),
    ("badtype.hex", b":0400000A00000000F2\n:00000001FF\n", ["not a valid Intel HEX"]),
    ("binary.hex", bytes(range(256)), ["not a valid Intel HEX"]),
    ("outside.hex", b":0400000001020304F2\n:00000001FF\n", ["outside", "0x60000000"]),
    ("huge.bin", None, ["bytes", str(FLASH_SIZE)]),
    ("data.txt", b"hello", ["unknown format"]),
    ("missing.hex", "missing", ["cannot read", "missing.hex"]),
])
def test_flash_import_bad_file_changes_nothing(mpsim, tmp_path, flash_file, name, content, words):
    src = tmp_path / name
    if content is None:
        src.write_bytes(b"\0" * (FLASH_SIZE + 1))
    elif content != "missing":
        src.write_bytes(content)
    before = flash_file.read_bytes()
    r = mpsim("flash", "import", "--flash", flash_file, name)
    user_error(r, 2, *words)
    assert flash_file.read_bytes() == before


def test_flash_export_needs_an_image(mpsim, tmp_path):
    r = mpsim("flash", "export", "--flash", "none.bin", "out.bin")
    user_error(r, 2, "no flash image", "none.bin")
    assert not (tmp_path / "none.bin").exists() and not (tmp_path / "out.bin").exists()


# -- scripts and snapshots -----------------------------------------------------------------------------
def test_script_missing_or_not_text(mpsim, tmp_path, flash_file):
    (tmp_path / "latin1.py").write_bytes(b'print("caf\xe9")\n')
    (tmp_path / "pkg").mkdir()
    before = flash_file.read_bytes()
    for cmd in ("run", "hibernate", "resume", "power-cycle"):
        user_error(mpsim(cmd, "--flash", flash_file, "nope.py"), 2, "cannot read script nope.py: file not found")
        user_error(mpsim(cmd, "--flash", flash_file, "latin1.py"), 2, "latin1.py", "UTF-8")
        user_error(mpsim(cmd, "--flash", flash_file, "pkg"), 2, "script pkg is a directory, not a regular file")
        assert flash_file.read_bytes() == before, cmd
    user_error(mpsim("run"), 2, "nothing to run")


@pytest.mark.parametrize("ctl", ["\x01", "\x02", "\x03", "\x04"])
def test_script_with_a_raw_repl_control_character(mpsim, tmp_path, flash_file, ctl):
    """The raw REPL reads Ctrl-A..D as commands: such a script would be cut short or garbled."""
    (tmp_path / "ctl.py").write_text(f'print(1)\nprint("a{ctl}b")\n')
    before = flash_file.read_bytes()
    for cmd in ("hibernate",):      # `run` sends code as a string literal: tests/cli/test_run.py
        user_error(mpsim(cmd, "--flash", flash_file, "ctl.py"), 2, "ctl.py: line 2", "control character")
        user_error(mpsim(cmd, "--flash", flash_file, "-c", "x = 1", "-c", f"y = '{ctl}'"), 2, "-c #2: line 1")
    assert flash_file.read_bytes() == before


def test_snapshot_load_of_a_non_snapshot(mpsim, tmp_path, firmware, flash_file):
    (tmp_path / "empty.snap").write_bytes(b"")
    (tmp_path / "text.snap").write_text("hello")
    (tmp_path / "dir.snap").mkdir()
    before = flash_file.read_bytes()
    user_error(mpsim("snapshot", "load", "--flash", flash_file, "nope.snap"), 2, "cannot read snapshot")
    user_error(mpsim("snapshot", "load", "--flash", flash_file, "dir.snap"), 2, "snapshot dir.snap is a directory")
    user_error(mpsim("snapshot", "load", "--flash", flash_file, "empty.snap"), 2, "not an mpsim snapshot")
    user_error(mpsim("snapshot", "load", "--flash", flash_file, "text.snap"), 2, "not an mpsim snapshot")
    user_error(mpsim("snapshot", "load", "--flash", flash_file, str(firmware)), 2, "not an mpsim snapshot")
    assert flash_file.read_bytes() == before


def test_snapshot_load_of_a_damaged_snapshot(mpsim, tmp_path, firmware, flash_file):
    import json
    import struct
    r = mpsim("snapshot", "save", "--flash", flash_file, "good.snap", "-c", "x = 5")
    assert r.returncode == 0, r.stderr
    before = flash_file.read_bytes()
    good = (tmp_path / "good.snap").read_bytes()
    magic = len(b"MPSIMSNAP1")
    (n,) = struct.unpack_from("<I", good, magic)
    header, body = good[magic + 4:magic + 4 + n], good[magic + 4 + n:]

    def with_header(h: bytes) -> bytes:
        return good[:magic] + struct.pack("<I", len(h)) + h + body

    no_blobs = json.loads(header)
    del no_blobs["blobs"]
    other_fw = json.loads(header)
    other_fw["firmware"] = "0" * 64
    cases = {
        "cut.snap": (good[:len(good) // 2], "corrupt"),
        "header.snap": (with_header(b"x" * n), "header is corrupt"),
        "biglen.snap": (good[:magic] + b"\xff\xff\xff\xff" + good[magic + 4:], "corrupt"),
        "noblobs.snap": (with_header(json.dumps(no_blobs).encode()), "snapshot"),
        "list.snap": (with_header(b"[1, 2]"), "snapshot"),
        "otherfw.snap": (with_header(json.dumps(other_fw).encode()), "another firmware"),
    }
    for name, (data, word) in cases.items():
        (tmp_path / name).write_bytes(data)
        r = mpsim("snapshot", "load", "--flash", flash_file, name, "-c", "print(x)")
        user_error(r, 2, name, word)
        assert flash_file.read_bytes() == before, name


def test_snapshot_load_keeps_the_flash_image_saved_since(mpsim, tmp_path, firmware):
    """An older snapshot must not silently roll back hibernate images saved after it."""
    img = tmp_path / "f.bin"
    assert mpsim("hibernate", "--flash", img, "-c", "v = 1").returncode == 0
    assert mpsim("snapshot", "save", "--flash", img, "s.snap").returncode == 0
    assert mpsim("hibernate", "--resume", "--flash", img, "-c", "v = 2").returncode == 0
    newer = img.read_bytes()
    r = mpsim("snapshot", "load", "--flash", img, "s.snap", "-c", "print('loaded')")
    no_traceback(r)
    assert (r.returncode, r.stdout) == (0, "loaded\n"), r.stderr
    assert "kept the flash image" in r.stderr and "--with-flash" in r.stderr
    assert img.read_bytes() == newer
    assert mpsim("resume", "--flash", img, "-c", "print(v)").stdout == "2\n"
    r = mpsim("snapshot", "load", "--with-flash", "--flash", img, "s.snap", "-c", "print('loaded')")
    assert r.returncode == 0 and img.read_bytes() != newer            # asked for: the snapshot's flash
    assert mpsim("resume", "--flash", img, "-c", "print(v)").stdout == "1\n"


# -- usage ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["frobnicate"], ["invalid choice", "frobnicate"]),
    (["run", "--bogus", "-c", "1"], ["unrecognized arguments", "--bogus"]),
    (["run", "--heap-size", "lots", "-c", "1"], ["not a size", "lots"]),
    (["run", "--timeout", "soon", "-c", "1"], ["--timeout", "soon"]),
    (["power-cycle", "--cut-at", "x"], ["--cut-at", "x"]),
    (["flash"], ["required", "ACTION"]),
    (["flash", "wipe"], ["invalid choice", "wipe"]),
    (["flash", "export"], ["required", "file"]),
    (["snapshot", "load"], ["required", "file"]),
    (["info", "--firmware"], ["--firmware", "expected one argument"]),
])
def test_bad_usage(mpsim, args, words):
    usage_error(mpsim(*args), *words)


def test_heap_svg_to_an_impossible_path(mpsim, tmp_path, flash_file):
    (tmp_path / "adir").mkdir()
    for target in ("no/such/folder/map.svg", "adir"):
        user_error(mpsim("heap", "--flash", flash_file, "--svg", target, "-c", "x = 1"), 2, "cannot write", target)


def test_snapshot_save_to_an_impossible_path(mpsim, tmp_path, flash_file):
    (tmp_path / "adir").mkdir()
    for target in ("no/such/folder/m.snap", "adir"):
        user_error(mpsim("snapshot", "save", "--flash", flash_file, target), 2, "cannot write snapshot", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "mine.bin"]     # no temporary files left


@pytest.mark.parametrize("args, words", [
    (["--heap-base", "0xFFFF0000", "--heap-size", "64K"], ["outside the 32-bit address space"]),
    (["--heap-base", "-16"], ["outside the 32-bit address space"]),
    (["--heap-base", "0x20100001"], ["multiples of 16"]),
    (["--heap-base", "0x0", "--heap-size", "64K"], ["refused heap 0x0..0x10000", "static heap"]),
    (["--heap-size", "100M"], ["refused heap", "static heap"]),
])
def test_heap_the_firmware_cannot_use(mpsim, firmware, flash_file, args, words):
    before = flash_file.read_bytes()
    for cmd in ("run", "hibernate"):
        user_error(mpsim(cmd, "--flash", flash_file, *args, "-c", "x = 1"), 2, *words)
    assert flash_file.read_bytes() == before


def test_interrupt_is_one_line_and_exit_130(env, tmp_path, firmware, flash_file):
    """Ctrl-C (SIGINT) while code runs on the board: 'mpsim: interrupted', exit 130, the flash intact."""
    import signal
    import time
    before = flash_file.read_bytes()
    p = subprocess.Popen([str(MPSIM), "run", "--flash", str(flash_file), "-c", "while True: pass"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    user_error(r, 130, "interrupted")
    assert flash_file.read_bytes() == before


def test_no_command_prints_help(mpsim):
    r = mpsim()
    no_traceback(r)
    assert r.returncode == 2 and r.stderr.startswith("usage: mpsim")


def test_bad_option_values(mpsim, tmp_path, firmware, flash_file):
    before = flash_file.read_bytes()
    user_error(mpsim("power-cycle", "--flash", flash_file, "--torn"), 2, "--torn needs --cut-at")
    user_error(mpsim("power-cycle", "--flash", flash_file, "--cut-at", "-1"), 2, "--cut-at")
    user_error(mpsim("run", "--flash", flash_file, "--heap-size", "1K", "-c", "1"), 2, "16 KiB")
    assert flash_file.read_bytes() == before


# -- a heap bigger than the hibernate partition --------------------------------------------------------------
def test_heap_larger_than_partition_is_refused_before_anything_is_erased(mpsim, tmp_path, firmware):
    # 16 KiB partition: two 8 KiB slots, room for a small image and nothing big.
    board = board_variant(tmp_path, "tiny-partition.toml", "hibernate_size = 0x0040_0000",
                          "hibernate_size = 0x0000_4000")
    img = tmp_path / "f.bin"
    r = mpsim("hibernate", "--board", board, "--flash", img, "-c", "keep = 'old state'")
    assert r.returncode == 0, r.stderr
    before = img.read_bytes()
    r = mpsim("hibernate", "--board", board, "--flash", img, "-c", "big = [bytearray(1000) for i in range(60)]")
    msg = user_error(r, 2, "hibernate image is", "a slot holds at most", "0x4000")
    nums = [int(w) for w in msg.replace(";", " ").split() if w.isdigit()]
    assert nums[0] > nums[1] > 0, msg                 # the image size, then the slot's capacity
    assert img.read_bytes() == before, "the refused hibernate changed the flash"
    r = mpsim("resume", "--board", board, "--flash", img, "-c", "print(keep)")
    assert r.returncode == 0 and r.stdout == "old state\n", r.stderr
    assert "resumed image #1" in r.stderr


def test_code_that_crashes_the_firmware(mpsim, tmp_path, firmware):
    """A bus error from Python (@viper read of unmapped memory): the firmware's own
    HardFault handler prints its crash report, then one line names the fault; exit 1."""
    script = tmp_path / "crash.py"
    script.write_text("import micropython\n@micropython.viper\ndef peek(a: int) -> int:\n"
                      "    return ptr32(a)[0]\nprint(peek(0x30000000))\n")
    r = mpsim("run", "--firmware", firmware, script)
    msg = user_error(r, 1, "guest fault", "read of unmapped", "0x30000000", "HardFault handler")
    assert "FATAL: fault pc=" in r.stdout and "cfsr=0x00008200 hfsr=0x40000000 bfar=0x30000000" in r.stdout, msg


# -- files that are not files, files through links, numbers that are not numbers (issue 20) ---------------
@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("where", ["--flash", "--firmware", "--board", "script", "snapshot"])
@pytest.mark.parametrize("what", ["fifo", "/dev/zero"])
def test_a_fifo_or_a_device_is_refused_at_once(mpsim, tmp_path, firmware, fifo, where, what):
    """Before: a FIFO hung every command; /dev/zero was read until MemoryError (~3 GB)."""
    path = str(fifo) if what == "fifo" else "/dev/zero"
    args = {"--flash": ["run", "--flash", path, "-c", "1"], "--firmware": ["run", "--firmware", path, "-c", "1"],
            "--board": ["run", "--board", path, "-c", "1"], "script": ["run", path],
            "snapshot": ["snapshot", "load", path]}[where]
    kind = "a FIFO" if what == "fifo" else "a character device"
    user_error(mpsim(*args, timeout=60), 2, f"is {kind}, not a regular file")


def test_serve_control_refuses_a_path_that_is_not_a_socket(mpsim, tmp_path, firmware):
    """Before: the file at --control PATH was taken for a stale socket and deleted."""
    keep = tmp_path / "notes.txt"
    keep.write_text("precious\n")
    r = mpsim("serve", "--flash", tmp_path / "f.bin", "--control", keep, timeout=60)
    user_error(r, 2, "notes.txt", "not a socket", "not touched")
    assert keep.read_text() == "precious\n"


def test_hibernate_through_a_symlinked_flash_keeps_the_link_and_the_mode(mpsim, tmp_path, firmware):
    """Before: the link was replaced by a regular file, and a 0600 image became 0644."""
    real = tmp_path / "data" / "real.bin"
    real.parent.mkdir()
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    assert mpsim("hibernate", "--flash", link, "-c", "v = 1").returncode == 0
    assert link.is_symlink() and real.is_file()
    assert real.stat().st_mode & 0o777 == 0o600                # new files: the heap is user data
    os.chmod(real, 0o640)
    assert mpsim("hibernate", "--resume", "--flash", link, "-c", "v += 1").returncode == 0
    assert link.is_symlink() and real.stat().st_mode & 0o777 == 0o640
    assert mpsim("resume", "--flash", real, "-c", "print(v)").stdout == "2\n"
    assert sorted(p.name for p in real.parent.iterdir()) == [".real.bin.lock", "real.bin"]


def test_stale_temporary_files_are_removed_when_the_flash_is_opened(mpsim, tmp_path, firmware):
    img = tmp_path / "f.bin"
    assert mpsim("hibernate", "--flash", img, "-c", "v = 1").returncode == 0
    stale = [tmp_path / ".f.bin.999999999.0badf00d.tmp", tmp_path / ".f.bin.k2Jd9x_a.tmp"]  # killed saves
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    assert mpsim("resume", "--flash", img, "-c", "print(v)").stdout == "1\n"
    assert not any(p.exists() for p in stale)


def test_resume_of_a_flash_file_that_does_not_exist_says_so(mpsim, tmp_path, firmware):
    r = mpsim("resume", "--flash", tmp_path / "typo.bin", "-c", "print('fresh')")
    no_traceback(r)
    assert r.returncode == 0 and r.stdout == "fresh\n"
    assert "no flash image at" in r.stderr and "typo.bin" in r.stderr and "booting fresh" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--heap-size", "infK"], ["--heap-size", "must be finite"]),
    (["--heap-size", "1e400K"], ["--heap-size", "whole number of bytes"]),
    (["--heap-size", "nanK"], ["--heap-size"]),
    (["--heap-size", "-64K"], ["--heap-size"]),
    (["--heap-size", "8G"], ["--heap-size"]),
])
def test_sizes_that_are_not_sizes(mpsim, flash_file, args, words):
    usage_error(mpsim("run", "--flash", flash_file, *args, "-c", "1"), *words)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e400"])
def test_timeouts_that_are_not_durations(mpsim, flash_file, value):
    """Before: --timeout nan waited forever."""
    r = mpsim("run", "--flash", flash_file, "--timeout", value, "-c", "1", timeout=60)
    no_traceback(r)
    assert r.returncode == 2 and "--timeout" in r.stderr, r.stderr


def test_flash_import_of_a_short_bin_keeps_the_images(mpsim, tmp_path, flash_file):
    """Before: a short .bin was padded with erased bytes, "imported", and the slots were gone."""
    (tmp_path / "short.bin").write_bytes(b"\0" * 4096)
    before = flash_file.read_bytes()
    user_error(mpsim("flash", "import", "--flash", flash_file, "short.bin"), 2, "4096 bytes", "nothing imported")
    assert flash_file.read_bytes() == before


def test_a_guest_that_corrupts_the_heap_geometry_cannot_hibernate(mpsim, tmp_path, firmware):
    """Python pokes mp_state_ctx.mem (the GC pool's end) with viper: the hibernate is one
    line and the committed image survives (before: a UcError/ValueError traceback)."""
    img = tmp_path / "f.bin"
    assert mpsim("hibernate", "--flash", img, "-c", "keep = 'old'").returncode == 0
    before = img.read_bytes()
    from sim.firmware import Firmware
    from sim.mpy.state import MpState

    class _NoMemory:
        def read(self, addr, n):
            return bytes(n)
    state = MpState(_NoMemory(), Firmware.load(firmware))
    addr, _ = state.field_addr(f"{state.gc_area_path}.gc_pool_end")
    poke = (f"import micropython\n@micropython.viper\ndef poke(a: int, v: int):\n    ptr32(a)[0] = v\n"
            f"poke({addr}, 0x30000000)")
    r = mpsim("hibernate", "--resume", "--flash", img, "-c", poke)
    no_traceback(r)
    assert r.returncode != 0
    assert img.read_bytes() == before
    assert mpsim("resume", "--flash", img, "-c", "print(keep)").stdout == "old\n"

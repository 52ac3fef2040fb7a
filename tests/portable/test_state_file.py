"""The state file (sim.mpy.portable.statefile): what is not a whole, current state file is
refused in one line (exit 2) naming why, and the target's flash is not touched."""

from __future__ import annotations

import struct

import pytest

from sim.mpy.portable import statefile
from sim.mpy.portable.carry import read_state
from tests.cli.helpers import env, mpsim, needs_console_script  # noqa: F401 - fixtures
from tests.firmware_versions import firmware_for

CODE = "x = [1, 2**40, 'made_' + 'here', 2.5]\nd = {'k': x, 7: 'seven'}"


@pytest.fixture(scope="module")
def state_bytes(tmp_path_factory):
    from sim.device import Board
    from sim.mpy.portable.fromfile import export_newest
    tmp = tmp_path_factory.mktemp("state")
    with Board(firmware=firmware_for("1.23"), flash_path=tmp / "f.bin") as b:
        b.boot()
        b.repl.exec(CODE)
        b.hibernate()
        data, _what = export_newest(b)
    return data


def test_the_header_names_the_representation(state_bytes):
    st = read_state(state_bytes)
    h = st.header
    assert (h["word_bytes"], h["byte_order"], h["float"], h["small_int_bits"], h["mpz_digit_bits"],
            h["qstr_hash_bytes"], h["bytecode"]) == (4, "little", "ieee754-single", 31, 16, 2, "mpy_v6")
    assert h["source"]["board"] == "mps2-an385" and h["source"]["version"] == [1, 23, 0]
    assert state_bytes[:8] == b"MPSTATE\0" and struct.unpack_from("<I", state_bytes, 8)[0] == statefile.VERSION


def _newer(data: bytes) -> bytes:
    """The same file claiming format version VERSION + 1, checksum made right."""
    body = bytearray(data[:-32])
    struct.pack_into("<I", body, 8, statefile.VERSION + 1)
    return bytes(body) + __import__("hashlib").sha256(body).digest()


BROKEN = {
    "truncated": (lambda d: d[:len(d) // 2], "truncated"),
    "truncated-header": (lambda d: d[:12], "truncated"),
    "flipped-byte": (lambda d: d[:100] + bytes([d[100] ^ 0x40]) + d[101:], "checksum mismatch"),
    "trailing": (lambda d: d + b"\0", "bytes after the end"),
    "not-a-state": (lambda d: b"PK\3\4" + d[4:], "not an mpsim state file"),
    "newer-version": (_newer, "format version 2 is newer than this mpsim reads \\(up to 1\\)"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_file_is_refused_naming_why(state_bytes, kind):
    damage, why = BROKEN[kind]
    with pytest.raises(statefile.StateFileError, match=why):
        read_state(damage(state_bytes), "s.mpstate")


def test_the_undamaged_file_reads(state_bytes):
    assert read_state(state_bytes).portable.blocks


@needs_console_script
@pytest.mark.parametrize("kind", ["truncated", "flipped-byte", "newer-version"])
def test_resume_refuses_in_one_line_and_leaves_the_flash(mpsim, tmp_path, state_bytes, kind):  # noqa: F811
    flash = tmp_path / "f.bin"
    r = mpsim("hibernate", "--flash", flash, "-c", "kept = 5")
    assert r.returncode == 0, r.stderr
    saved = flash.read_bytes()
    bad = tmp_path / "s.mpstate"
    bad.write_bytes(BROKEN[kind][0](state_bytes))
    r = mpsim("resume", "--flash", flash, "--state", bad, "-c", "print(kept)")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mpsim: {bad}: ")
    assert flash.read_bytes() == saved


@needs_console_script
def test_export_then_resume_on_the_same_board(mpsim, tmp_path):  # noqa: F811
    r = mpsim("hibernate", "--flash", tmp_path / "a.bin", "-c", CODE)
    assert r.returncode == 0, r.stderr
    r = mpsim("state", "export", "--flash", tmp_path / "a.bin", tmp_path / "s.mpstate")
    assert r.returncode == 0, r.stderr
    r = mpsim("resume", "--flash", tmp_path / "b.bin", "--state", tmp_path / "s.mpstate", "-c", "print(x, d[7])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[1, 1099511627776, 'made_here', 2.5] seven"


@needs_console_script
def test_the_cli_carries_a_state_to_rv64_and_back(mpsim, tmp_path):  # noqa: F811
    m3, rv, back, s1, s2 = (tmp_path / n for n in ("m3.bin", "rv.bin", "back.bin", "a.mpstate", "b.mpstate"))
    r = mpsim("hibernate", "--board", "mps2-an385", "--flash", m3, "-c", CODE + "\ndef tri(n):\n    return n * 3\n")
    assert r.returncode == 0, r.stderr
    assert mpsim("state", "export", "--board", "mps2-an385", "--flash", m3, s1).returncode == 0
    r = mpsim("resume", "--board", "virt-rv64", "--flash", rv, "--state", s1, "-c", "import sys\nprint(x, tri(5), sys.maxsize)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"[1, 1099511627776, 'made_here', 2.5] 15 {2**63 - 1}"
    assert "resumed the state of mps2-an385" in r.stderr and "on virt-rv64" in r.stderr
    r = mpsim("hibernate", "--resume", "--board", "virt-rv64", "--flash", rv, "-c", "y = 2**40 + x[1]")
    assert r.returncode == 0, r.stderr
    assert mpsim("state", "export", "--board", "virt-rv64", "--flash", rv, s2).returncode == 0
    r = mpsim("resume", "--board", "mps2-an385", "--flash", back, "--state", s2, "-c", "import sys\nprint(y, tri(2), d[7], sys.maxsize)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{2**41} 6 seven {2**31 - 1}"


@needs_console_script
def test_export_refuses_an_empty_flash_and_a_missing_folder(mpsim, tmp_path):  # noqa: F811
    r = mpsim("state", "export", "--flash", tmp_path / "none.bin", tmp_path / "s.mpstate")
    assert r.returncode == 2 and r.stderr.strip() == f"mpsim: no hibernate image in {tmp_path / 'none.bin'} to export"
    assert not (tmp_path / "s.mpstate").exists()
    r = mpsim("state", "export", "--flash", tmp_path / "none.bin", tmp_path / "no" / "s.mpstate")
    assert r.returncode == 2 and "not a file in an existing folder" in r.stderr
    assert not (tmp_path / "no").exists()

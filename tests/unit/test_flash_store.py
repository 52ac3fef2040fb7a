"""Flash persistence: created erased, atomic saves, wrong sizes refused untouched,
.bin/.hex export and import."""

from __future__ import annotations

import os
import stat
import zlib

import pytest

from sim.board import load_board
from sim.errors import UsageError
from sim.flash_store import FlashStore, _adler32_of_repeated
from sim.peripherals.nor_flash import NorFlash

SIZE = 0x10000


def make_flash() -> NorFlash:
    return NorFlash.standalone(size=SIZE, sector_size=4096, page_size=256)


@pytest.fixture
def store(tmp_path) -> FlashStore:
    return FlashStore(make_flash(), "testboard", tmp_path / "images" / "testboard.bin")


def test_default_path_is_named_for_the_board(monkeypatch, tmp_path):
    board = load_board("mps2-an385")
    monkeypatch.delenv("MPSIM_FLASH_DIR", raising=False)
    s = FlashStore(NorFlash(board.flash, board))
    assert s.path.name == "mps2-an385.bin" and s.path.parent.name == "flash_images"
    monkeypatch.setenv("MPSIM_FLASH_DIR", str(tmp_path))
    assert FlashStore(NorFlash(board.flash, board)).path == tmp_path / "mps2-an385.bin"


def test_first_use_is_erased_and_writes_nothing_until_a_save(store):
    assert store.load() is False
    assert store.flash.backing == b"\xff" * SIZE
    assert not store.path.exists()
    store.save_if_changed()                     # unchanged: still nothing to write
    assert not store.path.exists()
    store.flash.program(0, b"\x00")
    store.save_if_changed()
    assert store.path.read_bytes() == b"\x00" + b"\xff" * (SIZE - 1)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600        # the heap is user data


def test_absent_file_erases_what_was_there(store):
    store.flash.erase_sector(0)
    store.flash.program(0, b"stale")
    ref = store.flash.backing
    assert store.load() is False
    assert store.flash.backing is ref and store.flash.backing == b"\xff" * SIZE


def test_unchanged_contents_are_not_rewritten(store):
    store.load()
    store.flash.program(0, b"x")
    store.save()
    again = FlashStore(make_flash(), "testboard", store.path)
    again.load()
    inode = store.path.stat().st_ino
    again.save_if_changed()
    assert store.path.stat().st_ino == inode                # not rewritten (a save renames a new file in)
    again.flash.program(1, b"y")
    again.save_if_changed()
    assert store.path.read_bytes()[:2] == b"xy"


@pytest.mark.parametrize("value", [0x00, 0x01, 0x5A, 0xFF])
@pytest.mark.parametrize("n", [0, 1, 5552, 5553, 65536, 0x80_0000])
def test_checksum_of_an_erased_flash_without_the_bytes(value, n):
    assert _adler32_of_repeated(value, n) == zlib.adler32(bytes([value]) * n)


def test_contents_survive_a_new_process(store):
    store.load()
    store.flash.erase_sector(0)
    store.flash.program(0, b"persist")
    store.save()
    again = FlashStore(make_flash(), "testboard", store.path)
    assert again.load() is True
    assert again.flash.read(0, 7) == b"persist"


def test_load_replaces_contents_in_place(store):
    store.load()
    ref = store.flash.backing
    store.load()
    assert store.flash.backing is ref


def test_save_leaves_no_temporary_files(store):
    store.load()
    store.save()
    assert [n for n in os.listdir(store.path.parent) if not n.endswith(".lock")] == ["testboard.bin"]


def test_failed_save_keeps_the_old_file(store, monkeypatch):
    store.load()
    store.save()
    store.flash.program(0, b"new")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(UsageError, match="cannot write"):
        store.save()
    assert store.path.read_bytes() == b"\xff" * SIZE
    assert [n for n in os.listdir(store.path.parent) if not n.endswith(".lock")] == ["testboard.bin"]


def test_wrong_size_is_refused_and_the_file_untouched(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\x12" * 1000)
    with pytest.raises(UsageError, match=r"flash image .*testboard.bin is 1000 bytes; board testboard expects 65536"):
        store.load()
    assert store.path.read_bytes() == b"\x12" * 1000


def test_unreadable_file_is_a_usage_error(store):
    store.path.mkdir(parents=True)     # a directory where the file should be
    with pytest.raises(UsageError, match="flash image .* is a directory, not a regular file"):
        store.load()


def test_erase_all(store):
    store.load()
    store.flash.program(5, b"\x00")
    store.erase_all()
    assert store.flash.read(5, 1) == b"\xff" and store.path.read_bytes() == b"\xff" * SIZE


def _scribble(flash: NorFlash) -> None:
    flash.program(0, b"start")
    flash.program_span(0x3000, bytes(range(256)) * 3)
    flash.program(SIZE - 4, b"end!")


def test_bin_round_trip(store, tmp_path):
    store.load()
    _scribble(store.flash)
    store.export_bin(tmp_path / "out.bin")
    other = FlashStore(make_flash(), "testboard", tmp_path / "other.bin")
    other.import_file(tmp_path / "out.bin")
    assert other.flash.backing == store.flash.backing
    assert (tmp_path / "other.bin").read_bytes() == bytes(store.flash.backing)


def test_a_short_bin_is_refused_and_the_images_kept(store, tmp_path):
    """A raw image is the whole device; padding a short one wiped the slots it lacked."""
    store.load()
    store.flash.program(0, b"keep")
    store.save()
    (tmp_path / "short.bin").write_bytes(b"abc")
    with pytest.raises(UsageError, match="3 bytes; the testboard flash is exactly 65536: nothing imported"):
        store.import_file(tmp_path / "short.bin")
    assert store.flash.read(0, 4) == b"keep" and store.path.read_bytes()[:4] == b"keep"


def test_hex_round_trip_at_the_bus_address(store, tmp_path):
    store.load()
    _scribble(store.flash)
    exported = store.export_hex(tmp_path / "out.hex")
    assert exported == 256 * 5        # only the five non-erased pages
    text = (tmp_path / "out.hex").read_text()
    assert ":020000040000" not in text and ":020000046000" in text   # upper address 0x6000
    other = FlashStore(make_flash(), "testboard", tmp_path / "other.bin")
    other.import_file(tmp_path / "out.hex")
    assert other.flash.backing == store.flash.backing


@pytest.mark.parametrize("name, content, word", [
    ("big.bin", b"\0" * (SIZE + 1), "big.bin is 65537 bytes"),
    ("bad.hex", b"this is not hex\n", "not a valid Intel HEX"),
    ("low.hex", b":0100000000FF\n:00000001FF\n", "outside the testboard flash"),
    ("x.elf", b"\x7fELF", "unknown format '.elf'"),
])
def test_bad_imports_change_nothing(store, tmp_path, name, content, word):
    store.load()
    store.flash.program(0, b"keep")
    store.save()
    before = bytes(store.flash.backing), store.path.read_bytes()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UsageError, match=word):
        store.import_file(tmp_path / name)
    assert (bytes(store.flash.backing), store.path.read_bytes()) == before


def test_missing_import_file(store, tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        store.import_file(tmp_path / "nope.hex")


def test_export_to_unwritable_place(store, tmp_path):
    store.load()
    store.save()                         # images/testboard.bin is a file: no folder can be made there
    with pytest.raises(UsageError, match="cannot write"):
        store.export_bin(tmp_path / "images" / "testboard.bin" / "x.bin")

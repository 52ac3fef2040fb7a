"""sim.firmware on real ARM ELFs: tiny ones built here with arm-none-eabi-gcc (skipped without it) and the
default firmware (skipped when not built)."""

import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from sim.errors import FirmwareError
from sim.firmware import Firmware

GCC = shutil.which("arm-none-eabi-gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="arm-none-eabi-gcc not installed")

SOURCE = r"""
typedef struct { int a; char *p; struct { short x; } inner; unsigned long arr[4]; } foo_t;
foo_t the_foo = { 1 };
void reset(void) { for (;;) the_foo.a++; }
"""


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    if GCC is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    d = tmp_path_factory.mktemp("fw")
    (d / "t.c").write_text(SOURCE)
    out = d / "t.elf"
    subprocess.run([GCC, "-mcpu=cortex-m3", "-mthumb", "-g", "-O1", "-nostdlib", "-Wl,-Ttext=0x0",
                    "-Wl,-Tdata=0x20000000", "-Wl,--entry=reset", str(d / "t.c"), "-o", str(out)], check=True)
    return out


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    import sim.firmware
    monkeypatch.setattr(sim.firmware, "CACHE_DIR", tmp_path / "cache")


@needs_gcc
def test_segments_symbols_and_layouts(elf):
    fw = Firmware.load(elf)
    assert fw.symbol("reset").kind == "func" and fw.symbol("reset").addr % 2 == 0
    data = [s for s in fw.segments if not s.executable]
    assert data and int.from_bytes(data[0].data[:4], "little") == 1
    t = fw.variable_type("the_foo")
    assert t.size == 28
    assert t.offset_of("inner.x")[0] == 8
    assert t.field("arr")[1].count == 4
    assert fw.struct("foo_t").size == 28


@needs_gcc
def test_cache_gives_the_same_answers(elf):
    first = Firmware.load(elf)
    first.variable_type("the_foo")
    second = Firmware.load(elf)
    assert second.fingerprint == first.fingerprint
    assert second.variable_type("the_foo").to_json() == first.variable_type("the_foo").to_json()
    assert second.symbols == first.symbols


@needs_gcc
def test_missing_variable_is_a_clear_error(elf):
    with pytest.raises(FirmwareError, match="no variable 'mp_state_ctx'"):
        Firmware.load(elf).variable_type("mp_state_ctx")


@needs_gcc
def test_a_missing_type_is_looked_for_once(elf, monkeypatch):
    """A miss scans all of the DWARF (tens of seconds on MicroPython): remembered in
    the loaded firmware and in the cache, so another process does not scan again."""
    from sim import dwarf_types
    scans = []
    real_find = dwarf_types.find
    monkeypatch.setattr(dwarf_types, "find", lambda elf_, key: scans.append(key) or real_find(elf_, key))
    fw = Firmware.load(elf)
    for _ in range(2):
        with pytest.raises(FirmwareError, match="no type 'mp_obj_gen_wrap_t'"):
            fw.struct("mp_obj_gen_wrap_t")
    with pytest.raises(FirmwareError, match="no type 'mp_obj_gen_wrap_t'"):
        Firmware.load(elf).struct("mp_obj_gen_wrap_t")
    assert scans == ["type:mp_obj_gen_wrap_t"]
    assert Firmware.load(elf).struct("foo_t").size == 28       # hits still found after a remembered miss


def test_missing_file(tmp_path):
    with pytest.raises(FirmwareError, match="firmware not found"):
        Firmware.load(tmp_path / "nope.elf")


def test_not_an_elf(tmp_path):
    p = tmp_path / "x.elf"
    p.write_text("hello")
    with pytest.raises(FirmwareError, match="not an ELF file"):
        Firmware.load(p)


def test_elf_for_another_architecture():
    with pytest.raises(FirmwareError, match="not a little-endian 32-bit ARM .Cortex-M. or 64-bit RISC-V"):
        Firmware.load(sys.executable if sys.executable.endswith("python3") else "/bin/ls")


# -- the cache key: a content hash, remembered per path with the file's identity --------------
def _copy_of_the_firmware(tmp_path):
    from tests.conftest import require_firmware
    data = require_firmware().read_bytes()
    elf = tmp_path / "fw.elf"
    elf.write_bytes(data)
    return elf, data


def test_remembered_hash_is_rechecked_when_the_file_changes(tmp_path, monkeypatch):
    import sim.firmware
    monkeypatch.setattr(sim.firmware, "_SETTLED_NS", 0)   # remember at once (a test cannot age a ctime)
    elf, data = _copy_of_the_firmware(tmp_path)
    first = Firmware.load(elf)
    assert first.content_hash == hashlib.sha256(data).hexdigest()
    assert len(list((tmp_path / "cache" / "by-path").iterdir())) == 1
    again = Firmware.load(elf)
    assert (again.content_hash, again.fingerprint) == (first.content_hash, first.fingerprint)

    # Rewritten in place, same size, mtime put back (as if within one timestamp tick):
    # the ctime still moves, so the hash is computed again and the firmware is not taken
    # for the old one (hibernate refuses images from another fingerprint).
    date = re.search(rb"MicroPython v\S+ on (\d{4}-\d\d-\d\d)", data).group(1)     # the banner's build date
    changed = data.replace(date, date[:-1] + (b"2" if date[-1:] != b"2" else b"3"))
    assert changed != data and len(changed) == len(data)
    st = elf.stat()
    with open(elf, "r+b") as f:
        f.write(changed)
    os.utime(elf, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = Firmware.load(elf)
    assert third.content_hash == hashlib.sha256(changed).hexdigest()
    assert third.fingerprint != first.fingerprint

    # Replaced by another file (new inode) with the first content: the first answers again.
    elf.unlink()
    elf.write_bytes(data)
    assert Firmware.load(elf).fingerprint == first.fingerprint


def test_a_file_modified_moments_ago_is_hashed_not_remembered(tmp_path):
    elf, data = _copy_of_the_firmware(tmp_path)
    fw = Firmware.load(elf)
    assert fw.content_hash == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / "cache" / "by-path").exists()


def test_fingerprint_is_the_hash_of_the_loadable_segments(tmp_path):
    elf, _data = _copy_of_the_firmware(tmp_path)
    fw = Firmware.load(elf)
    h = hashlib.sha256()
    for s in sorted(fw.segments, key=lambda s: s.addr):
        h.update(s.addr.to_bytes(4, "little") + len(s.data).to_bytes(4, "little") + s.data)
    assert Firmware.load(elf).fingerprint == fw.fingerprint == h.hexdigest()


def test_damaged_cache_files_are_ignored(tmp_path, monkeypatch):
    import sim.firmware
    monkeypatch.setattr(sim.firmware, "_SETTLED_NS", 0)
    elf, data = _copy_of_the_firmware(tmp_path)
    good = Firmware.load(elf)
    good.variable_type("mp_state_ctx")
    for f in (tmp_path / "cache").rglob("*.marshal"):
        f.write_bytes(b"\x00garbage")
    fw = Firmware.load(elf)
    assert fw.content_hash == hashlib.sha256(data).hexdigest() and fw.fingerprint == good.fingerprint
    assert fw.symbol("mp_state_ctx") == good.symbol("mp_state_ctx")
    assert fw.variable_type("mp_state_ctx").to_json() == good.variable_type("mp_state_ctx").to_json()


@needs_gcc
def test_cache_is_bounded_and_keeps_the_new_entry(elf, monkeypatch):
    import os
    import sim.firmware
    monkeypatch.setattr(sim.firmware, "CACHE_MAX_FILES", 5)
    cache = sim.firmware.CACHE_DIR
    cache.mkdir(parents=True)
    for i in range(8):                       # older entries (of other ELFs, or an old cache version)
        f = cache / f"{i:032x}.v3.marshal"
        f.write_bytes(b"x")
        os.utime(f, ns=(i * 10**9, i * 10**9))
    fw = Firmware.load(elf)
    left = sorted(p.name for p in cache.glob("*.marshal"))
    assert len(left) == 5
    assert fw._cache_file.name in left
    assert f"{0:032x}.v3.marshal" not in left and f"{7:032x}.v3.marshal" in left
    assert Firmware.load(elf).symbols == fw.symbols       # and the new entry is what a warm load reads

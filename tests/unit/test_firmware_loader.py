"""sim.firmware on real ARM ELFs built here with arm-none-eabi-gcc (skipped without it)."""

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


def test_missing_file(tmp_path):
    with pytest.raises(FirmwareError, match="firmware not found"):
        Firmware.load(tmp_path / "nope.elf")


def test_not_an_elf(tmp_path):
    p = tmp_path / "x.elf"
    p.write_text("hello")
    with pytest.raises(FirmwareError, match="not an ELF file"):
        Firmware.load(p)


def test_elf_for_another_architecture():
    with pytest.raises(FirmwareError, match="not a 32-bit little-endian ARM"):
        Firmware.load(sys.executable if sys.executable.endswith("python3") else "/bin/ls")

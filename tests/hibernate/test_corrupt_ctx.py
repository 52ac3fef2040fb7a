"""A guest can write anything into mp_state_ctx, including the GC heap geometry the
hibernate controller reads. A hibernate then refuses in one line (SimError), reads
nothing outside RAM and leaves the committed images as they were; before, it died
with a UcError or ValueError traceback.

The poke is made at the prompt, at the guest address of the field, exactly as the
guest's last store before going idle would leave RAM (a viper poke from Python is
in tests/cli/test_bad_input.py; the interpreter itself usually trips over its own
corrupt heap before a hibernate gets that far)."""

from __future__ import annotations

import struct

import pytest

from sim.errors import SimError
from sim.mpy.state import MpState

# the GC geometry fields, under mem (1.9.2) or mem.area (1.20+): the profile says where
FIELDS = ["gc_alloc_table_start", "gc_alloc_table_byte_len", "gc_pool_start", "gc_pool_end"]
VALUES = [0, 1, 0x3000_0000, 0x6000_0000, 0xFFFF_FFFF, 0x2100_0000]


@pytest.fixture(scope="module")
def saved_board(tmp_path_factory):
    from sim.device import Board
    from tests.conftest import require_firmware
    require_firmware()
    b = Board(flash_path=tmp_path_factory.mktemp("ctx") / "flash.bin")
    b.boot()
    b.repl.exec("x = [1, 2, 3]")
    b.hibernate()
    yield b
    b.close()


@pytest.mark.parametrize("value", VALUES, ids=hex)
@pytest.mark.parametrize("field", FIELDS)
def test_a_poked_heap_geometry_is_refused_and_the_images_kept(saved_board, field, value):
    b = saved_board
    b.boot()
    b.repl.exec("y = 'unsaved'")
    b.settle()
    state = MpState(b.machine, b.firmware)
    addr, _ = state.field_addr(f"{state.gc_area_path}.{field}")
    b.machine.write(addr, struct.pack("<I", value))
    flash_before = bytes(b.flash.backing)
    with pytest.raises(SimError) as e:
        b.hibernate()
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("cannot hibernate: mp_state_ctx describes no valid GC heap")
    assert bytes(b.flash.backing) == flash_before
    b.power_cycle()
    b.resume()
    assert b.repl.eval("x") == [1, 2, 3]

"""NorFlash: geometry rules, counters, timings and power-loss injection."""

from __future__ import annotations

import pytest

from sim.board import load_board
from sim.errors import BoardError, FlashError, SimError
from sim.peripherals.base import PERIPHERAL_TYPES
from sim.peripherals.nor_flash import FlashOp, NorFlash, PowerLoss, PowerLossMode

SECTOR, PAGE = 4096, 256


@pytest.fixture
def flash() -> NorFlash:
    return NorFlash.standalone(size=16 * SECTOR, sector_size=SECTOR, page_size=PAGE,
                               sector_erase_us=45_000, page_program_us=700)


def test_registered_and_built_from_the_board_file():
    board = load_board("mps2-an385")
    spec = board.flash
    f = PERIPHERAL_TYPES["nor_flash"](spec, board)
    assert isinstance(f, NorFlash)
    assert (f.base, f.size, f.sector_size, f.page_size) == (0x6000_0000, 8 << 20, 4096, 256)
    assert len(f.backing) == f.size and set(f.backing[:SECTOR]) == {0xFF}


@pytest.mark.parametrize("settings, word", [
    ({"sector_size": 3000}, "power of two"),
    ({"page_size": 8192}, "multiple of page_size"),
    ({"erase_value": 0x100}, "erase_value"),
])
def test_bad_geometry_is_a_board_error(settings, word):
    with pytest.raises(BoardError, match=word):
        NorFlash.standalone(size=16 * SECTOR, **settings)


def test_erase_sets_sector_to_erase_value(flash):
    flash.program(SECTOR, b"\x00" * PAGE)
    flash.erase_sector(SECTOR)
    assert flash.read(SECTOR, SECTOR) == b"\xff" * SECTOR


def test_erase_value_setting_is_honoured():
    f = NorFlash.standalone(size=4 * SECTOR, erase_value=0x00)
    f.erase_sector(0)
    assert f.read(0, SECTOR) == bytes(SECTOR)


@pytest.mark.parametrize("offset", [1, PAGE, SECTOR - 1, 16 * SECTOR, -SECTOR])
def test_erase_rejects_unaligned_or_out_of_range(flash, offset):
    with pytest.raises(FlashError) as e:
        flash.erase_sector(offset)
    assert e.value.op == "erase" and e.value.address == flash.base + offset
    assert flash.ops_count == 0


def test_erase_range_whole_sectors_only(flash):
    assert flash.erase_range(2 * SECTOR, 3 * SECTOR) == 3
    assert flash.wear[:6] == [0, 0, 1, 1, 1, 0]
    with pytest.raises(FlashError):
        flash.erase_range(0, SECTOR + 1)


def test_program_partial_page_and_read_back(flash):
    flash.program(10, b"hello")
    assert flash.read(8, 9) == b"\xff\xffhello\xff\xff"


def test_program_may_clear_more_bits_later(flash):
    flash.program(0, b"\xf0")
    flash.program(0, b"\x30")   # only clears bits
    assert flash.read(0, 1) == b"\x30"


def test_program_zero_to_one_is_refused_and_names_the_address(flash):
    flash.program(PAGE, b"\x00\x00")
    before = bytes(flash.backing)
    with pytest.raises(FlashError, match=r"0x60000101") as e:
        flash.program(PAGE, b"\x00\x01")
    assert e.value.op == "program" and e.value.address == 0x6000_0101
    assert bytes(flash.backing) == before and flash.program_ops == 1


def test_flash_error_is_a_sim_error(flash):
    with pytest.raises(SimError):
        flash.program(PAGE - 1, b"ab")


@pytest.mark.parametrize("offset, n", [(PAGE - 1, 2), (0, PAGE + 1), (16 * SECTOR - 1, 2), (5, 0)])
def test_program_stays_inside_one_page_and_the_device(flash, offset, n):
    with pytest.raises(FlashError):
        flash.program(offset, b"\x00" * n)


def test_bus_writes_are_refused(flash):
    with pytest.raises(FlashError) as e:
        flash.write(4, 4, 0)
    assert e.value.op == "write"


def test_counters_wear_and_timings(flash):
    flash.erase_sector(0)
    flash.erase_sector(0)
    flash.erase_sector(SECTOR)
    flash.program(0, b"\x00" * PAGE)
    flash.program(PAGE, b"\x00" * 10)
    assert (flash.erase_ops, flash.program_ops, flash.ops_count) == (3, 2, 5)
    assert flash.wear[:3] == [2, 1, 0]
    assert flash.busy_us == 3 * 45_000 + 2 * 700
    assert flash.bytes_programmed == PAGE + 10


def test_state_round_trip_holds_counters_not_contents(flash):
    flash.erase_sector(SECTOR)
    flash.program(0, b"\x00")
    s = flash.state()
    other = NorFlash.standalone(size=16 * SECTOR)
    other.load_state(s)
    assert other.state() == s and other.wear[1] == 1
    assert other.read(0, 1) == b"\xff"


def test_program_span_splits_at_pages_and_skips_erased_chunks(flash):
    data = b"\x01" * 100 + b"\xff" * PAGE + b"\x02" * 10
    n = flash.program_span(PAGE - 100, data)
    assert n == 2   # first partial page, (erased page skipped), tail
    assert flash.read(PAGE - 100, len(data)) == data


def test_on_operation_callback(flash):
    seen: list[FlashOp] = []
    flash.on_operation = seen.append
    flash.erase_sector(0)
    flash.program(3, b"ab")
    assert seen == [FlashOp(0, "erase", 0, SECTOR), FlashOp(1, "program", 3, 2)]


def test_backing_is_never_rebound(flash):
    ref = flash.backing
    flash.erase_sector(0)
    flash.program(0, b"x")
    flash.reset()
    assert flash.backing is ref


# -- power loss -----------------------------------------------------------------

def test_power_loss_is_control_flow_not_an_error():
    assert issubclass(PowerLoss, BaseException) and not issubclass(PowerLoss, Exception)


def test_clean_cut_skips_the_operation_and_stays_down_until_reset(flash):
    flash.erase_sector(0)
    flash.arm_power_cut(1, PowerLossMode.CLEAN)
    flash.program(0, b"\x00")                       # op 0 since arming: done
    with pytest.raises(PowerLoss) as e:
        flash.program(1, b"\x00")                   # op 1: cut
    assert (e.value.index, e.value.op, e.value.address) == (2, "program", flash.base + 1)
    assert flash.read(0, 2) == b"\x00\xff" and flash.ops_count == 2
    with pytest.raises(PowerLoss):
        flash.erase_sector(SECTOR)                  # still no power
    flash.reset()
    flash.program(1, b"\x00")
    assert flash.read(0, 2) == b"\x00\x00"


def test_torn_program_clears_a_deterministic_subset(flash):
    def torn() -> bytes:
        f = NorFlash.standalone(size=16 * SECTOR)
        f.arm_power_cut(0, PowerLossMode.TORN, seed=7)
        with pytest.raises(PowerLoss):
            f.program(0, b"\x00" * PAGE)
        return f.read(0, PAGE)
    a, b = torn(), torn()
    assert a == b                                   # replayable
    assert a != b"\xff" * PAGE and a != b"\x00" * PAGE


def test_torn_program_never_sets_bits(flash):
    flash.program(0, b"\x0f" * 16)
    flash.arm_power_cut(0, PowerLossMode.TORN)
    with pytest.raises(PowerLoss):
        flash.program(0, b"\x00" * 16)
    assert all(x & 0xF0 == 0 for x in flash.read(0, 16))


@pytest.mark.parametrize("seed", range(6))
def test_torn_erase_leaves_sector_partly_erased(flash, seed):
    flash.program_span(0, b"\x00" * SECTOR)
    flash.arm_power_cut(0, PowerLossMode.TORN, seed=seed)
    with pytest.raises(PowerLoss):
        flash.erase_sector(0)
    content = flash.read(0, SECTOR)
    assert 0 < content.count(0xFF) < SECTOR
    assert flash.wear[0] == 1 and flash.erase_ops == 0


def test_invalid_operation_is_an_error_even_when_a_cut_is_armed(flash):
    flash.arm_power_cut(0)
    with pytest.raises(FlashError):
        flash.erase_sector(1)
    with pytest.raises(PowerLoss):
        flash.erase_sector(0)


def test_an_armed_cut_survives_a_reset_until_it_fires(flash):
    flash.arm_power_cut(1)
    flash.reset()                                   # e.g. the machine booting
    flash.erase_sector(0)
    with pytest.raises(PowerLoss):
        flash.erase_sector(SECTOR)
    flash.reset()
    flash.erase_sector(SECTOR)                      # fired once, then gone

"""Hibernate slots: newest valid image wins, corruption is reported, and a power cut at
any flash operation (clean or torn) leaves exactly the old image or exactly the new one."""

from __future__ import annotations

import random

import pytest

from sim.board import load_board
from sim.errors import BoardError, ImageError
from sim.peripherals.nor_flash import NorFlash, PowerLoss, PowerLossMode
from sim.slots import RECORD_SIZE, Partition, read_latest, write_image

SECTOR, PAGE = 4096, 256


def small_flash() -> NorFlash:
    """64 KiB flash, partition in the upper 32 KiB: two 16 KiB slots (4 sectors each)."""
    return NorFlash.standalone(size=0x10000, sector_size=SECTOR, page_size=PAGE,
                               hibernate_offset=0x8000, hibernate_size=0x8000)


def payload(tag: int, n: int) -> bytes:
    rng = random.Random(tag)
    return bytes(rng.getrandbits(8) for _ in range(n))


A, B, C, D = payload(1, 5000), payload(2, 6100), payload(3, 3000), payload(4, 700)


def test_erased_flash_has_no_valid_image():
    data, reasons = read_latest(small_flash())
    assert data is None
    assert reasons == ["slot 0 at 0x60008000: empty (erased)", "slot 1 at 0x6000c000: empty (erased)"]


def test_zeroed_flash_has_no_valid_image():
    f = small_flash()
    f.backing[:] = bytes(len(f.backing))
    data, reasons = read_latest(f)
    assert data is None and all("no commit record" in r for r in reasons)


def test_write_then_read_and_alternate_slots():
    f = small_flash()
    p = Partition(f)
    assert p.write(A) == 0
    assert p.read_latest() == (A, ["slot 1 at 0x6000c000: empty (erased)"])
    assert p.write(B) == 1
    assert p.write(C) == 0
    assert p.read_latest() == (C, [])
    assert [i.sequence for i in p.scan()] == [3, 2]


def test_newest_image_is_never_erased():
    f = small_flash()
    p = Partition(f)
    p.write(A)
    p.write(B)
    wear_before = list(f.wear)
    p.write(C)                 # goes over A (older), B's sectors untouched
    b_sectors = range(0xC000 // SECTOR, 0x10000 // SECTOR)
    assert all(f.wear[s] == wear_before[s] for s in b_sectors)


def test_sequence_can_be_chosen_but_only_upwards():
    p = Partition(small_flash())
    p.write(A, sequence=41)
    assert p.next_sequence() == 42
    with pytest.raises(ValueError):
        p.write(B, sequence=41)


def test_empty_image_is_storable():
    p = Partition(small_flash())
    p.write(b"")
    assert p.read_latest()[0] == b""


def test_image_too_large_is_refused_before_anything_is_erased():
    f = small_flash()
    p = Partition(f)
    p.write(A)
    before, ops = bytes(f.backing), f.ops_count
    with pytest.raises(ImageError, match=r"is 16129 bytes; a slot holds at most 16128 .*0x8000 bytes at 0x60008000"):
        p.write(b"\0" * (p.capacity + 1))
    assert bytes(f.backing) == before and f.ops_count == ops


def test_corrupt_newest_falls_back_to_older_with_a_reason():
    f = small_flash()
    p = Partition(f)
    p.write(A)
    p.write(B)                                   # slot 1, newest
    f.backing[0xC000 + PAGE + 100] ^= 0x04       # flip a bit in B's body
    data, reasons = p.read_latest()
    assert data == A
    assert reasons == ["slot 1 at 0x6000c000: image #2 (6100 bytes) CRC mismatch"]
    assert p.write(C) == 1                       # the broken slot is reused, A kept


def test_corrupt_commit_record_is_reported():
    f = small_flash()
    p = Partition(f)
    p.write(A)
    f.backing[0x8000 + 12] ^= 0x01               # inside the record's sequence field
    data, reasons = p.read_latest()
    assert data is None and "commit record CRC mismatch" in reasons[0]


def test_newest_first_iteration_for_fallback():
    p = Partition(small_flash())
    p.write(A)
    p.write(B)
    assert [body for _, body in p.images_newest_first()] == [B, A]


def test_more_than_two_slots():
    p = Partition(small_flash(), slots=4)       # 8 KiB slots
    for i, img in enumerate([A, C, D, B, D]):
        p.write(img)
        assert p.read_latest()[0] == img
    assert [s.index for s in p.slots] == [0, 1, 2, 3]


@pytest.mark.parametrize("kw, word", [
    (dict(offset=0x8100), "sector-aligned"),
    (dict(offset=0xC000, size=0x8000), "does not fit"),
    (dict(size=0x1000), "cannot hold 2 slots"),
])
def test_bad_partition_is_a_board_error(kw, word):
    with pytest.raises(BoardError, match=word):
        Partition(small_flash(), **kw)


def test_board_partition_and_op_counts_for_a_20k_image():
    board = load_board("mps2-an385")
    f = NorFlash(board.flash, board)
    p = Partition(f)
    assert [(s.offset, s.size) for s in p.slots] == [(0x40_0000, 0x20_0000), (0x60_0000, 0x20_0000)]
    image = payload(9, 20 * 1024)
    write_image(f, image)
    # 6 sectors for record page + 20 KiB, 80 body pages, 1 commit record
    assert (f.erase_ops, f.program_ops) == (6, 81)
    assert f.busy_us == 6 * 45_000 + 81 * 700
    assert read_latest(f)[0] == image


# -- power loss at every operation ----------------------------------------------------

def _ops_to_write(setup, image: bytes) -> int:
    f = setup()
    before = f.ops_count
    Partition(f).write(image)
    return f.ops_count - before


def _holding_a() -> NorFlash:
    """Partition with A newest (slot 1) and an older C in slot 0: B will go over C."""
    f = small_flash()
    p = Partition(f)
    p.write(C)
    p.write(A)
    return f


def _holding_only_a() -> NorFlash:
    f = small_flash()
    Partition(f).write(A)
    return f


SCENARIOS = {"over-older": _holding_a, "into-empty": _holding_only_a}
CASES = [pytest.param(scenario, mode, n, id=f"{scenario}-{mode.value}-{n}")
         for scenario, setup in SCENARIOS.items()
         for mode in PowerLossMode
         for n in range(_ops_to_write(setup, B) + 1)]


@pytest.mark.parametrize("scenario, mode, n", CASES)
def test_slots(scenario, mode, n):
    f = SCENARIOS[scenario]()
    total = _ops_to_write(SCENARIOS[scenario], B)
    f.arm_power_cut(n, mode, seed=n)
    try:
        Partition(f).write(B)
        cut = False
    except PowerLoss:
        cut = True
    assert cut == (n < total)
    f.disarm_power_cut()                                  # (when n == total it never fired)
    f.reset()                                             # power back on
    data, reasons = read_latest(f)
    assert data in (A, B), f"cut at op {n}: neither old nor new image; {reasons}"
    if not cut:
        assert data == B
    if mode is PowerLossMode.CLEAN and n < total:
        assert data == A                                  # nothing committed before the last op
    # and the device keeps working: the next image lands and is the newest
    Partition(f).write(D)
    assert read_latest(f)[0] == D


def test_torn_commit_record_subsets_never_validate():
    """A torn commit record (a random subset of its cleared bits) never validates, even
    over a complete body."""
    from sim.slots import commit_record
    record = commit_record(5, B)
    for seed in range(1000):
        rng = random.Random(seed)
        torn = bytes(0xFF & ~((0xFF & ~b) & rng.getrandbits(8)) for b in record)
        if torn == record:
            continue
        f = small_flash()
        f.program_span(0x8000 + PAGE, B)           # the body is complete and correct
        f.program(0x8000, torn)
        assert read_latest(f)[0] is None
    assert RECORD_SIZE == len(record)


# -- corruption of a partition holding A (older) and B (newest) -----------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

_TWO = small_flash()
Partition(_TWO).write(A)
Partition(_TWO).write(B)
_CHECKED = {0: [*range(0x8000, 0x8000 + RECORD_SIZE), *range(0x8000 + PAGE, 0x8000 + PAGE + len(A))],
            1: [*range(0xC000, 0xC000 + RECORD_SIZE), *range(0xC000 + PAGE, 0xC000 + PAGE + len(B))]}


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([0, 1]), st.data())
def test_corruption_is_detected_and_the_other_slot_survives(slot, data):
    """Flip bytes of one slot's commit record or image: that slot is rejected with a
    reason naming it, and the other slot's image is what read_latest returns."""
    checked = _CHECKED[slot]
    hits = data.draw(st.lists(st.tuples(st.integers(0, len(checked) - 1), st.integers(1, 255)),
                              min_size=1, max_size=6))
    f = small_flash()
    f.backing[:] = _TWO.backing
    for index, mask in hits:
        f.backing[checked[index]] ^= mask
    image, reasons = read_latest(f)
    if f.backing == _TWO.backing:                        # the flips cancelled out
        assert (image, reasons) == (B, [])
        return
    assert image == (B if slot == 0 else A)
    assert len(reasons) == 1 and reasons[0].startswith(f"slot {slot} at ")


def test_encoded_images_survive_every_cut_and_decode():
    """The real format end to end: after a cut anywhere, the newest slot decodes cleanly."""
    from sim.image import HibernateImage, decode
    from sim.mpy.geometry import HeapGeometry
    geometry = HeapGeometry(0x2000_1000, 0x2000_5000, 0x2000_1000, 0x100, 0, 0, 0x2000_1100, 0x2000_5000, 16)

    def image(seq: int, fill: bytes) -> bytes:
        return HibernateImage("12" * 32, "mps2-an385", geometry, 0x2000_0000, 0x100, "L",
                              sections={"ctx": fill * 0x100, "heap.pool": fill * 4000},
                              sequence=seq, created_us=0).encode()

    old, new = image(1, b"o"), image(2, b"n")
    for mode in PowerLossMode:
        for n in range(40):
            f = small_flash()
            Partition(f).write(old, sequence=1)
            f.arm_power_cut(n, mode, seed=n)
            try:
                Partition(f).write(new, sequence=2)
            except PowerLoss:
                pass
            f.reset()
            data, _ = read_latest(f)
            assert decode(data).sequence in (1, 2)

"""Hibernate image format: round trip, one-line refusals, compatibility, heap codec."""

from __future__ import annotations

import dataclasses
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sim.errors import ImageError
from sim.image import (FORMAT_VERSION, MAGIC, HeapGeometry, HibernateImage, decode, pack_used_blocks,
                       unpack_used_blocks)

GEOMETRY = HeapGeometry(heap_start=0x2000_1000, heap_end=0x2002_1000, atb_start=0x2000_1000, atb_len=0x7C0,
                        ftb_start=0x2000_17C0, ftb_len=0x3E0, pool_start=0x2000_1BA0, pool_end=0x2002_0FA0,
                        block_size=16)
FP = "ab" * 32


def make_image(**over) -> HibernateImage:
    fields = dict(fingerprint=FP, board="mps2-an385", heap=GEOMETRY, ctx_addr=0x2000_0100, ctx_size=0x1A4,
                  ctx_layout="layout-3f2a", sequence=7, created_us=1_700_000_000_000_000,
                  sections={"ctx": bytes(range(256)) * 2, "heap.atb": b"\x55" * 64, "heap.pool": b"xyz" * 100})
    fields.update(over)
    img = HibernateImage(**fields)
    img.set_peripheral_state("uart0", {"ctrl": 3, "rx": [1, 2]})
    return img


ENCODED = make_image().encode()


def test_round_trip():
    img = make_image()
    back = decode(img.encode())
    assert back == img
    assert back.peripheral_states() == {"uart0": {"ctrl": 3, "rx": [1, 2]}}
    assert back.section("ctx") == img.sections["ctx"]


def test_round_trip_empty_sections_and_unicode_board():
    img = make_image(sections={}, board="böard", ctx_layout="")
    assert decode(img.encode()) == img


def test_header_overhead_is_small():
    img = make_image(sections={"ctx": b"x"})
    overhead = len(img.encode()) - 1
    assert overhead < 200


def test_encode_refuses_bad_fields():
    with pytest.raises(ValueError, match="fingerprint"):
        make_image(fingerprint="xyz").encode()
    with pytest.raises(ValueError, match="section name"):
        make_image(sections={"": b""}).encode()


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated at byte 0"),
    (b"MPSHI", "truncated at byte 5"),
    (b"ELF\x7f" + ENCODED[4:], "bad magic"),
    (bytes(len(ENCODED)), "bad magic"),
    (b"\xff" * len(ENCODED), "bad magic"),
    (MAGIC + struct.pack("<H", 9) + ENCODED[10:], "unsupported format version 9"),
    (ENCODED[:40], "truncated at byte 40"),
    (ENCODED[:-1], "truncated at byte"),
    (ENCODED + b"\0\0\0", "3 bytes of trailing garbage"),
])
def test_refusals_name_the_problem(data, reason):
    with pytest.raises(ImageError, match=reason) as e:
        decode(data)
    assert "\n" not in str(e.value)


def test_header_crc_mismatch():
    data = bytearray(ENCODED)
    data[20] ^= 1
    with pytest.raises(ImageError, match="header CRC mismatch"):
        decode(bytes(data))


def test_section_crc_mismatch_names_the_section():
    data = bytearray(ENCODED)
    data[-1] ^= 0x80    # last byte of the last section: periph.uart0
    with pytest.raises(ImageError, match=r"section 'periph.uart0' CRC mismatch"):
        decode(bytes(data))


def test_version_constant():
    assert FORMAT_VERSION == 2 and ENCODED.startswith(MAGIC)


# -- compatibility ------------------------------------------------------------------

def test_check_matches_passes_for_same_system():
    make_image().check_matches(fingerprint=FP, board="mps2-an385", heap=GEOMETRY, word_size=4,
                               ctx_layout="layout-3f2a", ctx_size=0x1A4)


@pytest.mark.parametrize("field, value, words", [
    ("fingerprint", "cd" * 32, ["firmware", "abababab", "cdcdcdcd"]),
    ("board", "other-board", ["board", "'mps2-an385'", "'other-board'"]),
    ("heap", dataclasses.replace(GEOMETRY, pool_end=0x2003_0000), ["heap geometry", "pool_end", "0x20020fa0",
                                                                    "0x20030000"]),
    ("word_size", 8, ["word size", "4", "8"]),
    ("ctx_layout", "layout-0000", ["ctx layout", "layout-3f2a", "layout-0000"]),
])
def test_check_matches_names_what_differs(field, value, words):
    with pytest.raises(ImageError) as e:
        make_image().check_matches(**{field: value})
    msg = str(e.value)
    for w in words:
        assert w in msg
    assert "\n" not in msg


def test_check_matches_lists_every_difference():
    with pytest.raises(ImageError, match="board.*ctx layout"):
        make_image().check_matches(board="x", ctx_layout="y", word_size=4)


def test_check_matches_rejects_unknown_keys():
    with pytest.raises(ValueError):
        make_image().check_matches(colour="red")


def test_bad_peripheral_json_is_an_image_error():
    img = make_image(sections={"periph.x": b"{nope"})
    with pytest.raises(ImageError, match="periph.x"):
        img.peripheral_states()


def test_missing_section_is_an_image_error():
    with pytest.raises(ImageError, match="no section 'vm'"):
        make_image().section("vm")


# -- heap pool codec ---------------------------------------------------------------------

def test_pack_stores_only_used_blocks():
    bs, n = 16, 4096
    rng = random.Random(1)
    used = [rng.random() < 0.1 for _ in range(n)]
    pool = bytes(rng.getrandbits(8) if used[i // bs] else 0 for i in range(n * bs))
    packed = pack_used_blocks(pool, bs, used)
    live = sum(used) * bs
    assert live < len(packed) <= live + n // 8 + 4      # the map never costs more than a bitmap
    assert unpack_used_blocks(packed, len(pool), bs, fill=0) == pool


@pytest.mark.parametrize("used, encoding", [
    ([False] * 100 + [True] * 50 + [False] * 1000, 0),   # one run: a run table
    ([True, False] * 600, 1),                            # fragmented: a bitmap
])
def test_map_encoding_is_the_smaller_one(used, encoding):
    pool = bytes(len(used) * 4)
    packed = pack_used_blocks(pool, 4, used)
    assert packed[0] == encoding
    assert unpack_used_blocks(packed, len(pool), 4, fill=1) == bytes(
        0 if used[i // 4] else 1 for i in range(len(pool)))
    if encoding == 0:
        assert len(packed) == 50 * 4 + 4   # mode, run count, skip, count


def test_unknown_map_encoding():
    with pytest.raises(ImageError, match="unknown map encoding 7"):
        unpack_used_blocks(b"\x07", 16, 16)


def test_unpack_fills_free_blocks():
    packed = pack_used_blocks(b"AAAABBBBCCCC", 4, [False, True, False])
    assert unpack_used_blocks(packed, 12, 4, fill=0x5A) == b"ZZZZBBBBZZZZ"


def test_empty_and_full_pools():
    assert unpack_used_blocks(pack_used_blocks(b"", 16, []), 0, 16) == b""
    pool = bytes(range(64))
    assert len(pack_used_blocks(pool, 16, [True] * 4)) == 64 + 3
    assert unpack_used_blocks(pack_used_blocks(pool, 16, [True] * 4), 64, 16) == pool


def test_pack_refuses_mismatched_used_map():
    with pytest.raises(ValueError):
        pack_used_blocks(b"\0" * 32, 16, [True])


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 8))
def test_pack_unpack_round_trip(used, bs):
    rng = random.Random(len(used))
    pool = bytes(rng.getrandbits(8) if used[i // bs] else 0xEE for i in range(len(used) * bs))
    assert unpack_used_blocks(pack_used_blocks(pool, bs, used), len(pool), bs, fill=0xEE) == pool


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 64), st.integers(0, 50))
def test_unpack_garbage_is_image_error_or_a_pool(packed, bs, blocks):
    try:
        out = unpack_used_blocks(packed, bs * blocks, bs)
    except ImageError:
        return
    assert len(out) == bs * blocks


# -- property: a damaged image is refused or decodes to exactly the original ------------

_ORIGINAL = decode(ENCODED)


def _decode_or_refuse(data: bytes) -> None:
    try:
        img = decode(data)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    assert img == _ORIGINAL


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, len(ENCODED) * 8 - 1), min_size=1, max_size=8))
def test_bit_flips(flips):
    data = bytearray(ENCODED)
    for bit in flips:
        data[bit // 8] ^= 1 << (bit % 8)
    _decode_or_refuse(bytes(data))


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, len(ENCODED) - 1))
def test_truncations(n):
    with pytest.raises(ImageError):
        decode(ENCODED[:n])


@settings(max_examples=1000, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_appended_garbage(tail):
    with pytest.raises(ImageError, match="trailing garbage"):
        decode(ENCODED + tail)


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, len(ENCODED)), st.integers(0, 64), st.binary(max_size=64))
def test_spliced_bytes(pos, cut, insert):
    _decode_or_refuse(ENCODED[:pos] + insert + ENCODED[pos + cut:])


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_after_magic(body):
    _decode_or_refuse(MAGIC + body)

"""Values that change representation across word sizes, converted exactly or refused by name
(sim.mpy.portable.widen.Converter): floats between single and double precision, words between
4 and 8 bytes. Pure functions of bytes and DWARF-shaped types: no firmware needed."""

from __future__ import annotations

import struct

import pytest

from sim.firmware import TypeInfo
from sim.mpy.portable import MigrationError
from sim.mpy.portable.relayout import Converter

SINGLE, DOUBLE = TypeInfo("base", "float", 4), TypeInfo("base", "double", 8)


def converter(ws: int, wt: int) -> Converter:
    c = Converter.__new__(Converter)
    c.ws, c.wt, c.converted = ws, wt, {}
    return c


@pytest.mark.parametrize("x", [0.1, 3.25, -1e30, 2.0**-149, float("inf")])
def test_single_into_double_is_exact(x):
    raw = struct.pack("<f", x)
    out = converter(4, 8).float(raw, SINGLE, DOUBLE, "f")
    assert struct.unpack("<d", out)[0] == struct.unpack("<f", raw)[0]


@pytest.mark.parametrize("x", [0.5, -3.25, 1e10 + 0.0, float("-inf")])
def test_double_into_single_when_it_round_trips(x):
    out = converter(8, 4).float(struct.pack("<d", x), DOUBLE, SINGLE, "f")
    assert struct.unpack("<f", out)[0] == x


def test_double_into_single_that_would_round_is_refused_naming_the_object():
    with pytest.raises(MigrationError, match="cannot load ratio: the double 0.1 has no exact single-precision"):
        converter(8, 4).float(struct.pack("<d", 0.1), DOUBLE, SINGLE, "ratio")


def test_nan_moves():
    out = converter(8, 4).float(struct.pack("<d", float("nan")), DOUBLE, SINGLE, "f")
    assert struct.unpack("<f", out)[0] != struct.unpack("<f", out)[0]


@pytest.mark.parametrize("value", [0, 1, -1, 2**30 - 1, -2**30])
def test_small_ints_keep_their_value_both_ways(value):
    word32 = ((value << 1) | 1) & 0xFFFFFFFF
    word64 = converter(4, 8).word(word32, "x")
    assert word64 == ((value << 1) | 1) & (2**64 - 1)
    assert converter(8, 4).word(word64, "x") == word32


@pytest.mark.parametrize("value", [2**30, -2**30 - 1, 2**40, -2**62])
def test_a_small_int_too_big_for_32_bits_becomes_a_big_int(value):
    word64 = ((value << 1) | 1) & (2**64 - 1)
    assert converter(8, 4).word(word64, "x") == ("newint", value)


def test_a_raw_word_too_big_for_32_bits_is_refused():
    with pytest.raises(MigrationError, match="cannot load it.cur: the value 8589934592 does not fit a 4-byte word"):
        converter(8, 4).word(2**33, "it.cur")

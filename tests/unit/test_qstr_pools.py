"""sim.mpy.qstr_pools against real firmware: every qstr of the ROM pool reads back
through the DWARF-described pool, and its stored hash is what compute_hash gives.

Checked for each version whose firmware is built (tests/firmware_versions.py), else skipped
with the reason; the default firmware is always built."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import FirmwareError
from sim.firmware import Firmware
from sim.mpy import qstr_pools as qp

from tests.firmware_versions import VERSIONS, firmware_for


def rom_reader(fw: Firmware):
    segs = sorted((s.addr, s.data) for s in fw.segments)

    def read(addr: int, n: int) -> bytes:
        for base, data in segs:
            if base <= addr and addr + n <= base + len(data):
                return data[addr - base:addr - base + n]
        raise AssertionError(f"{addr:#x} is not in the firmware image")
    return read


def check_rom_pool(path: Path, version: tuple[int, ...]) -> int:
    fw = Firmware.load(path)
    layout = qp.layout_for(version)
    pools = qp.QstrPools.for_firmware(fw, version, rom_reader(fw))
    nh = pools.nh
    assert (nh, pools.nl) == (2, 1)      # our ports' ROM level: 2-byte hashes, 1-byte lengths
    chain = pools.chain(fw.symbol("mp_qstr_const_pool").addr)
    # the ROM pools (1.22+: the static pool, then the port's): numbered one after the other
    assert chain[-1].total_prev_len == 0
    for newer, older in zip(chain, chain[1:]):
        assert newer.total_prev_len == older.total_prev_len + older.len
    if layout.sorted_bit:        # the port's qstrs are sorted (bisected), the static ones not
        assert [p.is_sorted for p in chain] == [True, False]
    names = set()
    for pool in chain:
        for i in range(pool.len):
            if pool.total_prev_len + i == 0:
                continue                 # MP_QSTRnull: no hash
            text = pools.text(pool, i)
            assert pools.stored_hash(pool, i) == qp.compute_hash(text, nh), (i, text)
            names.add(text)
    assert {b"__name__", b"__init__", b"print", b"BaseException"} <= names
    return sum(p.len for p in chain)


def test_hash_is_djb2_masked_and_never_zero():
    assert qp.compute_hash(b"", 2) == 5381
    assert qp.compute_hash(b"a", 2) == ((5381 * 33) ^ ord("a")) & 0xFFFF
    assert qp.compute_hash(b"a", 1) == ((5381 * 33) ^ ord("a")) & 0xFF
    assert qp.compute_hash(b"a", 0) == qp.compute_hash(b"a", 2)      # hash-less builds hash on demand, 16 bits
    zero = next(bytes([a, b]) for a in range(256) for b in range(256)
                if (((5381 * 33 ^ a) * 33) ^ b) & 0xFF == 0)
    assert qp.compute_hash(zero, 1) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_rom_pools_of_each_version_read_back_with_their_hashes(version):
    path = firmware_for(version)
    assert check_rom_pool(path, Firmware.load(path).micropython_version) > 300


def test_layouts_by_version_and_their_fields_are_checked():
    assert qp.layout_for((1, 9, 2)) is qp.PREFIXED and qp.layout_for((1, 18)) is qp.PREFIXED
    assert qp.layout_for((1, 19, 1)) is qp.SPLIT and qp.layout_for((1, 20)) is qp.SPLIT
    assert qp.layout_for((1, 22, 2)).sorted_bit and qp.layout_for((1, 23)).optional == ("hashes",)
    with pytest.raises(FirmwareError, match="older than 1.9"):
        qp.layout_for((1, 8, 7))
    fields_1_9 = {"prev": 0, "total_prev_len": 4, "alloc": 8, "len": 12, "qstrs": 16}
    qp.PREFIXED.check_fields(fields_1_9)
    with pytest.raises(FirmwareError, match="no field 'hashes'"):
        qp.SPLIT.check_fields(fields_1_9)
    with pytest.raises(FirmwareError, match="unexpected field 'hashes'"):
        qp.PREFIXED.check_fields({**fields_1_9, "hashes": 16, "lengths": 20, "qstrs": 24})
    qp.SPLIT_SORTED_HASHLESS.check_fields({"prev": 0, "total_prev_len": 4, "is_sorted": 4, "alloc": 8, "len": 12,
                                           "lengths": 16, "qstrs": 20})


def test_a_heap_pool_as_qstr_add_builds_it_reads_back():
    """A 1.22 heap pool after the ROM pool: arrays inside its own block, is_sorted clear;
    the ROM pool sorted.  Memory laid out as qstr_add() lays it out (py/qstr.c)."""
    mem = {}

    def put(addr, data):
        for k, b in enumerate(data):
            mem[addr + k] = b

    def read(addr, n):
        return bytes(mem[addr + k] for k in range(n))

    off = {"prev": 0, "total_prev_len": 4, "alloc": 8, "len": 12, "hashes": 16, "lengths": 20, "qstrs": 24}
    words = lambda *ws: b"".join(w.to_bytes(4, "little") for w in ws)    # noqa: E731
    rom, heap, text = 0x1000, 0x20000100, 0x20000400
    put(text, b"hello\0world!\0")
    put(rom, words(0, 0 | 1 << 31, 2, 2, 0x1100, 0x1200, text, text + 6))
    put(0x1100, b"".join(qp.compute_hash(t, 2).to_bytes(2, "little") for t in (b"hello", b"world!")))
    put(0x1200, bytes([5, 6]))
    alloc = 4
    pools = qp.QstrPools(qp.SPLIT_SORTED, read, off, 2)
    size = pools.heap_pool_size(alloc)
    assert size == 24 + (4 + 2 + 1) * alloc
    hashes, lengths = heap + 24 + 4 * alloc, heap + 24 + 6 * alloc
    put(heap, words(rom, 2, alloc, 1, hashes, lengths, text))
    put(hashes, qp.compute_hash(b"hello", 2).to_bytes(2, "little"))
    put(lengths, bytes([5]))
    chain = pools.chain(heap)
    assert [p.addr for p in chain] == [heap, rom] and chain[1].is_sorted and not chain[0].is_sorted
    assert chain[1].total_prev_len == 0 and chain[0].total_prev_len == 2
    p, i = pools.locate(chain, 2)
    assert p.addr == heap and pools.text(p, i) == b"hello" and pools.stored_hash(p, i) == qp.compute_hash(b"hello", 2)
    assert pools.text(*pools.locate(chain, 1)) == b"world!"
    kinds = dict(pools.pointer_slots(chain[0]))
    assert kinds[heap + 16] == kinds[heap + 20] == "self" and kinds[heap + 24] == "chunk"
    with pytest.raises(FirmwareError, match="qstr 3 is in no qstr pool"):
        pools.locate(chain, 3)

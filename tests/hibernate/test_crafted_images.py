"""CRC-valid crafted images, resumed by the real firmware in the real emulator.

A CRC proves only that the bytes are the ones written. Each example here takes a
real image, changes its structure (heap geometry, section lengths, compressed
tables that inflate to the wrong size or to a gigabyte, the pool's block map,
peripheral states of the wrong shape), re-encodes it with valid CRCs and commits
it to flash as the newest image next to the original. Resuming must then either
refuse it in one line (and fall back to the original, or stop with an ImageError),
or give exactly the original state: never a traceback, never a wrong state.
(Before: 37 of 700 such images raised KeyError/ValueError, one took 2.1 GB.)
"""

from __future__ import annotations

import dataclasses
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.device import Board
from sim.errors import ImageError, SimError
from sim.image import SECTION_ATB, SECTION_CTX, SECTION_FTB, SECTION_POOL, HibernateImage, decode
from tests.conftest import require_firmware

STATE = "x = [1, 2, 3]\nd = {'k': 'v' * 40, 7: (1.5, b'z')}\nclass C:\n  pass\nc = C()\nc.a = x"
PROBE = "(x, d, c.a is x)"


def _bomb(n: int) -> bytes:
    z = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    return b"".join([*(z.compress(chunk) for _ in range(n >> 20)), z.flush()])


BOMB = _bomb(1 << 28)                     # 256 MiB of zeros in ~250 KB


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    require_firmware()
    b = Board(flash_path=tmp_path_factory.mktemp("crafted") / "flash.bin", deterministic=True)
    b.boot()
    b.repl.exec(STATE)
    want = b.repl.eval(PROBE)
    b.hibernate()
    part = b.hibernator.partition
    (_info, data), = list(part.images_newest_first())
    yield Rig((b, decode(data), bytes(b.flash.backing), want))
    b.close()


class Rig(tuple):
    def __repr__(self) -> str:             # hypothesis prints its arguments: not 8 MiB of flash
        return "rig"


def _geometry(field_name: str, value: int):
    def mutate(img: HibernateImage) -> None:
        img.heap = dataclasses.replace(img.heap, **{field_name: value})
    return mutate


def _section(name: str, payload: bytes):
    def mutate(img: HibernateImage) -> None:
        img.sections[name] = payload
    return mutate


def _ctx_size(n: int):
    def mutate(img: HibernateImage) -> None:
        img.ctx_size = n
    return mutate


def _resize(name: str, delta: int):
    def mutate(img: HibernateImage) -> None:
        raw = img.sections[name]
        img.sections[name] = raw[:delta] if delta < 0 else raw + bytes(delta)
    return mutate


def _table(name: str, delta: int):
    def mutate(img: HibernateImage) -> None:
        raw = img.table(name) or b""
        img.sections[name] = zlib.compress(raw[:delta] if delta < 0 else raw + bytes(delta))
    return mutate


def _periph(edit):
    def mutate(img: HibernateImage) -> None:
        states = img.peripheral_states()
        name = sorted(states)[edit[0] % len(states)]
        states[name] = edit[1](states[name])
        img.sections["periph." + name] = json.dumps(states[name]).encode()
    return mutate


def _drop_key(state):
    return {k: v for i, (k, v) in enumerate(state.items()) if i}


def _retype(state):
    k = sorted(state)[0]
    return {**state, k: "nonsense" if not isinstance(state[k], str) else [1]}


def _extra_key(state):
    return {**state, "zz_extra": 1}


def _bad_nvic(state):
    if "nvic" not in state:
        return _retype(state)
    nvic = dict(state["nvic"], active=[9999], prigroup=99)
    return {**state, "nvic": nvic}


def _deepen(state):
    k = sorted(state)[0]
    return {**state, k: {"a": [[[[state[k]]]]]}}


_GEO_FIELDS = ["heap_start", "heap_end", "atb_start", "atb_len", "ftb_start", "ftb_len", "pool_start", "pool_end",
               "block_size"]
_VALUES = st.one_of(st.sampled_from([0, 1, 4, 16, 0x1000, 0x3000_0000, 0x6000_0000, 0xFFFF_FFFF]),
                    st.integers(0, 0xFFFF_FFFF))

mutations = st.one_of(
    st.builds(_geometry, st.sampled_from(_GEO_FIELDS), _VALUES),
    st.builds(_ctx_size, st.one_of(st.integers(0, 4096), _VALUES)),
    st.builds(_resize, st.sampled_from([SECTION_CTX, SECTION_POOL]), st.integers(-300, 300).filter(bool)),
    st.builds(_table, st.sampled_from([SECTION_ATB, SECTION_FTB]), st.integers(-64, 64).filter(bool)),
    st.builds(_section, st.sampled_from([SECTION_ATB, SECTION_FTB, SECTION_POOL, "periph.uart0"]),
              st.one_of(st.just(BOMB), st.binary(max_size=64), st.just(zlib.compress(b"[1, 2]")),
                        st.just(b'{"a": ' * 200 + b"1" + b"}" * 200))),
    st.builds(_periph, st.tuples(st.integers(0, 20), st.sampled_from([_drop_key, _retype, _extra_key, _deepen, _bad_nvic]))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=3))
def test_a_crafted_image_is_refused_or_resumes_the_original_state(rig, edits):
    board, original, backing, want = rig
    img = decode(original.encode())
    for edit in edits:
        try:
            edit(img)
        except ImageError:
            return                        # the mutation itself needed a readable section: nothing crafted
    board.flash.backing[:] = backing      # the original image alone, then the crafted one as the newest
    part = board.hibernator.partition
    data = img.encode()
    if len(data) > part.capacity:
        return                            # cannot be in flash at all
    part.write(data, sequence=part.next_sequence())
    skipped: list[str] = []
    try:
        board.resume_or_boot(report=skipped.append)
    except SimError as e:
        assert "\n" not in str(e)
        return
    for line in skipped:
        assert "\n" not in line
    assert board.repl.eval(PROBE) == want


def _commit(board, backing, img) -> list[str]:
    board.flash.backing[:] = backing
    part = board.hibernator.partition
    part.write(img.encode(), sequence=part.next_sequence())
    return []


def test_a_truncated_ctx_is_refused_not_resumed_with_empty_globals(rig):
    """Seen before: a ctx section cut to 100 bytes "resumed" with empty globals."""
    board, original, backing, want = rig
    img = decode(original.encode())
    img.sections[SECTION_CTX] = img.sections[SECTION_CTX][:100]
    skipped = _commit(board, backing, img)
    board.resume_or_boot(report=skipped.append)          # skipped, the original resumed
    assert any("section 'ctx' is 100 bytes, the header says mp_state_ctx is" in line for line in skipped)
    assert board.repl.eval(PROBE) == want
    img.ctx_size = 100                                     # header and section agree: the firmware does not
    _commit(board, backing, img)
    with pytest.raises(ImageError, match="ctx size: image 0x64"):
        board.resume_or_boot(report=skipped.append)


def test_an_atb_bomb_is_refused_without_inflating_it(rig):
    board, original, _backing, _want = rig
    img = decode(original.encode())
    img.sections[SECTION_ATB] = BOMB
    with pytest.raises(ImageError, match="inflates to more than its geometry allows"):
        board.hibernator._check_compatible(img)


def test_peripheral_state_of_the_wrong_shape_is_refused_before_load_state(rig):
    board, original, _backing, _want = rig
    img = decode(original.encode())
    img.sections["periph.uart0"] = json.dumps({"ctrl": 3}).encode()
    with pytest.raises(ImageError, match="section 'periph.uart0': missing 'bauddiv'"):
        board.hibernator._check_compatible(img)


def test_a_heap_outside_ram_is_refused(rig):
    board, original, _backing, _want = rig
    img = decode(original.encode())
    h = img.heap
    shift = 0x6000_0000 - h.heap_start                  # the whole heap moved into the flash
    img.heap = dataclasses.replace(h, **{f: getattr(h, f) + shift for f in _GEO_FIELDS[:-1]
                                         if getattr(h, f) and f not in ("atb_len", "ftb_len")})
    with pytest.raises(ImageError, match="is not inside the RAM of board mps2-an385"):
        board.hibernator._check_compatible(img)


def test_nvic_state_out_of_range_is_refused_before_load_state(rig):
    """The right shape, impossible values: an active exception 9999 would index past the
    NVIC's tables at the next interrupt (an IndexError deep in a run)."""
    board, original, _backing, _want = rig
    img = decode(original.encode())
    scs = img.peripheral_states()["scs"]
    scs["nvic"]["active"] = [9999]
    img.sections["periph.scs"] = json.dumps(scs).encode()
    with pytest.raises(ImageError, match="section 'periph.scs': nvic: the active exceptions are not distinct"):
        board.hibernator._check_compatible(img)

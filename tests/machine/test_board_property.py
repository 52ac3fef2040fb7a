"""Board files written by a hostile or careless hand: hypothesis mutates the real
mps2-an385 description (any field to any TOML-able value, tables dropped or
duplicated) and every result must either be refused with one BoardError line, or
build a machine that boots a guest and reports any trouble as a SimError. Zero
tracebacks (before: clock_hz = 0, an irq >= num_irq, num_irq = 0 or 10^9, no
console, no scs each raised one)."""

from __future__ import annotations

import copy
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.board import BOARDS_DIR, parse_board
from sim.errors import BoardError, SimError
from sim.firmware import Firmware
from sim.machine import Machine

BASE = tomllib.loads((BOARDS_DIR / "mps2-an385.toml").read_text())

scalars = st.one_of(
    st.sampled_from([0, 1, -1, 3, 4095, 4096, 0x1000_0000, 0xE000_E000, 2 ** 31, 2 ** 32, 2 ** 32 + 4096, 2 ** 64,
                     10 ** 9, 496, 497, 31, 32]),
    st.integers(-2 ** 70, 2 ** 70), st.booleans(), st.text(max_size=8), st.floats(allow_nan=True))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


@st.composite
def mutated_boards(draw):
    board = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["top", "memory", "peripheral", "settings", "irq", "drop", "dup"]))
        if kind == "top":
            key = draw(st.sampled_from(["name", "cpu", "clock_hz", "refclk_hz", "num_irq", "description", "x"]))
            board[key] = draw(values)
        elif kind in ("memory", "peripheral"):
            table = draw(st.sampled_from(board[kind])) if board[kind] else {}
            key = draw(st.sampled_from(["name", "base", "size", "alias", "boot", "rom", "console", "type", "irq"]))
            table[key] = draw(values)
        elif kind == "settings":
            flash = next((p for p in board["peripheral"] if p.get("type") == "nor_flash"), None)
            if not isinstance(flash, dict):
                continue
            key = draw(st.sampled_from(["sector_size", "page_size", "erase_value", "hibernate_offset",
                                        "hibernate_size", "sector_erase_us"]))
            flash.setdefault("settings", {})[key] = draw(values)
        elif kind == "irq":
            if not board["peripheral"]:
                continue
            p = draw(st.sampled_from(board["peripheral"]))
            p["irq"] = draw(st.dictionaries(st.sampled_from(["rx", "tx", "timer", "overflow"]),
                                            st.one_of(st.integers(-3, 600), values), max_size=3))
        elif kind == "drop":
            key = draw(st.sampled_from(["memory", "peripheral"]))
            if board[key]:
                board[key].pop(draw(st.integers(0, len(board[key]) - 1)))
        else:
            key = draw(st.sampled_from(["memory", "peripheral"]))
            if board[key]:
                board[key].append(copy.deepcopy(draw(st.sampled_from(board[key]))))
    return board


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(mutated_boards())
def test_a_mutated_board_is_refused_in_one_line_or_runs(guest_elf, data):
    try:
        spec = parse_board(data)
    except BoardError as e:
        assert "\n" not in str(e)
        return
    try:
        m = Machine(spec, Firmware.load(guest_elf("hello")))
        try:
            m.run(timeout=2, stop_on_idle=False)
        finally:
            m.close()
    except SimError as e:
        assert "\n" not in str(e).strip()

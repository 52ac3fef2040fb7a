"""Busy-wait sleeps (sim/machine/busywait.py) on guests that sleep by polling, with
no WFI and no interrupts: tests/guest/busy_sleep.c polls TIMER0's VALUE, then
SysTick's COUNTFLAG, each sleep measured with TIMER1; tests/guest_rv/busy_sleep.c
polls the CLINT's mtime on virt-rv64. Each prints a sleep's length and how often
it polled.

Host-paced: every sleep lasts at least what was asked and ends at most 100 ms late
in the firmware's own time. A fast-forward step is at most 250 us, but between
steps the clock runs with the host: a host that stalls the emulator for a few ms
(a loaded CI machine: 6 ms was seen) makes the sleep that much later, so the
bound only catches an overshooting fast-forward, and exactness is the
deterministic test's job. The 10 s sleeps are fast-forwarded: they poll a
few ten thousand times, where running them at host pace polls millions of times
(that count, not a duration, is what is asserted; host time: tools/bench-busywait).
Deterministic: no fast-forward, exact to the loop, and the same output twice."""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import pytest

from sim.board import load_board
from sim.firmware import Firmware
from sim.machine.machine import Machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from build import build_or_skip  # noqa: E402

LINE = re.compile(r"^(timer0|systick|mtime) (\d+) ms: (\d+) us, (\d+) polls$")


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> Path:
    return build_or_skip("busy_sleep", tmp_path_factory.mktemp("guest"))


@pytest.fixture(scope="module")
def rv_elf(tmp_path_factory) -> Path:
    return build_or_skip("busy_sleep", tmp_path_factory.mktemp("guest_rv"), "rv64")


def _run(elf: Path, deterministic: bool, sleeps: tuple[int, ...] | None = None, board: str = "mps2-an385",
         lines: int = 8) -> list[tuple[str, int, int, int]]:
    fw = Firmware.load(elf)
    m = Machine(load_board(board), fw, deterministic=deterministic)
    try:
        if sleeps is not None:
            m.run_until(m.symbol("main"))                     # start-up has copied .data
            m.write(m.symbol("sleeps"), struct.pack("<4I", *sleeps))
        r = m.run(timeout=120, stop_on_idle=False)
        out = m.console.take_output().decode()
        assert r.kind == "exit" and r.exit_status == 0, (r, out)
    finally:
        m.close()
    rows = [LINE.match(line) for line in out.splitlines()]
    assert all(rows) and len(rows) == lines, out
    return [(g[1], int(g[2]), int(g[3]), int(g[4])) for g in (row for row in rows)]


def _check_fast_forwarded(rows) -> None:
    for what, ms, us, polls in rows:
        assert ms * 1000 <= us <= ms * 1000 + 100_000, (what, ms, us)  # never early; late only by host stalls
        if ms == 10_000:
            assert polls < 100_000, (what, polls)                       # at host pace: millions


def test_host_paced_busy_waits_are_fast_forwarded_and_on_time(elf):
    _check_fast_forwarded(_run(elf, deterministic=False))


def test_a_busy_wait_on_the_clint_mtime_is_fast_forwarded(rv_elf):
    rows = _run(rv_elf, deterministic=False, board="virt-rv64", lines=4)
    assert [ms for _w, ms, _us, _p in rows] == [1, 10, 250, 10_000]
    _check_fast_forwarded(rows)


def test_deterministic_busy_waits_are_exact_and_repeat(elf):
    short = (1, 2, 3, 5)           # deterministic busy-waits run every poll: ~35x slower than real time
    first = _run(elf, deterministic=True, sleeps=short)
    assert [(w, ms) for w, ms, _us, _p in first] == [(w, ms) for w in ("timer0", "systick") for ms in short]
    for what, ms, us, polls in first:
        assert ms * 1000 <= us <= ms * 1000 + 50, (what, ms, us)       # to the loop: no time skipped
        assert polls > ms * 1000, (what, ms, polls)                     # every iteration ran
    assert _run(elf, deterministic=True, sleeps=short) == first

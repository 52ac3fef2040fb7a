"""Fixtures for tests that run the real emulator on tiny bare-metal guests
compiled from tests/guest/*.c at test time (skipped without arm-none-eabi-gcc)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "guest"))
from build import build_or_skip  # noqa: E402

from sim.board import load_board  # noqa: E402
from sim.firmware import Firmware  # noqa: E402
from sim.machine.machine import Machine  # noqa: E402


@pytest.fixture(scope="session")
def guest_elf(tmp_path_factory):
    out = tmp_path_factory.mktemp("guest")

    return lambda name: build_or_skip(name, out)


@pytest.fixture
def machine(guest_elf):
    made = []

    def make(name: str, **kw) -> Machine:
        m = Machine(load_board(), Firmware.load(guest_elf(name)), **kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close()

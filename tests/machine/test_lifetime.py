"""A machine's engine and guest RAM (tens of MB) go when the machine does.

A test run or a long-lived host program makes thousands of machines; one that
stayed alive after its last use (its slice-timer thread held it) cost a test
worker 8 GB and got it killed. A Board closes its machine; a machine nobody
closed is still collected, and its timer thread ends."""

from __future__ import annotations

import gc
import threading
import weakref

from sim.board import load_board
from sim.device import Board
from sim.firmware import Firmware
from sim.machine.machine import Machine

from mpfirmware import ELF, needs_firmware, until_prompt  # noqa: E402

pytestmark = needs_firmware


def _timer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "mpsim-slice-timer"}


def _its_timer_thread(before: set[threading.Thread]) -> threading.Thread:
    new = _timer_threads() - before
    assert len(new) == 1, new                         # host-paced slices started one timer thread
    return new.pop()


def test_a_machine_nobody_closed_is_collected_and_its_timer_ends():
    before = _timer_threads()
    m = Machine(load_board(), Firmware.load(ELF))
    until_prompt(m)
    thread = _its_timer_thread(before)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None
    thread.join(timeout=5)                           # it ends at its next wake-up
    assert not thread.is_alive()


def test_closing_a_board_closes_its_machine(tmp_path):
    before = _timer_threads()
    board = Board(flash_path=tmp_path / "flash.bin", firmware=ELF)
    board.boot()
    thread = _its_timer_thread(before)
    board.close()
    thread.join(timeout=5)
    assert not thread.is_alive()

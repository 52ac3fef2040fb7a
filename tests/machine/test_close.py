"""A closed board frees its machine (Unicorn engine, guest RAM: ~10 MB or more each):
a long test run, or anyone making boards in a loop, must not keep every one it made."""

import gc
import time
import weakref

from sim.device import Board


def test_a_closed_board_lets_go_of_its_machine(tmp_path, firmware_path):
    b = Board(firmware=firmware_path, flash_path=tmp_path / "f.bin")
    b.boot()
    b.repl.exec("x = 1")
    b.close()
    machine = weakref.ref(b.machine)
    del b
    for _ in range(100):                  # escape hatch: the timer thread ends at once
        gc.collect()
        if machine() is None:
            break
        time.sleep(0.05)
    assert machine() is None, "a closed board's machine is still referenced"


def test_a_machine_nobody_closed_is_freed_too(firmware_path):
    from sim.board import load_board
    from sim.firmware import Firmware
    from sim.machine.machine import Machine
    m = Machine(load_board(), Firmware.load(firmware_path))
    assert m.run(timeout=30).kind == "idle"          # host-paced: its slice-timer thread runs
    machine = weakref.ref(m)
    del m
    for _ in range(100):
        gc.collect()
        if machine() is None:
            break
        time.sleep(0.05)
    assert machine() is None, "the slice-timer thread keeps an unclosed machine alive"

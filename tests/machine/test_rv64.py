"""Our MicroPython 1.23 port on the 64-bit board (virt-rv64) in mpsim: a 64-bit
interpreter, Ctrl-C through the PLIC, a tickless sleep fast-forwarded in virtual
time, the board LED word, host calls into the firmware and snapshots."""

from __future__ import annotations

import pytest

from sim.device import Board
from sim.paths import default_firmware

ELF = default_firmware("virt-rv64")
pytestmark = pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: "
                                "make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23")


@pytest.fixture
def board(tmp_path):
    b = Board("virt-rv64", ELF, flash_path=tmp_path / "flash.bin")
    b.boot()
    yield b
    b.machine.close()


def test_a_64_bit_interpreter(board):
    assert "MicroPython v1.23.0" in board.boot_output and "virt-rv64 with rv64imac" in board.boot_output
    assert board.repl.exec("import sys; print(sys.maxsize == 2**63 - 1, sys.platform, 2**100)") == \
        "True virt 1267650600228229401496703205376\n"


def test_ctrl_c_interrupts_a_loop(board):
    board.repl.exit_raw()
    board.repl.write("while True: pass\r\r")
    board.repl.drain(0.3)
    assert "KeyboardInterrupt" in board.repl.interrupt()
    assert board.repl.exec("print('alive')") == "alive\n"


def test_sleep_is_tickless_and_fast_forwarded(board):
    m = board.machine
    t0 = m.now_ns
    assert board.repl.exec("import time; t = time.ticks_ms(); time.sleep(10); "
                           "print(time.ticks_diff(time.ticks_ms(), t) >= 10000)") == "True\n"
    assert m.now_ns - t0 >= 10_000_000_000


def test_board_led_is_interpreter_state(board, tmp_path):
    """virt has no LEDs: board.LED drives a root pointer, read by the host through
    DWARF, and it survives hibernate + power cycle + resume with the interpreter."""
    from sim.mpy.state import MpState
    m = board.machine
    leds = lambda: MpState(m, board.firmware).read_field("vm.board_leds")   # noqa: E731
    board.repl.exec("import board; board.LED(1).on()")
    assert leds() == 2
    board.repl.exec("board.LED(1).toggle(); board.LED(0).on()")
    assert leds() == 1
    board.hibernate()
    board.power_cycle()
    board.resume()
    assert leds() == 1 and board.repl.exec("print(board.LED(0).value(), board.leds())") == "1 1\n"


def test_host_call_and_snapshot_roundtrip(board, tmp_path):
    from sim import snapshot
    m = board.machine
    assert m.call(m.symbol("mp_hal_ticks_ms")) >= 0
    board.repl.exec("x = 41")
    snapshot.save_snapshot(m, tmp_path / "s.snap")
    board.repl.exec("x = 1000")
    snapshot.load_snapshot(m, tmp_path / "s.snap")
    assert board.repl.exec("print(x + 1)") == "42\n"


def test_boot_parameters_move_the_heap(tmp_path):
    """The boot-parameter block on 64-bit: a 1 MiB heap at 0x84000000 (the GC's end is
    rounded to its 32-byte blocks there)."""
    b = Board("virt-rv64", ELF, flash_path=tmp_path / "flash.bin", heap=(0x8400_0000, 0x8410_0000))
    try:
        b.boot()
        total = int(b.repl.exec("import gc; print(gc.mem_free() + gc.mem_alloc())"))
        assert 1_000_000 < total < 0x10_0000
    finally:
        b.machine.close()

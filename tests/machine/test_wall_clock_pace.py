"""``mpsim repl`` on a terminal keeps a sleeping board to the wall clock
(sim/machine/pace.py: WallClockPace), on the real firmware: time.sleep(1) takes
about a second there, while run() alone fast-forwards it."""

import time

from sim.board import load_board
from sim.machine.pace import WallClockPace
from sim.firmware import Firmware
from sim.machine.machine import Machine

from mpfirmware import ELF, needs_firmware, until_prompt  # noqa: E402

pytestmark = needs_firmware


def test_a_sleep_takes_its_time_when_paced():
    m = Machine(load_board(), Firmware.load(ELF))
    try:
        until_prompt(m)
        pace = WallClockPace(m)
        m.console.feed(b"import time; time.sleep(1); print('woke')\r")
        t0 = time.monotonic()
        out = b""
        while b"woke\r\n" not in out.split(b"\r\n", 1)[-1] and time.monotonic() - t0 < 60:   # escape hatch only
            m.run(timeout_s=0.02)
            out += m.console.take_output()
            time.sleep(pace.wait_s())
        took = time.monotonic() - t0
        assert b"woke\r\n" in out
        # Fast-forwarded it would take milliseconds. Paced, the board's time never runs ahead
        # of the wall clock by more than what one run() call fast-forwards of a sleep
        # (sim.machine.machine._SLEEP_CHUNK_NS, 250 ms) before the pace waits; a loaded host
        # only makes it take longer.
        assert took >= 0.7, f"a paced time.sleep(1) took {took:.2f} s"
        # waiting for input at the prompt: no waiting imposed
        assert out.endswith(b">>> ") or m.run(timeout=5).kind == "idle"
        m.run(timeout=5)
        assert m.is_waiting_for_input() and pace.wait_s() == 0
    finally:
        m.close()

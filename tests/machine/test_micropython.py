"""The real MicroPython firmware on the machine: prompt, arithmetic, sleep,
Ctrl-C out of an endless loop — skipped when the firmware is not built."""

import time

import pytest

from sim.board import load_board
from sim.firmware import Firmware
from sim.machine.machine import Machine

from mpfirmware import ELF, MODES, needs_firmware, until_prompt  # noqa: E402  (tests/machine is on sys.path)

pytestmark = needs_firmware


@pytest.fixture(params=MODES)
def mp(request):
    m = Machine(load_board(), Firmware.load(ELF), deterministic=request.param)
    yield m
    m.close()


def test_boots_to_prompt_and_evaluates(mp):
    banner = until_prompt(mp)
    assert b"MicroPython" in banner and banner.endswith(b">>> ")
    mp.console.feed(b"print(1+1)\r")
    assert until_prompt(mp) == b"print(1+1)\r\n2\r\n>>> "
    mp.console.feed(b"print(2**100)\r")
    assert b"1267650600228229401496703205376\r\n>>> " in until_prompt(mp)
    assert mp.is_waiting_for_input()


def test_sleep_is_fast_forwarded(mp):
    until_prompt(mp)
    mp.console.feed(b"import time; t=time.ticks_ms(); time.sleep_ms(2000); print(time.ticks_diff(time.ticks_ms(), t))\r")
    t = time.thread_time()                   # CPU time of the emulating thread: load cannot inflate it
    out = until_prompt(mp)
    elapsed = int(out.split(b"\r\n")[-2])
    assert 2000 <= elapsed <= 2005           # host-paced mode may see the next tick
    assert time.thread_time() - t < 5.0


def test_ctrl_c_interrupts_endless_loop(mp):
    until_prompt(mp)
    mp.console.feed(b"while True: pass\r\r")
    r = mp.run(timeout=0.3)
    assert r.kind in ("timeout", "idle")
    mp.console.feed(b"\x03")
    out = until_prompt(mp)
    assert b"KeyboardInterrupt" in out
    mp.console.feed(b"print('alive')\r")
    assert b"alive\r\n>>> " in until_prompt(mp)


def test_deterministic_mode_is_reproducible():
    outs = []
    for _ in range(2):
        m = Machine(load_board(), Firmware.load(ELF), deterministic=True)
        out = until_prompt(m)
        for line in (b"import time\r", b"time.sleep_ms(5)\r", b"print(time.ticks_ms(), time.ticks_us())\r"):
            m.console.feed(line)
            out += until_prompt(m)
        outs.append((out, m.now_ns, m.cpu_state()))
        m.close()
    assert outs[0] == outs[1]

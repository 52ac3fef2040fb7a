"""Speed properties of the machine that the issue asks for (tools/bench measures them
against QEMU): a guest time.sleep(10) is fast-forwarded in a few steps -- the
firmware's clock is tickless (firmware/systime.c), so the machine jumps to the
alarm instead of running a tick handler every millisecond -- the firmware still
sees exactly 10 s pass, and a board idle at the prompt burns no host CPU."""

import time

import pytest

from sim import engine
from sim.board import load_board
from sim.firmware import Firmware
from sim.machine.machine import Machine

from mpfirmware import ELF, MODES, needs_firmware, until_prompt  # noqa: E402  (tests/machine is on sys.path)

pytestmark = needs_firmware


@pytest.mark.parametrize("det", MODES)
def test_sleep_10s_costs_little_host_cpu(det):
    m = Machine(load_board(), Firmware.load(ELF), deterministic=det)
    try:
        until_prompt(m)
        m.console.feed(b"import time; t=time.ticks_ms(); time.sleep(10); print(time.ticks_diff(time.ticks_ms(), t))\r")
        slices = []
        emu = m._emu
        m._emu = lambda *a, **k: slices.append(1) or emu(*a, **k)
        t0 = m.now_ns
        out = until_prompt(m)
        assert 10000 <= int(out.split(b"\r\n")[-2]) <= 10002     # the firmware saw 10 s pass
        assert m.now_ns - t0 >= 10_000_000_000
        # a 1 kHz tick would take 10,000 slices; run() returns every 250 ms of a sleep
        assert len(slices) < 1000, f"{len(slices)} emulation slices for a 10 s sleep"
    finally:
        m.close()


@pytest.mark.parametrize("det", MODES)
def test_run_during_sleep_is_not_idle_at_every_tick(det):
    """A guest sleeping between timer ticks looks like WFI-idle; one run() call
    still fast-forwards at least idle_ns of it rather than returning per tick."""
    m = Machine(load_board(), Firmware.load(ELF), deterministic=det)
    try:
        until_prompt(m)
        m.console.feed(b"import time; time.sleep_ms(500)\r")
        m.run(until_ns=m.now_ns + 5_000_000)              # the line is read, sleep begins
        m.console.take_output()
        t0 = m.now_ns
        r = m.run(timeout=10)
        assert r.kind == "idle"
        assert r.now_ns - t0 >= m.idle_ns
        assert not m.is_waiting_for_input()               # asleep in time.sleep, not in the REPL
        assert until_prompt(m).endswith(b">>> ")
        assert m.run(timeout=10).kind == "idle" and m.is_waiting_for_input()
    finally:
        m.close()


def test_idle_board_burns_no_host_cpu():
    m = Machine(load_board(), Firmware.load(ELF))
    try:
        until_prompt(m)
        assert m.run(timeout=5).kind == "idle"
        c0 = time.process_time()
        time.sleep(0.5)                                    # the slice-timer thread must not spin
        assert time.process_time() - c0 < 0.05
    finally:
        m.close()


def test_patched_engine_used_without_tlb_hook_and_with_icount():
    if not engine.features.fast_exec_stores:
        pytest.skip("stock libunicorn: the TLB-fill workaround is in use")
    m = Machine(load_board(), Firmware.load(ELF), deterministic=True)
    try:
        assert not m._tlb_hook
        assert m._icount == engine.features.has_icount
        until_prompt(m)
        if m._icount:
            assert engine.read_icount(m.uc) > 0
    finally:
        m.close()

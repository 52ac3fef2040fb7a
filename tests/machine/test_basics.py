"""Boot, UART output, SysTick interrupts with WFI fast-forward, UART RX interrupts,
busy-poll idle detection — on the real emulator, both clock modes."""

import time

import pytest

MODES = [pytest.param(False, id="hostpaced"), pytest.param(True, id="deterministic")]


@pytest.mark.parametrize("det", MODES)
def test_hello_exits_through_semihosting(machine, det):
    m = machine("hello", deterministic=det)
    r = m.run(timeout=5)
    assert r.kind == "exit" and r.exit_status == 7
    assert m.exit_status == 7
    assert m.console.take_output() == b"hello from guest\n"


@pytest.mark.parametrize("det", MODES)
def test_systick_interrupts_and_wfi_fast_forward(machine, det):
    m = machine("systick", deterministic=det)
    t = time.thread_time()           # CPU time of the emulating thread: a loaded host cannot inflate it
    r = m.run(timeout=10, stop_on_idle=False)
    host = time.thread_time() - t
    assert r.kind == "exit", r
    out = m.console.take_output().decode()
    assert "ticks=100 wakeups>=100:1" in out
    assert "cvr_ok=1" in out
    assert 100_000_000 <= r.now_ns < 110_000_000      # 100 ticks of 1 ms of virtual time
    assert host < 2.0                                  # slept 100 ms virtual; fast-forwarded


@pytest.mark.parametrize("det", MODES)
def test_uart_rx_interrupt_echo(machine, det):
    m = machine("uart_irq", deterministic=det)
    r = m.run(timeout=5)
    assert r.kind == "idle", r
    assert m.console.take_output() == b"ready\n"
    m.console.feed(b"hello")
    r = m.run(timeout=5)
    assert r.kind == "idle"
    assert m.console.take_output() == b"HELLO"
    m.console.feed(b"abcq")
    r = m.run(timeout=5)
    assert r.kind == "exit" and r.exit_status == 0
    assert m.console.take_output() == b"ABCQ\ncount=9\n"


@pytest.mark.parametrize("det", MODES)
def test_busy_poll_is_detected_as_idle(machine, det):
    m = machine("poll", deterministic=det)
    t = time.thread_time()           # CPU time (see above), not wall time
    r = m.run(timeout=5)
    assert r.kind == "idle" and time.thread_time() - t < 1.0
    assert m.console.take_output() == b"> "
    m.console.feed(b"ab\r")
    assert m.run(timeout=5).kind == "idle"
    assert m.console.take_output() == b"ab\r\n> "
    m.console.feed(b"q")
    r = m.run(timeout=5)
    assert r.kind == "exit" and r.exit_status == 0


def test_deterministic_runs_are_identical(machine):
    outs = []
    for _ in range(2):
        m = machine("systick", deterministic=True)
        r = m.run(timeout=10, stop_on_idle=False)
        outs.append((r, m.console.take_output(), m.cpu_state()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("det", MODES)
def test_registers_survive_preemption_svc_and_pendsv(machine, det):
    m = machine("preempt", deterministic=det)
    r = m.run(timeout=20, stop_on_idle=False)
    out = m.console.take_output().decode()
    assert r.kind == "exit" and r.exit_status == 0, out


@pytest.mark.parametrize("det", MODES)
def test_interrupt_pending_while_masked_is_taken_right_after_unmask(machine, det):
    """CPSIE, MSR PRIMASK/BASEPRI and CPSIE f each let a pending interrupt in before
    the next instruction; a WFI with PRIMASK set wakes on a timer without taking it
    (the sleep idiom of tickless firmware), 100 times in 100 ms of board time."""
    m = machine("unmask", deterministic=det)
    r = m.run(timeout=10, stop_on_idle=False)
    out = m.console.take_output().decode()
    assert r.kind == "exit", r
    assert r.exit_status == 0, f"failed checks (bits): {r.exit_status:#x}; {out}"
    assert out == "taken=104\n"
    assert 100_000_000 <= r.now_ns < (110_000_000 if det else 150_000_000)   # host-paced: + host time


@pytest.mark.parametrize("det", MODES)
@pytest.mark.parametrize("engine", ["loaded", "stock"])
def test_it_block_state_does_not_leak_into_the_next_call(machine, guest_elf, det, engine):
    """tests/guest/itblock.c: an IT block whose load misses the TLB, then a call;
    the callee must not run under the IT condition (stock Unicorn's TLB-fill hook
    leaked it: 50 of 50 results were wrong before mpsim cleared it)."""
    if engine == "loaded":
        r = machine("itblock", deterministic=det).run(timeout=10, stop_on_idle=False)
        assert (r.kind, r.exit_status) == ("exit", 0)
        return
    from child import run_on_engine         # tests/guest (on sys.path via conftest)
    out = run_on_engine(guest_elf("itblock"), "stock", det)
    assert (out.returncode, out.stdout) == (0, b"ok\n"), out.stderr.decode()[-2000:]


def test_unknown_firmware_sleeping_with_a_timer_is_not_waiting_for_input(machine):
    """No MicroPython input function to tell: with a timer running, an idle board may
    be sleeping, so callers (repl, serve) keep running it rather than block for input."""
    m = machine("systick")
    r = m.run(timeout=5)
    assert r.kind == "idle" and not m.is_waiting_for_input()
    while m.run(timeout=5).kind != "exit":
        pass
    assert "ticks=100" in m.console.take_output().decode()

"""Guest faults become one clear GuestFault; semihosting console and exit codes."""

import pytest

from sim.errors import GuestFault


def test_unmapped_read_is_reported(machine):
    m = machine("fault")
    with pytest.raises(GuestFault) as e:
        m.run(timeout=5)
    msg = str(e.value)
    assert "read of unmapped" in msg and "0x30000000" in msg and "<main+" in msg
    assert e.value.address == 0x30000000 and e.value.access == "read"
    assert m.console.take_output() == b"before\n"


@pytest.mark.parametrize("det", [False, True], ids=["hostpaced", "deterministic"])
def test_semihosting_console_and_exit(machine, det):
    m = machine("semihost", deterministic=det)
    r = m.run(timeout=5)
    assert r.kind == "idle"                     # SYS_READC waits for input
    assert m.console.take_output() == b"write0\nvia-open\n"
    m.console.feed(b"A")
    r = m.run(timeout=5)
    assert r.kind == "exit" and r.exit_status == ord("A")


def test_call_firmware_function(machine):
    m = machine("preempt")
    work = m.symbol("work")
    before = m.cpu_state()
    a = m.call(work, 1000)
    assert a == m.call(work, 1000) and a != m.call(work, 1001)
    assert m.cpu_state() == before


def test_power_off_fills_ram_with_garbage_and_reset_reboots(machine):
    m = machine("hello")
    m.power_off()
    assert m.read(0x20000000, 8) == b"\xde\xad\xbe\xef" * 2
    m.reset()
    r = m.run(timeout=5)
    assert r.kind == "exit" and r.exit_status == 7


def test_fault_with_an_unreadable_vector_table_is_one_guest_fault(machine):
    m = machine("fault")
    m.run(address=m.symbol("main"), stop_on_idle=False, timeout=5)
    m.core.scs.vtor = 0x30000000                     # nothing there: the fault cannot be taken
    with pytest.raises(GuestFault) as e:
        m.run(timeout=5)
    assert "read of unmapped" in str(e.value) and "vector table at 0x30000000 is not readable" in str(e.value)

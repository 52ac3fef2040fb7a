"""The virt-rv64 devices without the emulator: NS16550A registers and interrupt
identification, CLINT timer level and deadlines, PLIC priority/threshold/claim/
complete, the sifive_test finisher, state round-trips."""

from sim.board import load_board
from sim.peripherals.ns16550a import Ns16550a
from sim.peripherals.riscv_clint import RiscvClint
from sim.peripherals.riscv_plic import RiscvPlic
from sim.peripherals.sifive_test import SifiveTest

BOARD = load_board("virt-rv64")


def uart():
    irqs = {}
    u = Ns16550a(BOARD.peripheral("uart0"), BOARD, lambda n, lvl: irqs.__setitem__(n, lvl))
    return u, irqs


def test_uart_lsr_dlab_and_tx():
    u, irqs = uart()
    assert u.read(5, 1) == 0x60 and u.read(2, 1) == 0x01      # THRE|TEMT; no interrupt pending
    u.write(3, 1, 0x83)                                        # DLAB: +0/+1 are the divisor
    u.write(0, 1, 0x12)
    u.write(1, 1, 0x34)
    assert (u.read(0, 1), u.read(1, 1), u.take_output()) == (0x12, 0x34, b"")
    u.write(3, 1, 0x03)
    u.write(0, 1, ord("h"))
    assert u.take_output() == b"h" and u.read(1, 1) == 0


def test_uart_interrupt_identification_and_paced_rx():
    u, irqs = uart()
    u.write(1, 1, 0x02)                                        # THR-empty interrupt: pending at once
    assert irqs["intr"] and u.read(2, 1) == 0x02
    assert not irqs["intr"] and u.read(2, 1) == 0x01           # reading IIR cleared it
    u.write(1, 1, 0x01)                                        # received-data interrupt
    u.feed(b"ab")
    assert u.deliver() and irqs["intr"] and u.read(2, 1) == 0x04 and u.read(5, 1) & 1
    assert not u.deliver()                                     # no FIFO: one byte at a time
    assert u.read(0, 1) == ord("a") and u.read(0, 1) == ord("b")
    assert not u.read(5, 1) & 1 and not irqs["intr"]
    u.write(2, 1, 0xC1)                                        # FIFO on, trigger level 14
    u.feed(b"xyz")
    u.deliver()
    assert u.read(2, 1) == 0xCC and u.rx_pending == 3         # below the trigger: character timeout


def test_uart_state_roundtrip():
    u, _ = uart()
    u.write(1, 1, 0x01)
    u.feed(b"q")
    u.deliver()
    v, _ = uart()
    v.load_state(u.state())
    assert v.read(0, 1) == ord("q") and v.ier == 1


def test_clint_timer_level_and_deadline():
    now = [0]
    c = RiscvClint(BOARD.peripheral("clint"), BOARD)
    c.clock = lambda: now[0]
    c.reset()
    assert c.tick(0) is None and c.mtip                        # mtimecmp 0 at reset: pending (as QEMU)
    c.write(0x4000, 8, 1000)                                   # 1000 ticks of 10 MHz = 100 us
    assert not c.mtip and c.tick(0) == 100_000
    now[0] = 100_000
    assert c.read(0xBFF8, 8) == 1000 and c.tick(now[0]) is None and c.mtip
    c.write(0x4004, 4, 0xFFFFFFFF)                            # high half: far away again
    assert not c.mtip and c.tick(now[0]) is None              # ~58,000 years: no deadline
    c.write(0xBFF8, 8, 5)                                      # writing mtime moves its origin
    assert c.read(0xBFF8, 4) == 5


def test_plic_priority_threshold_claim_complete():
    p = RiscvPlic(BOARD.peripheral("plic"), BOARD)
    p.write(4 * 10, 4, 1)
    p.write(4 * 5, 4, 3)
    p.write(0x2000, 4, (1 << 10) | (1 << 5))
    p.set_source(10, True)
    p.set_source(5, True)
    assert p.meip and p.read(0x1000, 4) == (1 << 10) | (1 << 5)
    p.write(0x200000, 4, 3)                                    # threshold 3: neither exceeds it
    assert not p.meip and p.read(0x200004, 4) == 0
    p.write(0x200000, 4, 0)
    assert p.read(0x200004, 4) == 5                            # highest priority first
    assert p.read(0x200004, 4) == 10 and not p.meip            # both claimed now
    p.set_source(5, True)                                      # still high: pends again, but claimed
    assert not p.meip
    p.write(0x200004, 4, 5)                                    # complete
    assert p.meip and p.read(0x200004, 4) == 5


def test_sifive_test_finisher():
    t = SifiveTest(BOARD.peripheral("test"), BOARD)
    seen = []
    t.on_exit, t.on_reset = seen.append, lambda: seen.append("reset")
    t.write(0, 4, 0x5555)
    t.write(0, 4, 0x3333 | (7 << 16))
    t.write(0, 4, 0x7777)
    t.write(0, 4, 0x1234)
    assert seen == [0, 7, "reset"]

"""Peripheral models without the emulator: UART pacing, SysTick/timer arithmetic,
NVIC priorities, FPGAIO counters, SCS registers, state round-trips."""

from sim.board import load_board
from sim.peripherals.cmsdk_timer import CmsdkTimer
from sim.peripherals.cmsdk_uart import CmsdkUart
from sim.peripherals.mps2_fpgaio import Mps2FpgaIo
from sim.arch.armv7m.nvic import PENDSV, SYSTICK, Nvic
from sim.arch.armv7m.scs import Scs

BOARD = load_board()


def uart():
    irqs = {}
    u = CmsdkUart(BOARD.peripheral("uart0"), BOARD, lambda n, lvl: irqs.__setitem__(n, lvl))
    return u, irqs


def test_uart_tx_and_paced_rx_with_interrupt():
    u, irqs = uart()
    u.write(0x8, 4, 0b1011)                     # TX, RX, RX interrupt
    u.write(0x0, 4, ord("h"))
    assert u.take_output() == b"h"
    u.feed(b"ab")
    assert u.deliver() and irqs["rx"] and u.read(0x4, 4) & 2
    assert not u.deliver()                      # DATA still full: next byte waits
    assert u.read(0x0, 4) == ord("a")           # reading refills from the FIFO
    assert u.read(0x0, 4) == ord("b")
    assert not u.read(0x4, 4) & 2
    u.write(0xC, 4, 2)
    assert not irqs["rx"]


def test_uart_state_roundtrip():
    u, _ = uart()
    u.write(0x8, 4, 3)
    u.write(0x10, 4, 217)
    v, _ = uart()
    v.load_state(u.state())
    assert v.state() == u.state()


def test_nvic_priority_and_masking():
    n = Nvic(32)
    n.enabled[16 + 3] = True
    n.priority[16 + 3] = 0x80
    n.priority[PENDSV] = 0xF0
    n.set_pending(16 + 3)
    n.set_pending(PENDSV)
    assert n.should_take() == 16 + 3
    assert n.should_take(primask=1) is None
    assert n.should_take(basepri=0x80) is None and n.should_take(basepri=0x40) is None
    assert n.should_take(basepri=0xC0) == 16 + 3
    n.acknowledge(16 + 3)
    assert n.should_take() is None              # PendSV (0xF0) cannot preempt 0x80
    n.complete(16 + 3)
    assert n.should_take() == PENDSV


def test_systick_period_and_countflag():
    now = [0]
    s = Scs(BOARD.peripheral("scs"), BOARD)
    s.clock = lambda: now[0]
    s.write(0x14, 4, 24999)                     # 1 ms at 25 MHz
    s.write(0x18, 4, 0)
    s.write(0x10, 4, 7)
    d = s.tick(0)
    assert d == 1_000_000
    now[0] = 500_000
    assert s.read(0x18, 4) == 12500
    now[0] = d
    assert s.tick(now[0]) == 2_000_000 and s.nvic.pending[SYSTICK]
    assert s.read(0x10, 4) & (1 << 16) and not s.read(0x10, 4) & (1 << 16)


def test_scs_registers():
    s = Scs(BOARD.peripheral("scs"), BOARD)
    assert s.read(0xD00, 4) == 0x410FC231
    s.write(0xD08, 4, 0x1000)
    assert s.read(0xD08, 4) == 0x1000
    s.write(0x400 + 5, 1, 0x40)                 # byte write to IPR
    assert s.nvic.priority[16 + 5] == 0x40
    s.write(0xD04, 4, 1 << 28)
    assert s.nvic.pending[PENDSV] and s.read(0xD04, 4) & (1 << 28)
    resets = []
    s.on_sysreset = lambda: resets.append(1)
    s.write(0xD0C, 4, 0x05FA0004)
    assert resets


def test_timer_reload_and_interrupt():
    now, irq = [0], {}
    t = CmsdkTimer(BOARD.peripheral("timer0"), BOARD, lambda n, lvl: irq.__setitem__(n, lvl))
    t.clock = lambda: now[0]
    t.write(0x8, 4, 2499)                       # 100 us at 25 MHz
    t.write(0x0, 4, 0b1001)                     # enable + IRQ
    d = t.tick(0)
    assert d == 99_960                          # RELOAD loads VALUE; IRQ on the 1 -> 0 step
    now[0] = d
    t.tick(now[0])
    assert irq["timer"] and t.read(0xC, 4) == 1
    t.write(0xC, 4, 1)
    assert not irq["timer"]


def test_fpgaio_counters_follow_virtual_time():
    now = [0]
    f = Mps2FpgaIo(BOARD.peripheral("fpgaio"), BOARD)
    f.clock = lambda: now[0]
    f.reset()
    now[0] = 2_500_000_000
    assert f.read(0x10, 4) == 2 and f.read(0x14, 4) == 250
    f.write(0x0, 4, 3)
    assert f.read(0x0, 4) == 3

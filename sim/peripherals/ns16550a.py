"""NS16550A UART, register-compatible with QEMU's serial-mm on ``-M virt`` (regshift 0).

Registers (byte offsets): RBR/THR (DLL when LCR.DLAB), IER (DLM when DLAB),
IIR (read) / FCR (write), LCR, MCR, LSR, MSR, SCR. One interrupt output,
``intr``, wired to a PLIC source by the board file (virt: 10).

As with the CMSDK UART (cmsdk_uart.py), transmission completes the moment THR is
written (THRE/TEMT stay set; a THR-empty interrupt follows at once when enabled),
and reception is paced: fed bytes wait on the host and enter the receiver only
when it has room (the 16-byte FIFO when FCR enables it, else the one RBR).

Interrupt priority and IIR codes follow the 16550 and QEMU's serial.c: line
status (0x6) > received data (0x4; with the FIFO, when it holds the trigger level)
> character timeout (0xC) > THR empty (0x2) > modem status (0x0); bit 0 set means
none pending; bits 6-7 set while the FIFO is on. Reading IIR while it reports THR
empty clears that condition, as does writing THR. Differences: no character-time
delays (the timeout condition is raised as soon as data sits below the trigger
level), no loopback, no overrun (the host never pushes faster than the guest reads).
"""

from __future__ import annotations

import collections
from typing import Any

from .base import register
from .serial_line import SerialLine

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 1, 2, 4, 8
IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI, IIR_FIFO = 0x1, 0x0, 0x2, 0x4, 0x6, 0xC, 0xC0
FCR_FE, FCR_RFR, FCR_XFR = 1, 2, 4
LCR_DLAB = 0x80
LSR_DR, LSR_THRE, LSR_TEMT = 0x01, 0x20, 0x40
MSR_DEFAULT = 0xB0            # DCD | DSR | CTS, as QEMU's reset with no modem lines
FIFO_SIZE = 16
_TRIGGER = (1, 4, 8, 14)      # FCR bits 6-7


@register
class Ns16550a(SerialLine):
    type_name = "ns16550a"

    # -- host side (and serial_line.py) -----------------------------------------
    @property
    def rx_interrupts(self) -> bool:
        """The firmware takes input in an interrupt; False: it polls (see cmsdk_uart)."""
        return bool(self.ier & IER_RDI)

    @property
    def rx_pending(self) -> int:
        return len(self.rx_fifo) + len(self.rx)

    def deliver(self) -> bool:
        """Move fed bytes into the receiver while it has room."""
        room = (FIFO_SIZE if self.fcr & FCR_FE else 1) - len(self.rx)
        if room <= 0 or not self.rx_fifo:
            return False
        with self._lock:
            for _ in range(min(room, len(self.rx_fifo))):
                self.rx.append(self.rx_fifo.popleft())
        self._update()
        return True

    # -- bus ------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        dlab = self.lcr & LCR_DLAB
        if offset == RBR:
            if dlab:
                return self.divisor & 0xFF
            self.data_access()
            r = self.rx.popleft() if self.rx else 0
            if self.on_activity:
                self.on_activity()
            self.deliver()
            self._update()
            return r
        if offset == IER:
            return (self.divisor >> 8) if dlab else self.ier
        if offset == IIR:
            r = self.iir
            if r & 0xF == IIR_THRI:
                self.thr_ipending = False
                self._update()
            return r
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            self.poll_status(not self.rx)
            return LSR_THRE | LSR_TEMT | (LSR_DR if self.rx else 0)
        if offset == MSR:
            return MSR_DEFAULT
        if offset == SCR:
            return self.scr
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == THR:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
                return
            self.data_access()
            self.emit(bytes([value]))
            self.thr_ipending = True          # sent at once: THR empty again
            self._update()
        elif offset == IER:
            if dlab:
                self.divisor = (self.divisor & 0xFF) | (value << 8)
                return
            changed = (self.ier ^ value) & 0x0F
            self.ier = value & 0x0F
            if changed & IER_THRI:
                self.thr_ipending = bool(self.ier & IER_THRI)     # THR is always empty
            self._update()
        elif offset == FCR:
            if (value ^ self.fcr) & FCR_FE:
                self.rx.clear()               # changing FIFO mode resets both FIFOs
            if value & FCR_RFR:
                self.rx.clear()
            self.fcr = value & 0xC9
            self.deliver()
            self._update()
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
        elif offset == SCR:
            self.scr = value

    def _update(self) -> None:
        ier, n = self.ier, len(self.rx)
        if ier & IER_RDI and n and (not self.fcr & FCR_FE or n >= _TRIGGER[self.fcr >> 6]):
            code = IIR_RDI
        elif ier & IER_RDI and n:
            code = IIR_CTI                    # data below the trigger level: character timeout
        elif ier & IER_THRI and self.thr_ipending:
            code = IIR_THRI
        else:
            code = IIR_NO_INT
        self.iir = code | (IIR_FIFO if self.fcr & FCR_FE else 0)
        self.set_irq("intr", code != IIR_NO_INT)

    # -- life cycle -------------------------------------------------------------
    def reset(self) -> None:
        self.rx: collections.deque[int] = collections.deque()
        self.ier = self.fcr = self.mcr = self.scr = 0
        self.lcr = 0
        self.divisor = 0
        self.thr_ipending = False
        self.iir = IIR_NO_INT
        self._polls = 0
        self._update()

    def state(self) -> dict[str, Any]:
        return {"rx": list(self.rx), "ier": self.ier, "fcr": self.fcr, "lcr": self.lcr, "mcr": self.mcr,
                "scr": self.scr, "divisor": self.divisor, "thr_ipending": self.thr_ipending}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rx = collections.deque(state["rx"])
        for k in ("ier", "fcr", "lcr", "mcr", "scr", "divisor", "thr_ipending"):
            setattr(self, k, state[k])
        self._update()

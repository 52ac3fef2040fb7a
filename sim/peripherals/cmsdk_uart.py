"""ARM CMSDK APB UART (DDI0479C), register-compatible with QEMU's cmsdk-apb-uart.

Why it looks like this: the host is infinitely fast compared with a serial line,
so transmission completes the moment DATA is written (as QEMU does with a chardev
that always accepts). Reception is *paced*: bytes the host feeds wait in a FIFO
and the next one enters DATA only after the guest has read the previous one, so
firmware that reads one byte per interrupt never sees an overrun (QEMU gets the
same effect from ``uart_can_receive``).

Host API (serial_line.py): ``feed(bytes)`` (thread-safe append), ``take_output()``,
``on_output`` callback. The machine calls ``deliver()`` between CPU slices to move
a fed byte into DATA; reading DATA refills it immediately from the FIFO.
"""

from __future__ import annotations

from typing import Any

from .base import register
from .serial_line import SerialLine

DATA, STATE, CTRL, INTSTATUS, BAUDDIV = 0x0, 0x4, 0x8, 0xC, 0x10

ST_TXFULL, ST_RXFULL, ST_TXOVR, ST_RXOVR = 1, 2, 4, 8
CT_TX_EN, CT_RX_EN, CT_TX_INTEN, CT_RX_INTEN, CT_TXO_INTEN, CT_RXO_INTEN = 1, 2, 4, 8, 16, 32
IS_TX, IS_RX, IS_TXO, IS_RXO = 1, 2, 4, 8

_ID = (0x04, 0x00, 0x00, 0x00, 0x21, 0xB8, 0x1B, 0x00, 0x0D, 0xF0, 0x05, 0xB1)  # PID4..7, PID0..3, CID0..3


@register
class CmsdkUart(SerialLine):
    type_name = "cmsdk_uart"

    # -- host side (and serial_line.py) -----------------------------------------
    @property
    def rx_pending(self) -> int:
        return len(self.rx_fifo) + bool(self.state_reg & ST_RXFULL)

    @property
    def rx_interrupts(self) -> bool:
        """The firmware takes input in an interrupt (into a buffer of its own that
        may overflow); False: it polls, and fed bytes wait here until it reads them."""
        return bool(self.ctrl & CT_RX_INTEN)

    def deliver(self) -> bool:
        """Move the next fed byte into DATA if the receiver can take it."""
        if not (self.ctrl & CT_RX_EN) or self.state_reg & ST_RXFULL or not self.rx_fifo:
            return False
        with self._lock:
            self.rxbuf = self.rx_fifo.popleft()
        self.state_reg |= ST_RXFULL
        if self.ctrl & CT_RX_INTEN:
            self.intstatus |= IS_RX
        self._update()
        return True

    # -- bus ------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset == DATA:
            self.data_access()
            r = self.rxbuf
            self.state_reg &= ~ST_RXFULL
            self._update()
            if self.on_activity:
                self.on_activity()
            self.deliver()
            return r
        if offset == STATE:
            self.poll_status(not self.state_reg & ST_RXFULL)
            return self.state_reg
        if offset == CTRL:
            return self.ctrl
        if offset == INTSTATUS:
            return self.intstatus
        if offset == BAUDDIV:
            return self.bauddiv
        if 0xFD0 <= offset <= 0xFFC:
            return _ID[(offset - 0xFD0) // 4]
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == DATA:
            self.data_access()
            if self.ctrl & CT_TX_EN:
                self.emit(bytes([value & 0xFF]))
                # TX completes at once: TXFULL never stays set; the
                # full->empty edge raises the TX interrupt if enabled.
                if self.ctrl & CT_TX_INTEN:
                    self.intstatus |= IS_TX
                self._update()
        elif offset == STATE:
            self.state_reg &= ~(value & (ST_TXOVR | ST_RXOVR))
            self._update()
        elif offset == CTRL:
            self.ctrl = value & 0x7F
            self._update()
            self.deliver()
        elif offset == INTSTATUS:
            self.state_reg &= ~(value & (IS_TXO | IS_RXO))
            self.intstatus &= ~value
            self._update()
        elif offset == BAUDDIV:
            self.bauddiv = value & 0xFFFFF

    def _update(self) -> None:
        omask = IS_RXO | IS_TXO
        self.intstatus = (self.intstatus & ~omask) | (self.state_reg & (self.ctrl >> 2) & omask)
        self.set_irq("tx", bool(self.intstatus & IS_TX))
        self.set_irq("rx", bool(self.intstatus & IS_RX))
        self.set_irq("overflow", bool(self.intstatus & omask))

    # -- life cycle -------------------------------------------------------------
    def reset(self) -> None:
        self.state_reg = 0
        self.ctrl = 0
        self.intstatus = 0
        self.bauddiv = 0
        self.rxbuf = 0
        self._polls = 0
        self._update()

    def state(self) -> dict[str, Any]:
        return {"state": self.state_reg, "ctrl": self.ctrl, "intstatus": self.intstatus,
                "bauddiv": self.bauddiv, "rxbuf": self.rxbuf}

    def load_state(self, state: dict[str, Any]) -> None:
        self.state_reg = state["state"]
        self.ctrl = state["ctrl"]
        self.intstatus = state["intstatus"]
        self.bauddiv = state["bauddiv"]
        self.rxbuf = state["rxbuf"]
        self._update()

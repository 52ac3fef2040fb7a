"""SiFive test finisher, as QEMU's ``-M virt`` maps it at 0x100000 (hw/misc/sifive_test.c).

A 32-bit write to offset 0 ends the board: ``0x5555`` (pass) exits with status 0,
``0x3333 | code << 16`` (fail) exits with ``code``, ``0x7777`` (reset) resets the
system. Anything else is ignored (QEMU logs it as a guest error); reads return 0.
The machine installs ``on_exit(status)`` and ``on_reset()``.
"""

from __future__ import annotations

import logging
from typing import Callable

from .base import Peripheral, register

log = logging.getLogger(__name__)

FINISHER_FAIL, FINISHER_PASS, FINISHER_RESET = 0x3333, 0x5555, 0x7777


@register
class SifiveTest(Peripheral):
    type_name = "sifive_test"

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.on_exit: Callable[[int], None] = lambda status: None
        self.on_reset: Callable[[], None] = lambda: None

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset != 0:
            return
        status, code = value & 0xFFFF, (value >> 16) & 0xFFFF
        if status == FINISHER_PASS:
            self.on_exit(0)
        elif status == FINISHER_FAIL:
            self.on_exit(code)
        elif status == FINISHER_RESET:
            self.on_reset()
        else:
            log.info("%s: unknown finisher command %#x ignored", self.name, value)

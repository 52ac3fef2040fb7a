"""The one contract every peripheral model follows.

Peripherals never import Unicorn: the machine maps each one with ``mmio_map``
and forwards accesses to ``read``/``write`` with the offset from the block's base.
Time reaches a peripheral only through ``tick(now_ns)``, which returns the next
virtual time at which it needs to be ticked again (or None), so the run loop can
stop the CPU exactly at that deadline instead of polling. Interrupts leave through
``self.set_irq(name, level)``; the board file maps ``name`` to an NVIC line.
``state()``/``load_state()`` are plain JSON-able data, which is how hibernation
captures hardware state separately from the interpreter's memory.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from ..board import BoardSpec, PeripheralSpec

IrqSink = Callable[[str, bool], None]

PERIPHERAL_TYPES: dict[str, type["Peripheral"]] = {}


def register(cls: type["Peripheral"]) -> type["Peripheral"]:
    """Class decorator: make ``cls`` available to board files as ``type = cls.type_name``."""
    PERIPHERAL_TYPES[cls.type_name] = cls
    return cls


class Peripheral:
    type_name: ClassVar[str] = ""
    # Registers that read the time (a timer's count): polling one is a busy-wait sleep
    # (sim/machine/busywait.py).
    clock_regs: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, spec: PeripheralSpec, board: BoardSpec, irq: IrqSink | None = None):
        self.spec = spec
        self.board = board
        self.name = spec.name
        self._irq = irq or (lambda name, level: None)

    # -- bus interface ------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        raise NotImplementedError

    def write(self, offset: int, size: int, value: int) -> None:
        raise NotImplementedError

    # -- life cycle ---------------------------------------------------------
    def reset(self) -> None:
        """Power-on / system reset state."""

    def tick(self, now_ns: int) -> int | None:
        """Advance to virtual time ``now_ns``; return the next deadline (ns) or None."""
        return None

    def set_irq(self, name: str, level: bool) -> None:
        self._irq(name, level)

    # -- capture ------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

    def check_state(self, state: dict[str, Any]) -> None:
        """Raise ValueError naming what ``state`` (already shaped like ``state()``)
        holds that ``load_state`` must not take (a saved image is untrusted input)."""

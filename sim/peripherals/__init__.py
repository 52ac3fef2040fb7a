"""One file per hardware block. Each class subclasses ``Peripheral`` and is
registered under the ``type`` name that board files use."""

from .base import Peripheral, PERIPHERAL_TYPES, register

__all__ = ["Peripheral", "PERIPHERAL_TYPES", "register"]

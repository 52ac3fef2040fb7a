"""Numbers a user types on the command line, checked before anything uses them.

argparse's ``type=float`` takes ``nan`` and ``inf`` (a ``--timeout nan`` never times
out: a hang) and ``1e400`` (inf again); ``int(float("inf"))`` is an OverflowError
traceback. These parsers accept only finite values in the range that makes sense
and raise ``argparse.ArgumentTypeError`` (one usage line, exit 2) otherwise.
"""

from __future__ import annotations

import argparse
import math
from decimal import Decimal, InvalidOperation

MAX_SECONDS = 10 ** 7               # ~4 months: any longer wait is a typo
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def seconds(text: str) -> float:
    """A duration in seconds: finite, > 0, at most MAX_SECONDS."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"seconds must be a finite number above 0 and at most {MAX_SECONDS}, "
                                         f"not {text!r}")
    return value


def check_seconds(value: float | None, option: str) -> None:
    """The same check for a value that is already parsed (None: no limit)."""
    if value is not None:
        try:
            seconds(repr(value))
        except argparse.ArgumentTypeError as e:
            from .errors import UsageError
            raise UsageError(f"{option}: {e}") from None


def size(text: str) -> int:
    """A byte count such as 131072, 0x20000, 128K, 1.5M: a whole number of bytes,
    0 .. 4 GiB (the 32-bit address space)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = t[-1:] if t[-1:] in _UNITS else ""
    number = t[:-1] if unit else t
    try:
        if number.startswith(("0x", "0o", "0b")):
            value = Decimal(int(number, 0))
        else:
            value = Decimal(number.replace("_", ""))
    except (ValueError, InvalidOperation):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 131072, 128K or 1M)") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (must be finite)")
    try:
        value *= _UNITS[unit]
        whole = value == value.to_integral_value() and 0 <= value <= 1 << 32
    except ArithmeticError:              # decimal.Overflow for 1e999999999K
        whole = False
    if not whole:
        raise argparse.ArgumentTypeError(f"size {text!r} must be a whole number of bytes from 0 to 4G")
    return int(value)


def port(text: str) -> int:
    """A TCP port on 127.0.0.1: 0 (any free port) .. 65535."""
    try:
        n = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (0-65535): {n}")
    return n

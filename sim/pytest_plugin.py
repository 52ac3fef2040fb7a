"""pytest plugin (registered through the ``pytest11`` entry point).

Options select the board, firmware and flash image; fixtures give tests a fresh
simulated board on the real firmware.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpsim", "mpsim simulated MicroPython board")
    group.addoption("--mpsim-board", default=None, help="board name or TOML path (default: mps2-an385)")
    group.addoption("--mpsim-firmware", default=None, help="firmware ELF (default: the built default firmware)")

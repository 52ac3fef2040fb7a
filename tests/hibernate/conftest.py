"""Every test here runs once per MicroPython version (tests/firmware_versions.py finds
the ELFs): ``board`` and ``make_board`` boot the firmware of ``mp_version``."""

from __future__ import annotations

from tests.firmware_versions import ALL, per_version, selected

mp_version, make_board = per_version(selected(ALL))

"""Every test here runs once per MicroPython version (tests/firmware_versions.py finds
the ELFs): ``board`` and ``make_board`` boot the firmware of ``mp_version``."""

from __future__ import annotations

import pytest

from tests.firmware_versions import ALL, boards, selected


@pytest.fixture(params=selected(ALL))
def mp_version(request):
    return request.param


@pytest.fixture
def make_board(request, tmp_path, mp_version):
    yield from boards(request, tmp_path, mp_version)

"""Every test here runs once per MicroPython version (tests/firmware_versions.py finds
the ELFs): ``board`` and ``make_board`` boot the firmware of ``mp_version``."""

from __future__ import annotations

import pytest

from tests.firmware_versions import ALL, firmware_for, selected


@pytest.fixture(params=selected(ALL))
def mp_version(request):
    return request.param


@pytest.fixture
def make_board(request, tmp_path, mp_version):
    from sim.device import Board
    firmware = firmware_for(mp_version)
    made = []
    request.node._mpsim_boards = made

    def factory(flash_path=None, boot: bool = True, **kw):
        kw.setdefault("deterministic", request.config.getoption("--mpsim-deterministic"))
        b = Board("mps2-an385", firmware, flash_path=flash_path or tmp_path / f"flash{len(made)}.bin", **kw)
        made.append(b)
        if boot:
            b.boot()
        return b

    yield factory
    for b in made:
        b.close()

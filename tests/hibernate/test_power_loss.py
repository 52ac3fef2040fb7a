"""Power cut at every flash operation of a hibernate (clean and torn): what resumes
is exactly the previous committed state or the new one, never a mix, never a crash.

Case ids are ``<mode>-<N>``: N is the flash operation cut. The default run covers
every N in clean mode and a spread in torn mode (the commit record's neighbourhood
always); MPSIM_EXHAUSTIVE=1 runs every N in both. Replay one case from the CLI:
``mpsim power-cycle --cut-at N [--torn]``.
"""

from __future__ import annotations

import os

import pytest

from sim.peripherals.nor_flash import PowerLossMode
from sim.powerloss import board_factory, count_ops, run_case

from ..conftest import FIRMWARE

_OPS: int | None = None


def _factory(config):
    return board_factory(firmware=FIRMWARE, deterministic=config.getoption("--mpsim-deterministic"))


def pytest_generate_tests(metafunc):
    if "cut" not in metafunc.fixturenames:
        return
    global _OPS
    if not FIRMWARE.exists():
        metafunc.parametrize("cut", [pytest.param(None, marks=pytest.mark.skip(reason="firmware not built"))])
        return
    if _OPS is None:
        _OPS = count_ops(_factory(metafunc.config))
    exhaustive = os.environ.get("MPSIM_EXHAUSTIVE") == "1"
    cases = [("clean", n) for n in range(_OPS + 1)]
    torn = range(_OPS + 1) if exhaustive else sorted({*range(0, _OPS, 5), _OPS - 2, _OPS - 1, _OPS})
    cases += [("torn", n) for n in torn]
    metafunc.parametrize("cut", cases, ids=[f"{m}-{n}" for m, n in cases])


def test_power_loss_resumes_old_or_new(cut, request):
    mode, n = cut
    result = run_case(_factory(request.config), PowerLossMode[mode.upper()], n)
    assert result.outcome in ("old", "new"), f"{result.case_id}: {result.detail}"
    if n < _OPS - 1:
        # Before the commit record is fully programmed, the old image must win.
        assert result.outcome == "old", f"{result.case_id}: resumed the new state before it was committed"
    if n >= _OPS:
        assert result.outcome == "new"

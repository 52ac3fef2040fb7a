"""Power cut at every flash operation of a hibernate (clean and torn): what resumes
is exactly the previous committed state or the new one, never a mix, never a crash.

Case ids are ``<version>-<mode>-<N>``: N is the flash operation cut; the sweep runs on
every version tests/firmware_versions.py finds built. The default run covers
every N in clean mode and a spread in torn mode (the commit record's neighbourhood
always); MPSIM_EXHAUSTIVE=1 runs every N in both. Replay one case from the CLI:
``mpsim power-cycle --cut-at N [--torn]``.
"""

from __future__ import annotations

import os

import pytest

from sim.peripherals.nor_flash import PowerLossMode
from sim.powerloss import board_factory, count_ops, run_case

from tests.firmware_versions import ALL, _find, firmware_for, selected

_OPS: dict[str, int] = {}


def _factory(config, version):
    return board_factory(firmware=firmware_for(version), deterministic=config.getoption("--mpsim-deterministic"))


def pytest_generate_tests(metafunc):
    if "cut" not in metafunc.fixturenames:
        return
    exhaustive = os.environ.get("MPSIM_EXHAUSTIVE") == "1"
    cases, ids = [], []
    for version in selected(ALL):
        if _find(version)[0] is None:
            cases.append(pytest.param((version, None, None), marks=pytest.mark.skip(
                reason=f"no MicroPython {version} firmware built")))
            ids.append(f"{version}-missing")
            continue
        if version not in _OPS:
            _OPS[version] = count_ops(_factory(metafunc.config, version))
        ops = _OPS[version]
        torn = range(ops + 1) if exhaustive else sorted({*range(0, ops, 5), ops - 2, ops - 1, ops})
        for mode, n in [("clean", n) for n in range(ops + 1)] + [("torn", n) for n in torn]:
            cases.append((version, mode, n))
            ids.append(f"{version}-{mode}-{n}")
    metafunc.parametrize("cut", cases, ids=ids)


def test_power_loss_resumes_old_or_new(cut, request):
    version, mode, n = cut
    ops = _OPS[version]
    result = run_case(_factory(request.config, version), PowerLossMode[mode.upper()], n)
    assert result.outcome in ("old", "new"), f"{version} {result.case_id}: {result.detail}"
    if n < ops - 1:
        # Before the commit record is fully programmed, the old image must win.
        assert result.outcome == "old", f"{version} {result.case_id}: resumed the new state before it was committed"
    if n >= ops:
        assert result.outcome == "new"

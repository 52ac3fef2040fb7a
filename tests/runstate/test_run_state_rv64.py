"""Hibernate while a program runs, on the 64-bit board: the run-state image's
roots (statics, stack, registers) are 8-byte words there, and the CPU state is
RISC-V's (pc, x1..x31, the machine CSRs)."""

from __future__ import annotations

import pytest

from sim.device import Board
from sim.image import ImageKind, decode
from sim.paths import default_firmware
from sim.runstate.sweep import reference, run_until, sweep
from sim.slots import Partition
from tests.runstate.test_run_state import CHECKSUM, _midway

ELF = default_firmware("virt-rv64")
pytestmark = pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: "
                                "make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23")


@pytest.fixture
def new_board(tmp_path):
    made = []

    def make(**kw) -> Board:
        kw.setdefault("deterministic", True)
        b = Board("virt-rv64", ELF, flash_path=tmp_path / f"flash{len(made)}.bin", **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()


def test_run_state_hibernate_resumes_mid_loop_on_rv64(new_board):
    ref = reference(new_board, CHECKSUM, 30)
    b = new_board()
    b.boot()
    out = _midway(b, CHECKSUM, 0.5, ref.duration_ns)
    assert b"done" not in out and out
    b.hibernate(run_state=True)
    b.power_cycle()
    b.resume()
    run_until(b, out, None, 30)
    assert bytes(out) == ref.output
    image = decode(next(Partition(b.flash).images_newest_first())[1])
    assert image.kind is ImageKind.RUN_STATE and image.word_size == 8


def test_power_fail_sweep_resumes_exactly_on_rv64(new_board):
    result = sweep(new_board, CHECKSUM, 5)
    assert len(result.cases) == 5
    assert not result.failures, "\n".join(f"{c.at_us} µs: {c.detail}" for c in result.cases if not c.ok)

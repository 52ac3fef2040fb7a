"""The survival list (test_survival.py) on the 64-bit board, with the heap moved at
every power cycle: each resume relocates the image (8-byte words, 63-bit small
ints, 32-byte GC blocks) into another heap, and every check of the list must hold
afterwards. The plans: the same size elsewhere, twice the size, half the size; a
test that cycles more than once goes back and forth (A -> B -> A -> ...).
"""

from __future__ import annotations

import itertools

import pytest

from sim.device import Board
from sim.paths import default_firmware
from tests.hibernate.test_survival import (  # noqa: F401 - collected here, on virt-rv64
    test_after_resume_gc_allocation_and_new_definitions_work, test_board_clock_goes_on_from_where_it_stopped,
    test_classes_instances_bound_methods_exceptions, test_functions_closures_lambdas_generators,
    test_imported_modules_and_sys_modules, test_modern_objects_held_in_globals_survive,
    test_readline_history_survives, test_scalars_and_containers_survive, test_state_digest_matches,
    test_strings_interned_at_run_time_survive, test_ten_cycles_keep_a_counter_exact)

ELF = default_firmware("virt-rv64")
pytestmark = pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: "
                                "make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23")

STATIC = None                                 # the firmware's own heap (128 KiB, in .heap)
ELSEWHERE = 0x8100_0000                       # 16 MiB into RAM: far above .bss and the stack
PLANS = {
    "moved": (STATIC, (ELSEWHERE, ELSEWHERE + 128 * 1024)),
    "2x": (STATIC, (ELSEWHERE, ELSEWHERE + 256 * 1024)),
    "half": (STATIC, (ELSEWHERE, ELSEWHERE + 64 * 1024)),
}


class MovingBoard(Board):
    """A board whose heap moves to the next bounds of ``plan`` at every power cycle, so
    that every ``resume()`` relocates (the image's heap is never this boot's)."""

    def __init__(self, *args, plan, **kw):
        super().__init__(*args, heap=plan[0], **kw)
        self.plan = itertools.cycle(plan[1:] + plan[:1])
        self.relocations: list[str] = []

    def power_cycle(self) -> None:
        super().power_cycle()
        self.heap = self.hibernator.heap = next(self.plan)

    def resume(self, image=None):
        report = super().resume(image)
        assert report.relocated, "the heap moved, so the resume must have relocated it"
        self.relocations.append(report.relocated)
        return report


@pytest.fixture
def mp_version():
    return "1.23"


@pytest.fixture(params=list(PLANS), ids=list(PLANS))
def board(request, tmp_path):
    b = MovingBoard("virt-rv64", ELF, flash_path=tmp_path / "flash.bin", plan=PLANS[request.param],
                    deterministic=request.config.getoption("--mpsim-deterministic"))
    request.node._mpsim_boards = [b]               # artifacts on failure (sim.pytest_plugin)
    try:
        b.boot()
        yield b
    finally:
        b.close()


def test_the_board_leds_word_survives(board):
    """virt has no LEDs: board.LED drives vm.board_leds, a plain integer among the root
    pointers; relocation must carry it over as it is."""
    board.repl.exec("import board as bd\nbd.LED(1).on()\nkeep = [bd.LED(0), 'x' * 40]")
    board.hibernate()
    board.power_cycle()
    board.resume()
    assert board.repl.exec("print(bd.leds(), bd.LED(1).value(), keep[1] == 'x' * 40)") == "2 1 True\n"


def test_a_64_bit_image_records_its_word_size(tmp_path):
    """The image header's word size is the firmware's (ELF class), not a constant 4."""
    with Board("virt-rv64", ELF, flash_path=tmp_path / "flash.bin") as board:
        board.boot()
        board.hibernate()
        image, _skipped = board.hibernator.latest_usable_image()
        assert image.word_size == 8
        board.power_cycle()
        board.resume()
        assert board.repl.eval("1 << 40") == 1 << 40

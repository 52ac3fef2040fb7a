"""The heap census and pictures describe the real heap of the real firmware."""

from sim.mpy.picture import block_kinds, census_table, svg, terminal_map
from sim.mpy.walk import walk_memory

from tests.firmware_versions import ALL, per_version, selected

mp_version, make_board = per_version(selected(ALL))


def test_census_and_map_show_what_the_program_allocated(board):
    board.repl.exec("strings = [str(i) * 30 for i in range(200)]\nfloats = [i / 3 for i in range(50)]")
    board.settle()
    walk = walk_memory(board.machine, board.firmware)
    census = walk.census()
    assert census["str"][0] >= 200 and census["float"][0] >= 50
    kinds = block_kinds(walk)
    assert len(kinds) == (walk.pool_end - walk.pool_start) // 16
    assert kinds.count("free") < len(kinds)
    picture = svg(walk)
    assert picture.startswith("<svg") and picture.count("<rect") >= len(kinds)
    assert "str" in census_table(walk).columns[0]._cells
    assert "■" in terminal_map(walk).plain

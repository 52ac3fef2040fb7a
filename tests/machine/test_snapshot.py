"""Snapshots round-trip: a restored machine continues exactly where it was."""

import pytest

from sim.errors import UsageError
from sim.snapshot import load_snapshot, save_snapshot


def test_snapshot_round_trip_continues_the_session(make_board, tmp_path):
    a = make_board()
    a.repl.exec("keep = {'x': [1, 2, 3], 'big': 2**70}\ncount = 5")
    a.settle()
    size = save_snapshot(a.machine, tmp_path / "s.snap")
    assert size < 1 << 20            # compressed: far smaller than the board's RAM
    b = make_board(boot=False)
    load_snapshot(b.machine, tmp_path / "s.snap")
    b.repl.drain(0)
    assert b.repl.eval("keep['x'], keep['big'], count") == ([1, 2, 3], 2**70, 5)
    b.repl.exec("count += 1")
    assert b.repl.eval("count") == 6


def test_snapshot_of_other_firmware_or_garbage_is_refused(make_board, tmp_path):
    a = make_board()
    p = tmp_path / "bad.snap"
    p.write_bytes(b"not a snapshot")
    with pytest.raises(UsageError, match="not an mpsim snapshot"):
        load_snapshot(a.machine, p)
    save_snapshot(a.machine, tmp_path / "ok.snap")
    data = bytearray((tmp_path / "ok.snap").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "corrupt.snap").write_bytes(bytes(data))
    with pytest.raises(UsageError, match="corrupt|bytes"):
        load_snapshot(a.machine, tmp_path / "corrupt.snap")

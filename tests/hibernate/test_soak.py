"""A short soak in the suite (the full 1,000 cycles: ``mpsim soak``)."""

from sim.soak import soak


def test_short_soak_matches_the_host_model_and_does_not_leak(board):
    report = soak(board, 25)
    assert report.mismatches == []
    assert report.cycles == 25
    assert report.heap_growth <= 1024, report.heap_after_gc

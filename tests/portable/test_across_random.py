"""Property: a random object graph built on the Cortex-M3, carried by a state file to the
64-bit RISC-V board and back, gives the same digest
computed on the device, dict and set lookups included. Ints are drawn around both
boards' small-int limits (2**30, 2**31, 2**62, 2**63, both signs): each side of a limit
is a small int on one board and an mpz on the other, also as dict keys and set elements."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from sim.mpy.portable.fromfile import export_newest, resume_state
from tests.portable.test_across import board
from tests.portable.test_random_graphs import DIGEST, graph_programs

EDGES = [f"{sign}(2**{e}{d:+d})" for e in (30, 31, 62, 63) for d in (-1, 0, 1) for sign in ("", "-")]
ATOMS = ["1", "-3", "1.5", "'s7'", "'made_here_%d'", "b'\\x00\\x20'", "bytearray(b'ab')", "None", "True",
         "(1, 'a')", "K(4)", "mk(5)", "frozenset({1, 'f'})"]


programs = graph_programs(ATOMS + EDGES, EDGES + ["1", "'k'", "K(1)", "len", "(2, 3)"],
                          EDGES + ["1", "'a'", "K(2)", "(1, 2)"], lines=(3, 16), keys_max=5, sizes=(8, 30),
                          instances=False, extra="ki = {{2**62 - j: j for j in range({n})}}")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs)
def test_random_graphs_cross_the_word_size_with_equal_digests(tmp_path_factory, program):
    tmp = tmp_path_factory.mktemp("across")
    with board("mps2-an385", tmp / "m3.bin") as m3:
        m3.boot()
        m3.repl.exec(DIGEST + program)
        before = m3.repl.eval("_dg(everything)")
        m3.hibernate()
        data = export_newest(m3)[0]
    rv = board("virt-rv64", tmp / "rv.bin")
    with rv:
        resume_state(rv, data)
        assert rv.repl.eval("_dg(everything)") == before
        rv.repl.exec("import gc\ngc.collect()")
        assert rv.repl.eval("_dg(everything)") == before
        rv.hibernate()
        back = export_newest(rv)[0]
    m3b = board("mps2-an385", tmp / "m3b.bin")
    with m3b:
        resume_state(m3b, back)
        assert m3b.repl.eval("_dg(everything)") == before


def test_edges_cover_both_limits():
    values = {eval(e) for e in EDGES}                # noqa: S307 - our own literals
    assert {2**30 - 1, 2**30, -2**30 - 1, 2**62 - 1, 2**62, -2**62 - 1, 2**63} <= values
    pytest.importorskip("hypothesis")

"""Soak: many hibernate -> power cycle -> resume cycles with a workload that changes
the interpreter's state every cycle.

The host runs the same workload source (SETUP) in CPython as a model (it uses only
ints, strings, lists, tuples and dicts, whose reprs agree between CPython and
MicroPython), and every cycle the board's state must equal the model's. Heap use
after ``gc.collect()`` is recorded each cycle: a leak in hibernate/resume would
make it grow without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

SETUP = """
import gc
soak = {'n': 0, 'items': [], 'names': {}, 'big': 1, 'log': ()}
def soak_step(i):
    soak['n'] = i
    soak['items'].append(i * i)
    if len(soak['items']) > 8:
        soak['items'].pop(0)
    soak['names']['k%d' % (i % 5)] = 'v' * (i % 7) + str(i)
    soak['big'] = (soak['big'] * 7 + i) % (2 ** 160)
    soak['log'] = (soak['log'] + (i,))[-10:]
def soak_view():
    return (soak['n'], sum(soak['items']), len(soak['items']), sorted(soak['names'].items()), soak['big'], soak['log'])
"""


WARM_UP = 12


@dataclass
class SoakReport:
    cycles: int = 0
    mismatches: list[str] = field(default_factory=list)
    heap_after_gc: list[int] = field(default_factory=list)
    host_s: float = 0.0

    @property
    def heap_growth(self) -> int:
        """Growth of the live heap after the workload has saturated (its lists and
        dicts stop growing within WARM_UP cycles): last third against middle third."""
        h = self.heap_after_gc[WARM_UP:]
        if len(h) < 6:
            return 0
        t = len(h) // 3
        return max(h[-t:]) - max(h[t:2 * t])


def soak(board, cycles: int, progress: Callable[[int], None] | None = None) -> SoakReport:
    import time
    t0 = time.perf_counter()
    model: dict = {}
    exec(SETUP, model)              # the model: the same functions, run by CPython
    report = SoakReport()
    board.repl.exec(SETUP)
    for i in range(1, cycles + 1):
        board.repl.exec(f"soak_step({i})")
        model["soak_step"](i)
        board.hibernate()
        board.power_cycle()
        board.resume()
        got = board.repl.eval("soak_view()")
        want = model["soak_view"]()
        if _normal(got) != _normal(want):
            report.mismatches.append(f"cycle {i}: board {got!r} != model {want!r}")
        report.heap_after_gc.append(board.repl.eval("(gc.collect(), gc.mem_alloc())[1]"))
        report.cycles = i
        if progress:
            progress(i)
        if report.mismatches:
            break
    report.host_s = time.perf_counter() - t0
    return report


def _normal(v):
    """Tuples and lists as one kind: literal_eval of a board repr gives lists for lists."""
    if isinstance(v, (list, tuple)):
        return [_normal(x) for x in v]
    return v

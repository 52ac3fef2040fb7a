"""``mpsim demo``: the main job, start to finish, narrated.

Boot the default firmware, build interpreter state worth keeping (objects of
many kinds, a generator mid-iteration, an LED), hibernate it to flash, cut the
power, boot again, resume, and show that everything came back. Exit 1 if any
check fails.
"""

from __future__ import annotations

import argparse

from .console import console
from rich.table import Table

from ..cli import command
from .session import board_args, boot, open_board, hibernate_with_progress, save_table

SESSION = """\
import board, gc
class Sensor:
    def __init__(self, name):
        self.name = name
        self.readings = []
    def add(self, v):
        self.readings.append(v)
        return len(self.readings)
s = Sensor('temp')
for v in (21.5, 22.0, 22.75):
    s.add(v)
def make_counter(start):
    n = [start]
    def tick():
        n[0] += 1
        return n[0]
    return tick
tick = make_counter(100)
tick(); tick()
def squares():
    i = 0
    while True:
        yield i * i
        i += 1
sq = squares()
first = [next(sq) for _ in range(4)]
config = {'name': 'hibernate-demo', 'big': 2**100 + 1, 'tags': {'a', 'b'}, 'raw': bytes(range(8))}
board.LED(0).on()
"""

CHECKS = [
    ("s.name, s.readings", "instance and its list"),
    ("tick()", "closure keeps counting"),
    ("next(sq)", "generator continues mid-iteration"),
    ("config['big'], sorted(config['tags']), config['raw']", "big int, set, bytes"),
    ("board.LED(0).value()", "LED state"),
]


@command("demo", "the main job: boot, build state, hibernate, power-cycle, resume, verify", board_args)
def demo(args: argparse.Namespace) -> int:
    out = console()
    with open_board(args, hibernatable=True) as board:
        out.rule("1. boot the firmware")
        banner = boot(board)
        out.print(banner.strip() or "(no banner)")
        out.rule("2. build some interpreter state")
        out.print(SESSION.rstrip(), highlight=False, markup=False)
        board.repl.exec(SESSION)
        # Evaluating the checks advances the closure and the generator, so after the
        # resume each must give what its *next* evaluation would have given.
        expected = [board.repl.eval(expr) for expr, _ in CHECKS]
        out.rule("3. hibernate to flash")
        out.print(save_table(hibernate_with_progress(board)))
        out.rule("4. power cycle")
        board.power_cycle()
        out.print("RAM filled with garbage; CPU and peripherals reset; the flash keeps its contents")
        out.rule("5. boot again and resume")
        report = board.resume()
        out.print(f"resumed image #{report.sequence} in {report.host_time_s * 1000:.2f} ms host time")
        t = Table(title="state after the power cycle")
        for col in ("expression", "what", "before (predicted)", "after", "ok"):
            t.add_column(col)
        ok_all = True
        for (expr, what), want in zip(CHECKS, _advance(expected)):
            got = board.repl.eval(expr)
            ok = got == want
            ok_all &= ok
            t.add_row(expr, what, repr(want), repr(got), "[green]yes[/]" if ok else "[red]NO[/]")
        out.print(t)
        out.print("[green]all state survived the power cycle[/]" if ok_all else "[red]state was lost[/]")
        return 0 if ok_all else 1


def _advance(values: list) -> list:
    """What each check returns on its next evaluation: the closure and the
    generator move on by one step, everything else is unchanged."""
    out = list(values)
    out[1] = values[1] + 1                      # tick() counts on
    n = int(round(values[2] ** 0.5))            # next(sq) gives the next square
    out[2] = (n + 1) ** 2
    return out

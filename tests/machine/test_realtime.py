"""``--realtime`` (serve, run): the board's time locked to the wall clock. A sleep
takes its time (lower bound only: never a flaky upper bound), a Python busy-wait
runs at host pace instead of being fast-forwarded (counted in loop iterations,
not timed), and it cannot be combined with --deterministic."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import require_firmware

ROOT = Path(__file__).resolve().parents[2]
MPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
BUSY = ("import time\nt = time.ticks_ms()\nn = 0\nwhile time.ticks_diff(time.ticks_ms(), t) < 1000:\n"
        "    n += 1\nprint('elapsed', time.ticks_diff(time.ticks_ms(), t), 'iterations', n)\n")


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MPSIM, "run", *args, "--flash", str(tmp_path / "flash.bin")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_sleep_takes_its_time(tmp_path):
    require_firmware()
    t0 = time.monotonic()
    r = _run(tmp_path, "--realtime", "-c", "import time; t = time.ticks_ms(); time.sleep(1.5); "
                                           "print(time.ticks_diff(time.ticks_ms(), t))")
    took = time.monotonic() - t0
    assert r.returncode == 0 and 1500 <= int(r.stdout) <= 1502, r
    assert took >= 1.4, f"--realtime: time.sleep(1.5) was over after {took:.2f} s"


def test_a_busy_wait_is_not_fast_forwarded(tmp_path):
    require_firmware()
    counts = {}
    for mode in ("default", "--realtime"):
        r = _run(tmp_path, *([mode] if mode != "default" else []), "-c", BUSY)
        m = re.fullmatch(r"elapsed (\d+) iterations (\d+)\n", r.stdout)
        assert r.returncode == 0 and m and 1000 <= int(m.group(1)) <= 1001, r
        counts[mode] = int(m.group(2))
    # Fast-forwarded, a 1 s busy-wait ends after a few thousand polls; at host pace it
    # polls for the whole second (~100k iterations on a 2020s host).
    assert counts["--realtime"] > 5 * counts["default"], counts


def test_realtime_and_deterministic_are_refused_together(tmp_path):
    r = _run(tmp_path, "--realtime", "--deterministic", "-c", "print('ran')")
    assert r.returncode == 2 and "ran" not in r.stdout
    assert r.stderr.count("\n") == 1 and "--realtime and --deterministic exclude each other" in r.stderr, r.stderr

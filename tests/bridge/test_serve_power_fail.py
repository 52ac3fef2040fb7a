"""``mpsim serve --power-fail``: programs run through the raw REPL over TCP while
the power fails under them at random moments; every output must equal an
uninterrupted run's. Deterministic (instruction-counted time, a fixed seed), so
a failing run replays: the assertion message carries the seed and the log."""

from __future__ import annotations

import re

import pytest

from tests.bridge.test_serve import Server, raw_exec, serve, tcp_connect  # noqa: F401  (serve is a fixture)
from sim.paths import firmware_elf
from tests.firmware_versions import firmware_for

HOLDUP_US = "50000"    # these programs' images need up to ~12 ms of NOR time; the board's 10 ms is too little
MEAN_MS = "4"          # emulated ms between failures on average: tens of failures over the programs
SEED = 21

PROGRAMS = {
    "loop_prints": "for i in range(60):\n    print(i, i * i, i % 7)\n",
    "string_building": ("s = ''\nfor i in range(200):\n    s += str(i) + ','\nprint(len(s), s[:40], s[-40:])\n"
                        "parts = [chr(65 + i % 26) * (i % 5) for i in range(100)]\nprint('-'.join(parts)[:200])\n"),
    "exceptions": ("def f(n):\n    if n % 3 == 0:\n        raise ValueError(n)\n    return n\n"
                   "hits = []\nfor i in range(80):\n    try:\n        f(i)\n    except ValueError as e:\n"
                   "        hits.append(e.args[0])\n    finally:\n        pass\nprint(hits)\n"
                   "try:\n    {}['missing']\nexcept KeyError as e:\n    print('KeyError', e)\n"),
    "classes": ("class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
                "    def __add__(self, o):\n        return Point(self.x + o.x, self.y + o.y)\n"
                "    def __repr__(self):\n        return 'P(%d,%d)' % (self.x, self.y)\n"
                "class Point3(Point):\n    def norm1(self):\n        return abs(self.x) + abs(self.y)\n"
                "p = Point3(0, 0)\nfor i in range(100):\n    p = p + Point(i, -i)\n    if i % 25 == 0:\n"
                "        print(p)\nprint(p, Point3(3, -4).norm1())\n"),
    "generators": ("def fib():\n    a, b = 0, 1\n    while True:\n        yield a\n        a, b = b, a + b\n"
                   "g = fib()\nprint([next(g) for _ in range(40)])\n"
                   "print(sum(x * x for x in range(300) if x % 3))\n"
                   "def chunks(seq, n):\n    for i in range(0, len(seq), n):\n        yield seq[i:i + n]\n"
                   "print(list(chunks(list(range(23)), 5)))\n"),
    "dicts_and_sorting": ("d = {}\nfor i in range(150):\n    d[str(i * 7 % 101)] = i\n"
                          "print(sorted(d.items())[:10])\nprint(len(d), sum(d.values()))\n"
                          "print(sorted(range(50), key=lambda v: (v % 7, -v))[:20])\n"),
    "uncaught": "x = [i for i in range(500)]\nprint(sum(x))\nraise RuntimeError('end of program')\n",
}


def firmware(version: str):
    """The version's build in firmware/build/<board>/<version>/ (tests.versions looks
    beside the default ELF, which is itself in a version directory now)."""
    built = firmware_elf("mps2-an385", version)
    return built if built.exists() else firmware_for(version)


def run_all(server, names=tuple(PROGRAMS), replay: str = "") -> dict[str, tuple[bytes, bytes]]:
    with tcp_connect(server.endpoint) as sock:
        out = {}
        for name in names:
            try:
                out[name] = raw_exec(sock, PROGRAMS[name].encode())
            except AssertionError as e:
                raise AssertionError(f"{name}: {e} {replay}; server: {server.stderr()[-2000:]}") from None
        return out


def power_fail_server(serve, log, *extra: str):  # noqa: F811
    return serve("--tcp", "0", "--deterministic", *extra, "--power-fail", MEAN_MS, "--power-fail-seed", str(SEED),
                 "--holdup-us", HOLDUP_US, "--power-fail-log", str(log))


def fields(status: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", status))


@pytest.mark.parametrize("version", ["default", "1.19", "1.23"])
def test_programs_survive_random_power_failures(serve, tmp_path, version):  # noqa: F811
    fw = [] if version == "default" else ["--firmware", str(firmware(version))]
    ref_server = serve("--tcp", "0", "--deterministic", *fw)
    reference = run_all(ref_server)
    ref_server.stop()
    assert reference["uncaught"][1].rstrip().endswith(b"RuntimeError: end of program")

    log = tmp_path / "power-fail.log"
    s = power_fail_server(serve, log, *fw)
    replay = f"(seed {SEED}, mean {MEAN_MS} ms, version {version}; log {log})"
    got = run_all(s, replay=replay)
    status = fields(s.control("status"))
    replay = f"(seed {SEED}, mean {MEAN_MS} ms, version {version}; log {log}:\n{log.read_text()})"
    for name in PROGRAMS:
        assert got[name] == reference[name], f"{name}: output differs under power failures {replay}"
    assert int(status["power_fails"]) >= 10, f"too few power failures to mean anything: {status} {replay}"
    assert status["fitted"] == status["power_fails"], f"a hibernate did not fit the hold-up window {replay}"
    assert s.control("power-fail").startswith("ok power-fail seed=21")
    s.stop()
    events = [ln for ln in log.read_text().splitlines() if not ln.startswith("#")]
    assert len(events) >= int(status["power_fails"])       # the board ran on until stopped
    assert f"failures={len(events)} " in s.stderr()


def test_a_run_replays_from_its_seed(serve, tmp_path):  # noqa: F811
    """Same seed, same client bytes: failures at the same moments of busy emulated
    time (instructions executed), as many, the same outputs. (Image sizes and
    emulated clock readings may differ where a failure fell while input streamed in.)"""
    runs = []
    for i in range(2):
        log = tmp_path / f"run{i}.log"
        (tmp_path / str(i)).mkdir()
        started = []          # each run its own flash file: the same image numbers
        s = power_fail_server(lambda *a: started.append(Server(tmp_path / str(i), *a)) or started[-1], log)
        try:
            out = run_all(s, ("loop_prints", "classes"), replay=f"(seed {SEED}, log {log})")
            n = int(fields(s.control("status"))["power_fails"])
        finally:
            s.stop()
        events = [ln.split()[1] for ln in log.read_text().splitlines() if not ln.startswith("#")][:n]
        runs.append((out, events))
    assert len(runs[0][1]) >= 5
    assert runs[0] == runs[1]

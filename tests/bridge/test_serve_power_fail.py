"""``mpsim serve --power-fail``: programs run through the raw REPL over TCP while
the power fails under them at random moments; every output must equal an
uninterrupted run's. Deterministic (instruction-counted time, a fixed seed), so
a failing run replays: the assertion message carries the seed and the log.

Every firmware version of the matrix and the hook-free builds, at the board's
default hold-up (every hibernate must fit it). Two versions take the long run
(mean 2 ms of busy time between failures: ~150-200 failures), the others a short
one (mean 12 ms: tens of failures), with the same comparison; virt-rv64's 1.23
a short one too."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.bridge.test_serve import (Server, raw_exec, read_until, serve, sock_reader,  # noqa: F401  (a fixture)
                                     tcp_connect)
from sim.paths import firmware_elf
from tests.firmware_versions import ALL, firmware_for, selected

SEED = 21
LONG = ("1.9.2", "1.23")                        # hundreds of failures
MEAN_MS = {v: "2" if v in LONG else "12" for v in ALL}
MIN_FAILURES = {v: 100 if v in LONG else 10 for v in ALL}

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


def run_all(server, names=tuple(PROGRAMS), replay: str = "") -> dict[str, tuple[bytes, bytes]]:
    with tcp_connect(server.endpoint) as sock:
        out = {}
        for name in names:
            try:
                out[name] = raw_exec(sock, PROGRAMS[name].encode())
            except AssertionError as e:
                raise AssertionError(f"{name}: {e} {replay}; server: {server.stderr()[-2000:]}") from None
        return out


def power_fail_server(serve, log, mean_ms: str, *extra: str):  # noqa: F811
    return serve("--tcp", "0", "--deterministic", *extra, "--power-fail", mean_ms, "--power-fail-seed", str(SEED),
                 "--power-fail-log", str(log))


def fields(status: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", status))


@pytest.mark.parametrize("version", selected())
def test_programs_survive_random_power_failures(serve, tmp_path, version):  # noqa: F811
    fw = ["--firmware", str(firmware_for(version))]
    survive(serve, tmp_path, f"version {version}", MEAN_MS[version], MIN_FAILURES[version], *fw)


def test_programs_survive_random_power_failures_on_riscv(serve, tmp_path):  # noqa: F811
    elf = firmware_elf("virt-rv64", "1.23")
    if not elf.exists():
        pytest.skip(f"no virt-rv64 firmware at {elf} (make -C firmware BOARD=virt-rv64 MPY_VERSION=1.23)")
    survive(serve, tmp_path, "virt-rv64 1.23", "12", 10, "--board", "virt-rv64", "--firmware", str(elf))


def survive(serve, tmp_path, label: str, mean: str, min_failures: int, *board: str):  # noqa: F811
    ref_server = serve("--tcp", "0", "--deterministic", *board)
    reference = run_all(ref_server)
    ref_server.stop()
    assert reference["uncaught"][1].rstrip().endswith(b"RuntimeError: end of program")

    log = tmp_path / "power-fail.log"
    s = power_fail_server(serve, log, mean, *board)
    replay = f"(seed {SEED}, mean {mean} ms, {label}; log {log})"
    got = run_all(s, replay=replay)
    status = fields(s.control("status"))
    replay = f"(seed {SEED}, mean {mean} ms, {label}; log {log}:\n{log.read_text()})"
    for name in PROGRAMS:
        assert got[name] == reference[name], f"{name}: output differs under power failures {replay}"
    assert int(status["power_fails"]) >= min_failures, f"too few power failures: {status} {replay}"
    assert status["fitted"] == status["power_fails"], f"a hibernate did not fit the default hold-up {replay}"
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
        s = power_fail_server(lambda *a: started.append(Server(tmp_path / str(i), *a)) or started[-1], log, "4")
        try:
            out = run_all(s, ("loop_prints", "classes"), replay=f"(seed {SEED}, log {log})")
            n = int(fields(s.control("status"))["power_fails"])
        finally:
            s.stop()
        events = [ln.split()[1] for ln in log.read_text().splitlines() if not ln.startswith("#")][:n]
        runs.append((out, events))
    assert len(runs[0][1]) >= 5
    assert runs[0] == runs[1]


LONG_LOOP = b"y = 0\nfor i in range(200000):\n    y += 1\n    if i % 20000 == 0:\n        print('at', i)\n"


def run_until_power_fails(serve_, sock, failures: int) -> bytes:  # noqa: F811
    """Start LONG_LOOP in the raw REPL; read until the ``failures``-th power failure
    has happened and the board waits for input again (the loop never ends by
    itself within these tests' failure moments); what the client received."""
    read = sock_reader(sock)
    sock.sendall(b"\r\x03\x03\r\x01")
    read_until(read, b"raw REPL; CTRL-B to exit\r\n>")
    sock.sendall(LONG_LOOP + b"\x04")
    got = b""
    for _ in range(600):
        got += read()
        st = fields(serve_.control("status"))
        if int(st["power_fails"]) >= failures and st["state"] == "waiting":
            return got + read() + read()
    raise AssertionError(f"no power failure #{failures} with the board waiting after it: {st}; got {got!r}")


def test_a_hibernate_that_does_not_fit_leaves_the_previous_image(serve, tmp_path):  # noqa: F811
    """Hold-up 0: no power-fail hibernate fits. With nothing in flash the board
    boots fresh (the client sees the banner; the program and its variables are
    gone); with a prompt-time image saved, the board comes back from that image
    (the variable saved in it is there, the program's are not). Seed 23, mean 50 ms:
    failures 129, 148 and 111 ms of busy time apart, so the first two fall inside
    LONG_LOOP (over a second), none in the short commands around it."""
    log = tmp_path / "power-fail.log"
    s = serve("--tcp", "0", "--deterministic", "--power-fail", "50", "--power-fail-seed", "23", "--holdup-us", "0",
              "--power-fail-log", str(log))
    with tcp_connect(s.endpoint) as sock:
        assert raw_exec(sock, b"x = 'lost'") == (b"", b"")
        got = run_until_power_fails(s, sock, 1)
        assert b"at 0\r\n" in got and b"MicroPython v" in got, got            # fresh boot: the banner
        st = fields(s.control("status"))
        assert (st["not_fitted"], st["fresh_boots"], st["rewound"]) == ("1", "1", "0"), st
        sock.sendall(b"\r\x02")
        out, err = raw_exec(sock, b"print('x' in globals(), 'y' in globals())")
        assert out == b"False False\r\n", (out, err)

        assert raw_exec(sock, b"x = 'kept'") == (b"", b"")
        assert s.control("hibernate").startswith("ok hibernated image #1 ")
        got = run_until_power_fails(s, sock, 2)
        assert b"at 0\r\n" in got, got
        st = fields(s.control("status"))
        assert (st["not_fitted"], st["fresh_boots"], st["rewound"], st["resumes"]) == ("2", "1", "1", "1"), st
        sock.sendall(b"\r\x02")
        out, err = raw_exec(sock, b"print(x, 'y' in globals())")
        assert out == b"kept False\r\n", (out, err)
    s.stop()
    events = [ln for ln in log.read_text().splitlines() if not ln.startswith("#")]
    assert len(events) == 2, events
    assert " not-fitted " in events[0] and " fresh-boot " in events[0], events
    assert " not-fitted " in events[1] and " resumed #1 " in events[1], events
    err = s.stderr()
    assert "no earlier image in flash: the next power-up boots fresh" in err
    assert "the previous image is kept (#1): the next power-up resumes it; resumed image #1: a prompt-time" in err
    assert "not-fitted=2 (power died mid-write: 1 came back from the newest older image" in err


MPREMOTE_TIMEOUT_S = 300     # ~11 s on a quiet machine; over 60 s was seen with the whole suite on a loaded one


def mpremote_session(endpoint: str, *args: str) -> str:
    """``mpremote connect socket://HOST:PORT ARGS...`` (pyserial's socket:// URL on
    the TCP endpoint); its stdout."""
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", "socket://" + endpoint.removeprefix("tcp:"),
                        *args], capture_output=True, timeout=MPREMOTE_TIMEOUT_S)
    assert r.returncode == 0, f"mpremote failed ({r.returncode}): {r.stdout.decode()}{r.stderr.decode()}"
    return r.stdout.decode(errors="replace")


@pytest.mark.parametrize("version", selected(("1.9.2", "1.23")))
def test_mpremote_over_tcp_under_power_failures(serve, tmp_path, version):  # noqa: F811
    """mpremote itself, six of the programs in one session: the same output as an
    uninterrupted run."""
    fw = ["--firmware", str(firmware_for(version))]
    args = ["resume"]
    for name in PROGRAMS:
        if name != "uncaught":                    # mpremote exits 1 on a traceback
            args += ["exec", PROGRAMS[name], "+"]
    ref = serve("--tcp", "0", "--deterministic", *fw)
    want = mpremote_session(ref.endpoint, *args[:-1])
    ref.stop()
    log = tmp_path / "power-fail.log"
    s = power_fail_server(serve, log, "4", *fw)
    got = mpremote_session(s.endpoint, *args[:-1])
    status = fields(s.control("status"))
    assert got == want, f"mpremote output differs under power failures (seed {SEED}, mean 4 ms; log {log})"
    assert int(status["power_fails"]) >= 40 and status["fitted"] == status["power_fails"], status


FILL_HEAP = """
import gc
def digest():
    t = 0
    for k in range(4, n):
        t += sum(keep[k])
    return n, t
keep = [None] * 600
n = 0
x = 1
for size in (1024, 256, 64, 16):
    try:
        while True:
            b = bytearray(size)
            for k in range(size):
                x ^= (x << 7) & 0x3fffffff
                x ^= x >> 9
                b[k] = x & 255
            keep[n] = b
            n += 1
    except MemoryError:
        pass
b = None
for k in range(4):
    keep[k] = None
gc.collect()
print(digest())
"""


@pytest.mark.parametrize("version", selected(("1.23", "1.23-plain")))
def test_default_holdup_fits_a_heap_full_of_incompressible_data(tmp_path, version):
    """The default hold-up is sized for the largest run-state image: with the heap
    filled with pseudo-random bytes (zlib cannot shrink them) the power-fail
    hibernate still fits, and the data comes back."""
    from sim.device import Board
    from sim.mpy.state import MpState
    from sim.runstate.powerfail import holdup_default, power_fail
    from sim.runstate.preerase import erase_next
    from sim.slots import Partition
    with Board("mps2-an385", firmware_for(version), flash_path=tmp_path / "flash.bin", deterministic=True,
               timeout_s=120) as b:
        b.boot()
        before = b.repl.exec(FILL_HEAP)
        geo = MpState(b.machine, b.firmware).geometry()
        erase_next(Partition(b.flash))               # what serve --power-fail keeps done
        report = power_fail(b)
        assert report.fitted and report.erases == 0, report.line()
        assert report.needed_us <= report.holdup_us == holdup_default(b), report.line()
        assert report.image_bytes > 0.6 * (geo.heap_end - geo.heap_start), report.line()   # the heap was full
        b.resume()
        assert b.repl.exec("print(digest())") == before


def newest_image_in(flash_file) -> int | None:
    """The sequence number of the newest valid image in a flash file, read as a
    read-only board does (no lock, nothing written)."""
    from sim.board import load_board
    from sim.flash_store import FlashStore
    from sim.peripherals.nor_flash import NorFlash
    from sim.slots import Partition
    spec = load_board("mps2-an385")
    flash = NorFlash(spec.flash)
    FlashStore(flash, spec.name, flash_file, writer=False).load()
    return next((info.sequence for info, _ in Partition(flash).images_newest_first()), None)


def test_a_crash_of_mpsim_keeps_every_image_a_failure_saved(serve, tmp_path):  # noqa: F811
    """SIGKILL a server mid-run after a few failures: the flash file holds the image
    of the last failure it logged (each failure's image is saved before it is
    logged; the resume's pre-erase is not saved by itself), and a new server
    resumes from it."""
    import signal
    log = tmp_path / "power-fail.log"
    s = power_fail_server(serve, log, "4")
    with tcp_connect(s.endpoint) as sock:
        read = sock_reader(sock)
        sock.sendall(b"\r\x03\x03\r\x01")
        read_until(read, b"raw REPL; CTRL-B to exit\r\n>")
        sock.sendall(LONG_LOOP + b"\x04")
        for _ in range(600):
            read()
            if int(fields(s.control("status"))["power_fails"]) >= 10:
                break
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
    events = [ln.split() for ln in log.read_text().splitlines() if not ln.startswith("#")]
    assert len(events) >= 10 and all("fitted" in e for e in events), events
    last_logged = int(dict(f.split("=", 1) for f in events[-1] if "=" in f)["image"])
    newest = newest_image_in(s.flash)
    assert newest in (last_logged, last_logged + 1), (newest, events[-1])   # +1: killed between save and log
    again = serve("--tcp", "0", "--deterministic", "--resume")
    again.control("status")
    assert f"resumed image #{newest} " in again.stderr(), again.stderr()

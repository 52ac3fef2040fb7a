"""Hibernate while a program runs (issue 17): run-state images, the power-fail
model and its hold-up budget, pre-erased slots, the power-fail sweep.

Real firmware in the real emulator, deterministic time. The sweep's point count is
10 by default; MPSIM_POWER_FAIL_POINTS=200 (or more) makes it exhaustive.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sim.device import Board
from sim.errors import ImageError
from sim.image import ImageKind, decode
from sim.runstate import image as run_image
from sim.runstate.sweep import points, reference, run_until, start, sweep
from sim.slots import Partition
from tests.conftest import require_firmware

# A loop printing a running checksum: any lost, repeated or altered step shows.
CHECKSUM = """
s = 0
for i in range(400):
    s = (s * 31 + i * i + len(str(s))) % 1000003
    if i % 8 == 0:
        print(i, s)
print('done', s)
"""
POINTS = int(os.environ.get("MPSIM_POWER_FAIL_POINTS", "10"))


@pytest.fixture
def new_board(tmp_path):
    fw = require_firmware()
    made = []

    def make(**kw) -> Board:
        kw.setdefault("deterministic", True)
        b = Board(firmware=fw, flash_path=tmp_path / f"flash{len(made)}.bin", **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()


def _midway(b: Board, code: str, fraction: float, ref_ns: int) -> bytearray:
    t0 = start(b, code)
    out = bytearray()
    assert not run_until(b, out, t0 + int(ref_ns * fraction), 30)
    return out


def test_run_state_hibernate_resumes_mid_loop(new_board):
    ref = reference(new_board, CHECKSUM, 30)
    b = new_board()
    b.boot()
    out = _midway(b, CHECKSUM, 0.5, ref.duration_ns)
    assert b"done" not in out and out                 # really mid-loop, output already printed
    saved = b.hibernate(run_state=True)
    b.power_cycle()
    b.resume()
    run_until(b, out, None, 30)
    assert bytes(out) == ref.output
    # the image holds what is live, not whole RAM: a few KiB
    assert saved.image_bytes < 8192
    image = decode(next(Partition(b.flash).images_newest_first())[1])
    assert image.kind is ImageKind.RUN_STATE


def test_power_fail_sweep_every_point_resumes_exactly(new_board):
    result = sweep(new_board, CHECKSUM, POINTS)
    assert len(result.cases) == POINTS
    assert not result.failures, "\n".join(f"{c.at_us} µs: {c.detail}" for c in result.failures)
    assert all(c.report.fitted and c.report.erases == 0 for c in result.cases)


def test_preerased_slot_fits_a_few_ms_erasing_does_not(new_board):
    result = sweep(new_board, CHECKSUM, 2, holdup_us=10_000)
    for c in result.cases:
        assert c.ok
        assert c.report.needed_us <= 10_000 < c.report.unprepared_us


def test_short_holdup_is_reported_and_keeps_the_previous_image(new_board):
    result = sweep(new_board, CHECKSUM, 3, holdup_us=2_000)
    assert len(result.failures) == 3
    for c in result.cases:
        assert "DOES NOT FIT" in c.detail and "previous image is kept" in c.detail
        assert "LOST" not in c.detail
        assert c.report.needed_us > 2_000 == c.report.holdup_us


def test_short_holdup_resume_gets_the_previous_prompt_image(new_board):
    from sim.runstate.powerfail import power_fail
    ref = reference(new_board, CHECKSUM, 30)
    b = new_board()
    b.boot()
    b.repl.exec("kept = 1234")
    b.hibernate()
    _midway(b, CHECKSUM, 0.5, ref.duration_ns)
    report = power_fail(b, holdup_us=1_000)
    assert not report.fitted
    b.resume()                                      # the prompt-time image, intact
    assert b.repl.eval("kept") == 1234


def test_other_firmware_or_heap_refused_in_one_line(new_board):
    b = new_board()
    b.boot()
    image = run_image.capture(b.machine)
    image.fingerprint = "00" * 32
    with pytest.raises(ImageError, match="firmware") as e:
        run_image.check_resumable(b.machine, image)
    assert "\n" not in str(e.value)
    good = run_image.capture(b.machine)
    lo = good.heap.heap_start
    with pytest.raises(ImageError, match="cannot be relocated") as e:
        run_image.check_resumable(b.machine, good, heap=(lo + 0x1000, good.heap.heap_end + 0x1000))
    assert "\n" not in str(e.value)


def test_ctrl_c_works_in_the_resumed_program(new_board):
    b = new_board()
    b.boot()
    out = bytearray()
    t0 = start(b, "n = 0\nwhile True:\n    n += 1\n")
    assert not run_until(b, out, t0 + 20_000_000, 30)
    b.hibernate(run_state=True)
    b.power_cycle()
    b.resume()
    b.machine.console.feed(b"\x03")
    for _ in range(50):
        b.machine.run(timeout=1, stop_on_output=True)
        out += b.machine.console.take_output()
        if b"KeyboardInterrupt" in out:
            break
    assert b"KeyboardInterrupt" in out


def test_flash_info_names_each_image_kind(new_board, tmp_path):
    b = new_board()
    b.boot()
    b.hibernate(run_state=True)      # erases the other slot for the next one: the prompt image goes there
    b.hibernate()
    b.close()
    env = dict(os.environ, MPSIM_FIRMWARE=str(require_firmware()), COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "sim", "flash", "info", "--flash", str(b.store.path)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "run-state" in r.stdout and "prompt" in r.stdout


def test_sweep_command_reports_and_replays(new_board, tmp_path):
    script = tmp_path / "checksum.py"
    script.write_text(CHECKSUM)
    env = dict(os.environ, MPSIM_FIRMWARE=str(require_firmware()), COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "sim", "power-fail-sweep", str(script), "--points", "2",
                        "--holdup-us", "1500", "--flash", str(tmp_path / "x.bin")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    assert "DOES NOT FIT" in r.stderr and "replay: mpsim power-fail-sweep" in r.stderr
    assert "0 of 2 resumed runs" in r.stdout


def _host_output(code: str) -> bytes:
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {})
    return buf.getvalue().replace("\n", "\r\n").encode()


def test_power_fail_fixture_resumes_the_program(power_fail):
    out, report = power_fail(CHECKSUM, at_ms=1)
    assert report.fitted and report.erases == 0
    assert out == b"OK" + _host_output(CHECKSUM) + b"\x04\x04>"


def test_unknown_image_kind_is_refused_in_one_line(new_board):
    import struct
    import zlib
    from sim.image import MAGIC
    b = new_board()
    b.boot()
    data = bytearray(run_image.capture(b.machine).encode())
    assert decode(bytes(data)).kind is ImageKind.RUN_STATE
    struct.pack_into("<H", data, len(MAGIC) + 2, 7)          # the flags field: the kind
    head_len = len(data) - sum(len(v) for v in decode_sections(b)) - 4
    struct.pack_into("<I", data, head_len, zlib.crc32(bytes(data[:head_len])))
    with pytest.raises(ImageError, match="unknown image kind 7") as e:
        decode(bytes(data))
    assert "\n" not in str(e.value)


def decode_sections(b):
    return run_image.capture(b.machine).sections.values()

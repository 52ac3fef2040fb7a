"""A state file moves between the 32-bit Cortex-M3 board and the 64-bit RISC-V board (issue 16):
the survival list built on one comes back on the other, checked on the device.

Both boards run MicroPython 1.23 (firmware/build/<board>/1.23).
"""

from __future__ import annotations

import pytest

from sim.board import load_board
from sim.device import Board
from sim.mpy.portable import MigrationError
from sim.mpy.portable.carry import read_state
from sim.mpy.portable.fromfile import export_newest, resume_state
from sim.paths import REPO
from tests.hibernate.test_survival import DIGEST
from tests.portable.test_migrate import STATE, VALUES, check_survival

BUILDS = {"mps2-an385": REPO / "firmware/build/mps2-an385/1.23/firmware.elf",
          "virt-rv64": REPO / "firmware/build/virt-rv64/1.23/firmware.elf"}
# everything the digest sees: scalars, containers, ints on both sides of each small-int range
DIGESTED = "(i, big, f, s, by, ba, l, t, d, st, nested, g, P(3, 4), keyed[a], err.args, m(), edges)"
EDGES = ("edges = [2**30 - 1, 2**30, -2**30, -2**30 - 1, 2**31, 2**40, -2**40, 2**62 - 1, 2**62, -2**62, "
         "-2**62 - 1, 2**63, 2**64 + 5, {2**40: 'k40', 2**62: 'k62', -7: 'neg'}, {2**40, 2**62, 3}]")


def board(name: str, flash) -> Board:
    elf = BUILDS[name]
    if not elf.exists():
        pytest.skip(f"no MicroPython 1.23 build for {name} at {elf} (bash tools/setup)")
    return Board(load_board(name), firmware=elf, flash_path=flash)


def export_from(b: Board) -> bytes:
    return export_newest(b)[0]


def build(b: Board) -> tuple[list, str]:
    b.boot()
    b.repl.exec(STATE)
    b.repl.exec(EDGES)
    b.repl.exec(DIGEST)
    return [b.repl.eval(v) for v in VALUES[:-1]], b.repl.eval(f"_digest({DIGESTED})")


def carry(data: bytes, name: str, flash):
    b = board(name, flash)
    report = resume_state(b, data)
    return b, report


def test_m3_to_rv64_brings_back_the_survival_list(tmp_path):
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        before, digest = build(m3)
        m3.hibernate()
        data = export_from(m3)
    assert read_state(data).header["word_bytes"] == 4
    rv, report = carry(data, "virt-rv64", tmp_path / "rv.bin")
    with rv:
        assert rv.repl.eval("sys.maxsize") == 2**63 - 1          # really the 64-bit board
        assert rv.repl.eval(f"_digest({DIGESTED})") == digest
        assert report.converted.get("int to small int", 0) >= 4  # 2**30, 2**31, 2**40, -2**40 ... are small now
        check_survival(rv, before)


def test_m3_to_rv64_to_m3_keeps_the_digest(tmp_path):
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        _before, digest = build(m3)
        m3.hibernate()
        data = export_from(m3)
    rv, _ = carry(data, "virt-rv64", tmp_path / "rv.bin")
    with rv:
        assert rv.repl.eval(f"_digest({DIGESTED})") == digest
        rv.repl.exec("after_rv = [2**62 + 1, 'on rv64', 2**40 + 3, -2**61, {2**41: 'small here'}]")
        rv.hibernate()
        back = export_from(rv)
    assert read_state(back).header["word_bytes"] == 8
    m3, report = carry(back, "mps2-an385", tmp_path / "m3b.bin")
    with m3:
        assert m3.repl.eval("sys.maxsize") == 2**31 - 1
        assert m3.repl.eval(f"_digest({DIGESTED})") == digest
        assert m3.repl.eval("after_rv") == [2**62 + 1, "on rv64", 2**40 + 3, -2**61, {2**41: "small here"}]
        assert m3.repl.eval("after_rv[4][2**41]") == "small here"
        assert report.converted.get("small int to int", 0) >= 4   # RV64's small ints past 2**30 are mpz again


def test_leds_move_between_the_boards(tmp_path):
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        m3.boot()
        m3.repl.exec("import board as bd\nbd.LED(1).on()\nbd.LED(0).off()")
        m3.hibernate()
        data = export_from(m3)
    rv, report = carry(data, "virt-rv64", tmp_path / "rv.bin")
    with rv:
        assert rv.repl.eval("(bd.LED(0).value(), bd.LED(1).value())") in ((0, 1), (False, True))
        assert not any("LED" in line for line in report.not_carried)
        rv.repl.exec("bd.LED(0).on()\nbd.LED(1).off()")
        rv.hibernate()
        back = export_from(rv)
    m3, report = carry(back, "mps2-an385", tmp_path / "m3b.bin")
    with m3:
        assert m3.machine.peripherals["fpgaio"].state()["led0"] == 0b01
        assert m3.repl.eval("(bd.LED(0).value(), bd.LED(1).value())") in ((1, 0), (True, False))
        assert any(line.startswith("uptime/ticks epoch: the virt-rv64 image keeps no clock epoch")
                   for line in report.not_carried)


def test_the_uptime_goes_on_from_the_m3_on_rv64(tmp_path):
    # 172 s passes Timer1's 2**32-cycle wrap: the high word (vm.mpsim_clock_hi) is in use
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        m3.boot()
        m3.repl.exec("import time\ntime.sleep(172)\nt = time.ticks_ms()")
        assert m3.repl.eval("t") >= 172_000
        m3.hibernate()
        data = export_from(m3)
    assert read_state(data).header["peripherals"]["uptime_us"] >= 172_000_000
    rv, report = carry(data, "virt-rv64", tmp_path / "rv.bin")
    with rv:
        assert 0 <= rv.repl.eval("time.ticks_diff(time.ticks_ms(), t)") < 1000
        assert not any(line.startswith("uptime") for line in report.not_carried)


def test_native_code_is_refused_by_name_at_export(tmp_path):
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        m3.boot()
        m3.repl.exec("import micropython\n@micropython.native\ndef fast(x):\n    return x + 1\nkeep = fast")
        m3.hibernate()
        with pytest.raises(MigrationError, match="the global 'fast' and 'keep': .*native"):
            export_newest(m3)


def test_an_unloadable_state_leaves_the_target_flash_alone(tmp_path):
    with board("mps2-an385", tmp_path / "m3.bin") as m3:
        m3.boot()
        m3.repl.exec("import gc\nheld = [bytearray(1000) for _ in range(40)]")
        m3.hibernate()
        data = export_from(m3)
    with board("virt-rv64", tmp_path / "rv.bin") as rv:
        rv.boot()
        rv.repl.exec("mine = 1")
        rv.hibernate()
    saved = (tmp_path / "rv.bin").read_bytes()
    st = read_state(data)
    st.header["source"]["version"] = [1, 99, 0]            # a newer MicroPython: a downgrade for 1.23
    from sim.mpy.portable import statefile
    newer = statefile.pack(st.header, _body(data))
    with board("virt-rv64", tmp_path / "rv.bin") as rv:
        with pytest.raises(MigrationError, match="downgrade"):
            resume_state(rv, newer)
    assert (tmp_path / "rv.bin").read_bytes() == saved


def _body(data: bytes) -> dict:
    from sim.mpy.portable import statefile
    return statefile.unpack(data)[1]


def test_another_version_across_word_sizes_is_refused_then_goes_in_two_steps(tmp_path):
    from tests.firmware_versions import firmware_for
    with Board(firmware=firmware_for("1.22"), flash_path=tmp_path / "old.bin") as old:
        old.boot()
        old.repl.exec("def g():\n    yield 2**40\nit = g()")
        old.hibernate()
        data = export_from(old)
    with board("virt-rv64", tmp_path / "rv.bin") as rv:
        with pytest.raises(MigrationError, match="a MicroPython 1.22 state into 1.23 on another word size"):
            resume_state(rv, data)
    assert not (tmp_path / "rv.bin").exists() or not any((tmp_path / "rv.bin").read_bytes().strip(b"\xff"))
    m3, _ = carry(data, "mps2-an385", tmp_path / "m3.bin")         # 1.22 -> 1.23, same word size
    with m3:
        m3.hibernate()
        data = export_from(m3)
    rv, _ = carry(data, "virt-rv64", tmp_path / "rv.bin")
    with rv:
        assert rv.repl.eval("next(it)") == 2**40


def test_a_64_bit_firmware_update_goes_by_state_file_not_in_place(tmp_path):
    """The in-place update loader writes 32-bit heaps: on RV64 it refuses in one line,
    flash untouched, and the state file carries the image to the other build instead.
    The other build: the same ELF with one byte of an error message changed."""
    from sim.mpy.portable.migrate import resume_migrating
    elf = BUILDS["virt-rv64"]
    if not elf.exists():
        pytest.skip(f"no MicroPython 1.23 build for virt-rv64 at {elf} (bash tools/setup)")
    raw = elf.read_bytes()
    at = raw.index(b"unsupported types for")
    other = tmp_path / "other.elf"
    other.write_bytes(raw[:at] + b"U" + raw[at + 1:])
    with board("virt-rv64", tmp_path / "rv.bin") as rv:
        rv.boot()
        rv.repl.exec("x = [1, 'a', {2: 3}, 2**40]")
        rv.hibernate()
        data = export_from(rv)
    saved = (tmp_path / "rv.bin").read_bytes()
    with Board(load_board("virt-rv64"), firmware=other, flash_path=tmp_path / "rv.bin") as new:
        with pytest.raises(MigrationError, match="cannot migrate a 64-bit image in place: .* state file"):
            resume_migrating(new, [elf])
    assert (tmp_path / "rv.bin").read_bytes() == saved
    with Board(load_board("virt-rv64"), firmware=other, flash_path=tmp_path / "rv2.bin") as new:
        resume_state(new, data)
        assert new.repl.eval("x") == [1, "a", {2: 3}, 2**40]

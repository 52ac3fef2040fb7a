"""Resume after a firmware update: the survival list carried to another firmware by the
portable form (sim.mpy.portable), on the real firmware in the emulator. Each test
builds state on the old firmware, hibernates, then resumes the same flash with the new
firmware, which migrates the image and writes it back as its own."""

from __future__ import annotations

import pytest

from sim.device import Board
from sim.firmware import Firmware
from sim.mpy.portable import MigrationError
from sim.mpy.portable.migrate import image_from_other_firmware, migrate, resume_migrating
from sim.peripherals.nor_flash import PowerLoss, PowerLossMode
from sim.paths import REPO
from tests.firmware_versions import BOARD, firmware_for

STATE = """
i = 12345
big = 2**200 + 7
f = 3.25
s = 'hello ' + 'world'
by = b'\\x00\\xffbytes'
ba = bytearray(b'abc')
l = [1, 2, [3, 4]]
t = (1, 'two', 3.0)
d = {'a': 1, 'b': [2]}
st = {1, 2, 3}
nested = {'k': [(1, 2), {'x': {3}}]}
name_made_at_runtime_xyzzy = 42
k = 'dyn' + 'amic'
g = {k: 1}
def f2(a, b=10):
    return a + b
def make(n):
    def add(x):
        return x + n
    return add
add5 = make(5)
sq = lambda x: x * x
def gen():
    for i in range(10):
        yield i * i
gg = gen()
first = [next(gg), next(gg), next(gg)]
class A:
    def __init__(self, v):
        self.v = v
    def get(self):
        return self.v
class B(A):
    def get(self):
        return super().get() * 2
a = A(3)
b = B(4)
m = b.get
try:
    raise ValueError('kept')
except ValueError as e:
    err = e
keyed = {a: 'a', b: 'b'}
import math, struct, collections, sys
P = collections.namedtuple('P', 'x y')
p = P(1, 2)
sys.modules['made_at_runtime'] = [1, 2]
def over(seq):
    for x in seq:
        yield x
loops = [over([10, 20, 30]), over('abc'), over((7, 8, 9))]
heads = [next(o) for o in loops]
"""
VALUES = ("(i, big, f, s, by, ba, l, t, d, st, nested, name_made_at_runtime_xyzzy, g['dynamic'])",
          "(f2(1), f2(1, 2), add5(1), sq(7), first + [next(gg), next(gg)])",
          "(a.get(), b.get(), m(), isinstance(b, A), type(err).__name__, err.args, keyed[a], keyed[b])",
          "(math.sqrt(16.0), struct.pack('<H', 258), p.x + p.y, P(3, 4).y, sys.modules['made_at_runtime'])",
          "(heads, [list(o) for o in loops])")
AFTER = ("import gc\ngc.collect()\nmore = [bytearray(64) for _ in range(300)]\n"
         "def newf():\n    return len(more) + len(l)\n")


def variant_firmware():
    """A rebuild of 1.23 with another config: extra ROM qstrs (other numbering), -Os (code
    and data moved), a 96 KiB heap (tools/build-firmware-variant makes it)."""
    path = REPO / "firmware" / "build" / BOARD / "1.23-variant" / "firmware.elf"
    if not path.exists():
        pytest.skip(f"no variant build at {path}; make it with tools/build-firmware-variant")
    return path


def save_state(tmp_path, version):
    flash = tmp_path / "flash.bin"
    with Board(firmware=firmware_for(version), flash_path=flash) as old:
        old.boot()
        old.repl.exec(STATE)
        before = [old.repl.eval(v) for v in VALUES[:-1]]     # the last would run the suspended for-loops out
        old.hibernate()
    return flash, before


def check_survival(board, before):
    assert [board.repl.eval(v) for v in VALUES[:1]] == before[:1]
    got = [board.repl.eval(v) for v in VALUES[1:]]
    want = before[1:]
    want[0] = want[0][:4] + ([0, 1, 4, 25, 36],)      # the generator goes on from where it stopped (16)
    assert got[0] == want[0]
    assert got[1:3] == want[1:3]
    assert got[3] == ([10, "a", 7], [[20, 30], ["b", "c"], [8, 9]])   # for-loops resumed mid-way
    board.repl.exec(AFTER)
    assert board.repl.eval("newf()") == 303
    assert board.repl.eval("(gc.collect(), (i, l, d, st, keyed[a]))[1]") == (12345, [1, 2, [3, 4]], {"a": 1, "b": [2]},
                                                                           {1, 2, 3}, "a")


def resume_on(tmp_path, flash, new_elf):
    board = Board(firmware=new_elf, flash_path=flash)
    report = resume_migrating(board, [firmware_for(v) for v in ("1.19", "1.20", "1.22", "1.23")])
    return board, report


@pytest.mark.parametrize("old,new", [("1.19", "1.20"), ("1.20", "1.22"), ("1.22", "1.23"), ("1.23", "variant")])
def test_survival_list_survives_a_firmware_update(tmp_path, old, new):
    flash, before = save_state(tmp_path, old)
    new_elf = variant_firmware() if new == "variant" else firmware_for(new)
    board, report = resume_on(tmp_path, flash, new_elf)
    with board:
        assert report is not None and report.objects > 50 and report.qstrs_interned > 0
        check_survival(board, before)
        # the migrated image is the new firmware's own: a plain power cycle resumes it
        board.repl.exec("after_migration = 7")
        board.hibernate()
        board.power_cycle()
        board.resume()
        assert board.repl.eval("(after_migration, i, p.x)") == (7, 12345, 1)


def test_downgrade_is_refused_and_the_flash_untouched(tmp_path):
    flash, _ = save_state(tmp_path, "1.23")
    saved = flash.read_bytes()
    board = Board(firmware=firmware_for("1.22"), flash_path=flash)
    with board:
        with pytest.raises(MigrationError, match="down to 1.22: a downgrade"):
            resume_migrating(board)
    assert flash.read_bytes() == saved


@pytest.mark.parametrize("old,why", [("1.18", "only mpy v6 firmware \\(1.19 and later\\) can be migrated"),
                                     ("1.9.2", "only mpy v6 firmware")])
def test_another_bytecode_generation_is_refused_by_name(tmp_path, old, why):
    flash, _ = save_state(tmp_path, old)
    saved = flash.read_bytes()
    with Board(firmware=firmware_for("1.23"), flash_path=flash) as board:
        with pytest.raises(MigrationError, match=why):
            resume_migrating(board, [firmware_for(old)])
    assert flash.read_bytes() == saved


def test_the_chain_of_updates_1_19_to_1_23(tmp_path):
    flash, before = save_state(tmp_path, "1.19")
    for new in ("1.20", "1.22", "1.23"):
        board, report = resume_on(tmp_path, flash, firmware_for(new))
        with board:
            assert report is not None and report.target.startswith(f"{new}/")
            assert board.repl.eval(VALUES[0]) == before[0]
            assert board.repl.eval(VALUES[2]) == before[2]
            board.hibernate()
    board, report = resume_on(tmp_path, flash, firmware_for("1.23"))
    with board:
        assert report is None                  # the newest image is 1.23's own now
        board.resume()
        check_survival(board, before)


@pytest.mark.parametrize("mode", list(PowerLossMode), ids=lambda m: m.value)
def test_power_cut_at_every_flash_op_of_the_migrated_write_leaves_the_old_image(tmp_path, mode):
    flash, before = save_state(tmp_path, "1.22")
    old_fw = Firmware.load(firmware_for("1.22"))
    with Board(firmware=firmware_for("1.23"), flash_path=flash) as probe:
        img = image_from_other_firmware(probe.hibernator)
        ops0 = probe.flash.ops_count
        migrate(probe.hibernator, old_fw, img)
        n_ops = probe.flash.ops_count - ops0
        probe.store.save_if_changed = lambda: None     # keep the file as the old firmware left it
    assert n_ops > 2
    for cut in range(n_ops):
        board = Board(firmware=firmware_for("1.23"), flash_path=flash)
        with board:
            hib = board.hibernator
            img = image_from_other_firmware(hib)
            assert img is not None and img.fingerprint == old_fw.fingerprint
            board.flash.arm_power_cut(cut, mode, seed=cut)
            with pytest.raises(PowerLoss):
                migrate(hib, old_fw, img)
            board.flash.disarm_power_cut()
            board.flash.reset()
            # the old image is still the newest valid one; migrating again works
            again = image_from_other_firmware(hib)
            assert again is not None and again.sequence == img.sequence
            migrate(hib, old_fw, again)
            board.repl = board._new_repl(board.repl.timeout_s)
            board.repl.wait_prompt()
            assert board.repl.eval(VALUES[0]) == before[0]
            # not saved to the file: the next case starts from the old image again
            board.store.save_if_changed = lambda: None


def test_update_firmware_fixture_carries_a_running_board(make_board, update_firmware):
    old = make_board(firmware=firmware_for("1.22"))
    old.repl.exec("x = {'made': [1, 2.5, 'before the update']}\ncount = 41")
    new, report = update_firmware(firmware_for("1.23"), target=old)
    assert new.firmware.micropython_version[:2] == (1, 23)
    assert "to 1.23/firmware.elf (MicroPython 1.23.0" in report.line()
    new.repl.exec("count += 1")
    assert new.repl.eval("(x, count)") == ({"made": [1, 2.5, "before the update"]}, 42)


def test_native_code_in_the_heap_is_refused_up_front(tmp_path):
    flash = tmp_path / "flash.bin"
    with Board(firmware=firmware_for("1.22"), flash_path=flash) as old:
        old.boot()
        old.repl.exec("import micropython\n@micropython.native\ndef fast(x):\n    return x + 1\nkeep = fast")
        assert old.repl.eval("fast(1)") == 2
        old.hibernate()
    saved = flash.read_bytes()
    with Board(firmware=firmware_for("1.23"), flash_path=flash) as board:
        with pytest.raises(MigrationError, match="native"):
            resume_migrating(board, [firmware_for("1.22")])
    assert flash.read_bytes() == saved


@pytest.mark.parametrize("code,why", [
    ("import extra\nbx = extra.Box(5)", "instance of extra.Box: type extra.Box does not exist in the new firmware"),
    ("import extra\ntw = extra.twice", "refers to the builtin extra_twice_obj, which does not exist in the new firmware"),
])
def test_what_the_new_firmware_lacks_is_refused_by_name(tmp_path, code, why):
    flash = tmp_path / "flash.bin"
    with Board(firmware=variant_firmware(), flash_path=flash) as old:
        old.boot()
        old.repl.exec(code)
        old.hibernate()
    saved = flash.read_bytes()
    with Board(firmware=firmware_for("1.23"), flash_path=flash) as board:
        with pytest.raises(MigrationError, match=why):
            resume_migrating(board, [variant_firmware()])
    assert flash.read_bytes() == saved


ITERATING = """
d = {'a': 1, 'b': 2, 'c': 3}
def keys_of(m):
    for k in m.keys():
        yield k
it = keys_of(d); first = next(it)
vals = iter(d.values()); next(vals)
s = {'x', 'y', 'z', 'w'}
si = iter(s); next(si)
"""
REST = "(first, list(it), list(vals), list(si))"


@pytest.mark.parametrize("old,new", [("1.22", "1.23"), ("1.23", "variant")])
def test_iterators_part_way_through_tables_go_on_exactly(tmp_path, old, new):
    """A table whose keys' hashes are the same on the new firmware is kept as it is:
    rebuilt in slot order, a key that wrapped round the end of {'a','b','c'} moved,
    and the suspended loop yielded 'b' twice and never 'a'."""
    with Board(firmware=firmware_for(old), flash_path=tmp_path / "ref.bin", deterministic=True) as ref:
        ref.boot()
        ref.repl.exec(ITERATING)
        want = ref.repl.eval(REST)
    flash = tmp_path / "flash.bin"
    with Board(firmware=firmware_for(old), flash_path=flash, deterministic=True) as b:
        b.boot()
        b.repl.exec(ITERATING)
        b.hibernate()
    board, report = resume_on(tmp_path, flash, variant_firmware() if new == "variant" else firmware_for(new))
    with board:
        assert report is not None
        assert board.repl.eval(REST) == want

"""Resume a hibernate image into a heap at another address or of another size, on the
real firmware in the emulator; QEMU running the same code without any hibernation is
the oracle for what Python must see afterwards.

``resume_relocated`` below is the controller's resume procedure with the relocation
step in the middle: boot with the new heap bounds in the boot-parameter block, stop at
the restore point, relocate the image's heap for the geometry this boot has, write ctx
(vm, mem) and call gc_init, write the tables and pool.
"""

from __future__ import annotations


import pytest

from sim.hibernate import RESTORE_POINTS
from sim.mpy.state import MpState
from sim.mpy.relocate import RelocationError, relocate_image
from sim.mpy import heap_config
from sim.repl import Repl

from conftest import FIRMWARE, load_tool, require_qemu
from state_code import CHECK, CHECK_GEN, GENERATORS, STATE, chunks

STATIC = None                      # the firmware's own static heap (no boot parameters)


def set_heap(machine, fw, heap):
    """Boot parameters for the next boot: another heap, or (None) the static one."""
    heap_config.apply(machine, heap)


def boot(board, heap):
    m = board.machine
    m.reset()
    set_heap(m, board.firmware, heap)
    board.repl = Repl(_link(board), timeout_s=board.repl.timeout_s)
    board.repl.wait_prompt()


def _link(board):
    from sim.device import MachineLink
    return MachineLink(board.machine)


def resume_relocated(board, heap):
    """Power on with ``heap`` as the GC heap and resume the newest image into it."""
    m, fw = board.machine, board.firmware
    image, skipped = board.hibernator.latest_usable_image()
    assert image is not None, skipped
    m.reset()
    set_heap(m, fw, heap)
    restore_point = next(fw.symbol(n).addr for n in RESTORE_POINTS if fw.has_symbol(n))
    m.uc.ctl_remove_cache(restore_point, restore_point + 2)   # as the controller does (sim/hibernate.py)
    m.run_until(restore_point)
    state = MpState(m, fw)
    geo = state.geometry()
    rel = relocate_image(fw, image, geo.start, geo.end)
    assert rel.geometry == geo, "relocate computes the layout gc_init gave this boot"
    for part in ("vm", "mem"):
        addr, size = state.part(part)
        off = addr - state.ctx_addr
        m.write(addr, rel.ctx[off:off + size])
    m.call(fw.symbol("gc_init").addr, geo.start, geo.end)
    m.write(geo.atb_start, rel.atb)
    m.write(geo.pool_start, rel.pool)
    for name, st in image.peripheral_states().items():
        if name in m.peripherals:
            m.peripherals[name].load_state(st)
    board.repl = Repl(_link(board), timeout_s=board.repl.timeout_s)
    board.repl.wait_prompt()
    return rel


def qemu_prints(setup: str, check: str) -> str:
    """What ``check`` prints in QEMU after ``setup``, with no hibernation at all."""
    require_qemu()
    with load_tool().QemuSession(FIRMWARE) as q:
        q.repl.exec(setup)
        return q.repl.exec(check)


@pytest.fixture(scope="module")
def oracle():
    return qemu_prints(STATE, digest_code())


def digest_code(expr: str = CHECK) -> str:
    """An expression's repr reduced on the device to a short digest: less console traffic."""
    return (f"_r = repr({expr})\n"
            "print(len(_r), sum(ord(c) * (i + 1) for i, c in enumerate(_r)) % 1000000007)\n")


def check(board, expr: str = CHECK):
    return board.repl.exec(digest_code(expr))


@pytest.fixture
def board(tmp_path):
    """A board at the friendly prompt, on the deterministic clock so a failure replays.
    (Written when long raw-REPL transfers on the host-paced clock could lose or double
    bytes; the machine link now paces writes, see commits 9e36201 and 31e8faf.)"""
    require_qemu()
    from sim.device import Board
    with Board(firmware=FIRMWARE, flash_path=tmp_path / "flash.bin", deterministic=True) as b:
        b.boot()
        yield b


@pytest.fixture
def built(board):
    for piece in chunks(STATE):
        board.repl.exec(piece)
    board.hibernate()
    board.power_cycle()
    return board


@pytest.mark.parametrize("heap", [(0x20100000, 0x20120000), (0x20100000, 0x20140000), (0x20100000, 0x20110000),
                                  (0x20030000, 0x20050010)],
                         ids=["moved", "2x", "half", "odd-size-lower"])
def test_state_survives_a_relocated_resume(built, oracle, heap):
    rel = resume_relocated(built, heap)
    assert MpState(built.machine, built.firmware).geometry().start == heap[0]
    got = check(built)
    assert got == oracle, _diff(oracle, got)
    # the heap works afterwards: collection, allocation, new definitions, the history
    built.repl.exec("gc.collect()\nmore = [bytearray(64) for _ in range(100)]\ndef newf():\n    return len(more)\n")
    assert built.repl.eval("newf()") == 100
    assert built.repl.eval("keyed[a] + keyed[bb]") == "ab"
    assert rel.walk.relocatable
    assert rel.rehashed_tables > 0, "instance-keyed tables were rebuilt for the new addresses"


def test_round_trip_a_b_a_keeps_the_state(built, oracle):
    resume_relocated(built, (0x20100000, 0x20140000))
    built.hibernate()
    built.power_cycle()
    resume_relocated(built, STATIC)
    got = check(built)
    assert got == oracle, _diff(oracle, got)


def test_shrinking_below_the_live_data_is_refused_with_the_numbers(board):
    # the firmware takes heaps of 16 KiB and more: make more than that live
    board.repl.exec("ballast = [bytearray(1000) for i in range(20)]")
    board.hibernate()
    board.power_cycle()
    with pytest.raises(RelocationError, match=r"live data does not fit the new heap: \d+ blocks \(\d+ bytes\) live, "
                                              r"the heap 0x20100000\.\.0x20104000 \(16384 bytes\) has a pool of"):
        resume_relocated(board, (0x20100000, 0x20100000 + 0x4000))


def test_a_key_whose_hash_runs_python_refuses_only_when_it_must_move(board):
    board.repl.exec("class H:\n    def __hash__(self):\n        return 7\nclass O:\n    pass\n"
                    "h = H()\nhk = {h: 1, 'x': 2}\nobjs = [O() for i in range(9)]\nok = {o: 1 for o in objs}\n")
    board.hibernate()
    board.power_cycle()
    # same geometry as saved: nothing moves, no key needs hashing
    resume_relocated(board, STATIC)
    assert board.repl.eval("(hk[h], sum(ok[o] for o in objs))") == (1, 9)
    board.hibernate()
    board.power_cycle()
    # moved: the identity-keyed table must be rebuilt, which needs H.__hash__ -> refused
    with pytest.raises(RelocationError, match="__hash__"):
        resume_relocated(board, (0x20100000, 0x20120000))


def _diff(a: str, b: str) -> str:
    import difflib
    sa, sb = a.split(", "), b.split(", ")
    return "\n".join(difflib.unified_diff([repr(x) for x in sa], [repr(x) for x in sb], lineterm="", n=2))


@pytest.fixture(scope="module")
def gen_oracle():
    return qemu_prints(GENERATORS, digest_code(CHECK_GEN))


@pytest.mark.parametrize("heap", [(0x20100000, 0x20120000), (0x20100000, 0x20110000)], ids=["moved", "half"])
def test_suspended_generators_continue_after_a_relocated_resume(board, gen_oracle, heap):
    """Generators stopped in for-loops over range (raw ints that look like heap addresses
    in their inline iterator) and lists, in with/except/finally blocks, mid-expression,
    while unwinding a break through finally, in yield from; not started; finished."""
    for piece in chunks(GENERATORS):
        board.repl.exec(piece)
    board.hibernate()
    board.power_cycle()
    resume_relocated(board, heap)
    assert check(board, CHECK_GEN) == gen_oracle


def test_readline_history_survives_a_relocated_resume(board):
    board.repl.exit_raw()
    board.repl.friendly("x_hist = 77")
    board.hibernate()
    board.power_cycle()
    resume_relocated(board, (0x20100000, 0x20120000))
    board.repl.exit_raw()
    board.repl.write(b"\x1b[A")        # up-arrow recalls the line typed before the move
    board.repl.write(b"\r")
    assert "x_hist = 77" in board.repl.read_until(b">>> ").decode()
    assert board.repl.eval("x_hist") == 77


def test_an_iterator_part_way_through_an_address_keyed_dict_refuses_only_when_it_must_move(board):
    """Moved, an identity-keyed table is laid out again; an iterator's index into it
    would then skip or repeat keys, so such a move is refused, naming the iterator."""
    board.repl.exec("class K:\n    def __init__(self, n):\n        self.n = n\nks = [K(i) for i in range(12)]\n"
                    "d = {}\nfor k in ks:\n    d[k] = k.n\nit = iter(d); first = next(it).n\n")
    want = board.repl.eval("sorted(k.n for k in d if k.n != first)")
    board.hibernate()
    board.power_cycle()
    with pytest.raises(RelocationError, match=r"an iterator \(at 0x[0-9a-f]+\) is part-way through a dict whose keys "
                                              r"hash by address"):
        resume_relocated(board, (0x20100000, 0x20120000))
    board.power_cycle()
    resume_relocated(board, STATIC)                # not moved: the iterator goes on exactly
    assert board.repl.eval("sorted(k.n for k in it)") == want

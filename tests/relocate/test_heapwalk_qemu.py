"""The precise heap walker on real heaps (firmware in QEMU): everything the issue lists
is classified, and the precise walk reaches exactly what the GC's own conservative
marking from the same roots reaches."""

from __future__ import annotations

import struct

from sim.mpy.walk import Walker, walk_memory
from sim.mpy.state import MpState

from state_code import GENERATORS, STATE


def conservative_reach(firmware, ram):
    """What gc_collect_start marks from mp_state_ctx (conservatively, word by word)."""
    st = MpState(ram, firmware)
    geo = st.geometry()
    w = Walker(firmware, st.ctx_addr, st.read_ctx(), geo.pool_start,
               ram.read(geo.atb_start, geo.atb_len), ram.read(geo.pool_start, geo.pool_end - geo.pool_start))
    end = firmware.variable_type("mp_state_ctx").offset_of("vm.qstr_last_chunk")[0]
    ctx = st.read_ctx()
    todo = [struct.unpack_from("<I", ctx, o)[0] for o in range(0, end, 4)]
    seen = set()
    while todo:
        v = todo.pop()
        if v % 4 or w.block_start(v) != v or v in seen:
            continue
        seen.add(v)
        off = v - w.pool_start
        todo += [struct.unpack_from("<I", w.pool, off + o)[0] for o in range(0, w.block_size(v), 4)]
    return seen


def test_census_classifies_every_live_block(firmware, qemu_capture):
    ram = qemu_capture(STATE, steps=["x_hist = 77"])
    walk = walk_memory(ram, firmware)
    assert walk.relocatable, walk.report()
    census = walk.census()
    for label in ("list", "dict", "str", "bytes", "bytearray", "array", "memoryview", "int", "float", "tuple",
                  "set", "frozenset", "fun_bc", "closure_type", "cell", "bound_meth", "gen_instance",
                  "class A", "class B", "instance of A", "instance of B", "instance of L", "namedtuple P",
                  "property", "staticmethod", "classmethod", "ValueError", "ZeroDivisionError",
                  "qstr.pool", "qstr.chunk", "map.table", "bytecode", "readline.line", "zip", "map", "filter",
                  "enumerate", "reversed", "range", "polymorph_iter", "dict_view_type", "mpz.digits",
                  "array.items", "str.data", "traceback"):
        assert label in census, f"{label} missing from the census:\n{walk.report()}"
    # every allocated block is either live (classified) or unreachable garbage
    used = walk.used_bytes
    assert walk.live_bytes() + sum(n for _, n in walk.garbage) == used


def test_precise_walk_reaches_what_the_gc_marks(firmware, qemu_capture):
    ram = qemu_capture(STATE, steps=["x_hist = 77"])
    walk = walk_memory(ram, firmware)
    assert set(walk.blocks) == conservative_reach(firmware, ram)


def test_walk_on_a_moved_heap(firmware, qemu_capture):
    ram = qemu_capture(STATE, heap=(0x20100000, 0x20140000))
    walk = walk_memory(ram, firmware)
    assert walk.pool_start > 0x20100000
    assert walk.relocatable, walk.report()
    assert set(walk.blocks) == conservative_reach(firmware, ram)


def test_native_code_is_reported_not_guessed(firmware, qemu_capture):
    ram = qemu_capture("import micropython\n@micropython.native\ndef nf(x):\n    return x + 1\nkeep = nf\n")
    walk = walk_memory(ram, firmware)
    assert not walk.relocatable
    assert any("native" in p.reason for p in walk.problems), walk.report()


def test_suspended_generators_are_walked_exactly(firmware, qemu_capture):
    ram = qemu_capture(GENERATORS)
    walk = walk_memory(ram, firmware)
    assert walk.relocatable, walk.report()
    assert walk.census()["gen_instance"][0] >= 13
    assert set(walk.blocks) == conservative_reach(firmware, ram)


def test_keyboard_interrupt_traceback_in_ctx_is_walked(firmware):
    """Ctrl-C leaves mp_kbd_exception (inside mp_state_ctx) with a traceback buffer in the heap."""
    import time
    from conftest import FIRMWARE, load_tool
    from sim.mpy.walk import RamImage
    tool = load_tool()
    with tool.QemuSession(FIRMWARE) as q:
        r = q.repl
        r.exec("def spin():\n    while True:\n        pass\n")
        r.write(b"spin()\x04")
        r.read_until(b"OK")
        time.sleep(0.2)
        r.write(b"\x03")
        assert b"KeyboardInterrupt" in r.read_until(b"\x04>")
        r.exit_raw()
        r.drain(0.05)
        ram = RamImage(tool.RAM_BASE, q.dump(tool.RAM_BASE, tool.ram_end(FIRMWARE, None) - tool.RAM_BASE))
    walk = walk_memory(ram, firmware)
    assert walk.relocatable, walk.report()
    st = MpState(ram, firmware)
    kbd, _ = st.field_addr("vm.mp_kbd_exception")
    tb = struct.unpack("<I", ram.read(kbd + 8, 4))[0]
    assert walk.blocks[tb].role == "traceback"

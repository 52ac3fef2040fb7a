"""A hibernate image as a state file, and a state file as what a loader needs.

``export_state`` walks the image with the firmware that wrote it (sim.mpy.portable.export)
and packs, with the representation facts of that firmware (``facts``), the struct
layouts the loader needs from it (so the file loads without the source ELF), the struct
each block is laid out as, the sizes of firmware arrays referenced inside (a pointer to
``board_leds[1]`` is an element index, not a byte offset, on another word size) and the
board-neutral peripheral state (LEDs). ``read_state`` checks and unpacks one
(sim.mpy.portable.statefile: one line for anything it refuses).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ...firmware import TypeInfo
from . import MigrationError
from . import statefile
from .export import Exporter, GENERATION, PBlock, Portable, fw_version
from .load import ROLE_STRUCT as LOAD_ROLE_STRUCT

# the struct a block of each role is laid out as (exceptions: mp_obj_exception_t, found by
# type): the loader's table, plus the roles only a state file carries
ROLE_STRUCT = {**LOAD_ROLE_STRUCT, "staticmethod": "mp_obj_static_class_method_t",
               "classmethod": "mp_obj_static_class_method_t"}
# structs a loader may need besides the roles' (nested, or read by the converters)
EXTRA_STRUCTS = ("mp_code_state_t", "mp_obj_exception_t", "mp_map_t", "mp_set_t", "mpz_t", "mp_module_constants_t",
                 "mp_obj_namedtuple_type_t", "mp_obj_iter_buf_t", "mp_exc_stack_t", "qstr_pool_t", "mp_obj_base_t")


def facts(fw) -> dict:
    """The representation facts of a firmware (DWARF): what a loader converts or refuses."""
    from ..objects import Layout
    from .qstrs import QstrPools
    word = fw.struct("mp_obj_base_t").size
    fbytes = fw.struct("mp_obj_float_t").fields["value"][1].size
    mpz = fw.struct("mpz_t")
    dig = _digit_bytes(fw)
    return {"word_bytes": word, "byte_order": "little",
            "float": {4: "ieee754-single", 8: "ieee754-double"}.get(fbytes, f"{fbytes}-byte"),
            "small_int_bits": 8 * word - 1, "mpz_digit_bits": 8 * dig, "mpz_len_bytes": mpz.fields["len"][1].size,
            "qstr_hash_bytes": QstrPools(Layout(fw)).hash_size, "bytecode": _bytecode(fw)}


def _digit_bytes(fw) -> int:
    """sizeof(mpz_dig_t) (MPZ_DIG_SIZE / 8), from DWARF."""
    try:
        return fw.struct("mpz_dig_t").size
    except Exception:  # noqa: BLE001 - no such type: a firmware without mpz big ints
        raise MigrationError(f"{fw.path.name}: no mpz_dig_t in its DWARF (built without mpz big ints?): "
                             "its ints cannot be carried exactly") from None


def _bytecode(fw) -> str:
    from .. import profiles
    return profiles.for_firmware(fw).bytecode


def describe(header: dict) -> str:
    s = header.get("source", {})
    return f"{s.get('board', '?')} {s.get('firmware', '?')} (MicroPython {'.'.join(map(str, s.get('version', [])))})"


def export_state(fw, image, board: str) -> bytes:
    """The state file of a hibernate image ``image`` written by ``fw`` on ``board``."""
    from ...image import unpack_used_blocks
    f = facts(fw)
    if f["bytecode"] != GENERATION:
        from . import GenerationError
        raise GenerationError(f"MicroPython {'.'.join(map(str, fw_version(fw)))}: only mpy v6 firmware (1.19 and "
                              "later) can be exported")
    g = image.heap
    pool = unpack_used_blocks(image.section("heap.pool"), g.pool_end - g.pool_start, g.block_size)
    ex = Exporter(fw, image.ctx_addr, image.section("ctx"), g, image.table("heap.atb"), pool, image.table("heap.ftb"))
    p = ex.run()
    W = ex.W
    structs_of = []
    for a, b in zip(ex.order, p.blocks):
        s = ROLE_STRUCT.get(b.role)
        typed = dict(b.refs).get(0)
        if s is None and typed and typed[0] == "sym" and W.is_exception_type(W.w(a)):
            s = "mp_obj_exception_t"
        if b.role == "type" and W.is_namedtuple_type(a):
            s = "mp_obj_namedtuple_type_t"
        structs_of.append(s)
    names = set(ROLE_STRUCT.values()) | set(EXTRA_STRUCTS)
    layouts = {}
    for n in sorted(names):
        try:
            layouts[n] = fw.struct(n).to_json()
        except Exception:  # noqa: BLE001 - a struct this build does not have
            pass
    ctx_t = fw.variable_type("mp_state_ctx")
    sym_sizes = {}
    for b in p.blocks:
        for _o, r in b.refs:
            if r[0] == "sym" and r[2] > 1:
                sym_sizes[r[1]] = fw.symbols[r[1]].size
    for _n, (_d, refs) in p.roots.items():
        for _o, r in refs:
            if r[0] == "sym" and r[2] > 1:
                sym_sizes[r[1]] = fw.symbols[r[1]].size
    header = {"source": {"firmware": fw.path.name, "fingerprint": fw.fingerprint, "board": board,
                         "version": list(fw_version(fw))},
              **f, "peripherals": peripherals_of(image, board, p)}
    body = {
        "blocks": [[b.role, b.label, b.size, _b64(b.data), b.refs, int(b.finaliser), s]
                   for b, s in zip(p.blocks, structs_of)],
        "roots": {n: [_b64(d), refs] for n, (d, refs) in p.roots.items()},
        "mem": p.mem, "qstrs": sorted(t.decode("latin-1") for t in p.qstrs),
        "layouts": layouts, "vm": ctx_t.field("vm")[1].to_json(), "sym_sizes": sym_sizes,
    }
    return statefile.pack(header, body)


def peripherals_of(image, board: str, p: Portable) -> dict:
    """The board-neutral peripheral state: the LEDs (bit n = LED n) where the board has them,
    and the uptime in microseconds where the image holds the clock (the Cortex-M3 firmware's
    64-bit cycle count: Timer1 counting down from 0xFFFFFFFF at the board clock, its wraps
    in ``vm.mpsim_clock_hi``, firmware/systime.c)."""
    out = {}
    st = image.peripheral_states()
    if "fpgaio" in st:
        out["leds"] = st["fpgaio"].get("led0", 0)
    elif "board_leds" in p.roots:
        out["leds"] = int.from_bytes(p.roots["board_leds"][0], "little")
    if "timer1" in st and "mpsim_clock_hi" in p.roots:
        from ...board import load_board
        t = st["timer1"]
        hi = int.from_bytes(p.roots["mpsim_clock_hi"][0], "little") + (1 if t.get("intstatus") else 0)
        cycles = (hi << 32) + (0xFFFFFFFF - t["value"])
        out["uptime_us"] = cycles * 1_000_000 // load_board(board).clock_hz
    return out


@dataclass
class State:
    header: dict
    portable: Portable
    structs_of: list          # per block: the struct it is laid out as (None: a plain array)
    layouts: dict[str, TypeInfo]
    vm: TypeInfo
    sym_sizes: dict[str, int]


def read_state(data: bytes, name: str = "state file") -> State:
    header, body = statefile.unpack(data, name)
    try:
        blocks = [PBlock(role, label, size, base64.b64decode(d), [(o, tuple(r)) for o, r in refs], bool(fin))
                  for role, label, size, d, refs, fin, _s in body["blocks"]]
        roots = {n: (base64.b64decode(d), [(o, tuple(r)) for o, r in refs]) for n, (d, refs) in body["roots"].items()}
        p = Portable(source=header["source"], blocks=blocks, roots=roots, mem=body["mem"],
                     qstrs={t.encode("latin-1") for t in body["qstrs"]})
        st = State(header=header, portable=p, structs_of=[b[6] for b in body["blocks"]],
                   layouts={n: TypeInfo.from_json(t) for n, t in body["layouts"].items()},
                   vm=TypeInfo.from_json(body["vm"]), sym_sizes=body.get("sym_sizes", {}))
        for key in ("word_bytes", "byte_order", "float", "small_int_bits", "mpz_digit_bits", "qstr_hash_bytes",
                    "bytecode"):
            header[key]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise statefile.StateFileError(f"{name}: incomplete state ({type(e).__name__}: {e})") from None
    return st


class SourceLayouts:
    """The source firmware as far as a loader reads it: struct layouts from the file."""

    def __init__(self, state: State):
        self.state = state
        self.micropython_version = tuple(state.header["source"]["version"])
        from pathlib import Path
        self.path = Path(state.header["source"]["firmware"])
        self.symbols = {}

    def struct(self, name: str) -> TypeInfo:
        try:
            return self.state.layouts[name]
        except KeyError:
            raise MigrationError(f"the state file has no layout of {name}") from None

    def has_symbol(self, name):
        return False


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()

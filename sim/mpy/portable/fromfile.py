"""Resume a board from a state file (sim.mpy.portable.carry): any supported board and firmware.

Checked before anything is touched: the file (statefile), the bytecode generation,
the direction (no downgrade). The heap is then built on the host for the target's
fresh boot -- by sim.mpy.portable.load when the word size is the same, by
sim.mpy.portable.widen when it differs -- and written as an ordinary image of the
target firmware through the A/B slots, then resumed. A refusal raises
MigrationError (exit 2) and leaves the flash as it was.

Peripheral state moves where both boards share the concept: the LEDs (the MPS2 FPGA
IO's LED0 register, or the RV64 board's ``vm.board_leds``). Everything else of the
source board is named, one line each, as not carried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import GenerationError, MigrationError
from .carry import SourceLayouts, State, describe, facts, read_state
from .statefile import StateFileError
from .export import GENERATION, fw_version

# roots that are board concepts, carried as peripherals (or not at all), never as heap state
BOARD_ROOTS = {"board_leds": "leds", "mpsim_clock_hi": "uptime"}


@dataclass
class StateReport:
    source: str
    target: str
    objects: int
    converted: dict
    sequence: int
    host_time_s: float
    not_carried: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        conv = "".join(f", {n} {r} converted" for r, n in sorted(self.converted.items()))
        return [f"resumed the state of {self.source} on {self.target}: {self.objects} objects{conv}, "
                f"image #{self.sequence}, in {self.host_time_s * 1000:.0f} ms host"] + \
               [f"not carried: {n}" for n in self.not_carried]


def check(st: State, target_fw) -> None:
    h = st.header
    if h["bytecode"] != GENERATION or facts(target_fw)["bytecode"] != GENERATION:
        raise GenerationError("only mpy v6 firmware (MicroPython 1.19 and later) can load a state file (the file: "
                              f"{h['bytecode']}, the firmware: {facts(target_fw)['bytecode']})")
    a, b = tuple(h["source"]["version"])[:2], fw_version(target_fw)[:2]
    if b < a:
        raise MigrationError(f"cannot load a MicroPython {'.'.join(map(str, a))} state into {'.'.join(map(str, b))}: "
                             "a downgrade (the older firmware may lack types, builtins and layouts the state uses)")
    if h["byte_order"] != "little":
        raise MigrationError(f"cannot load: the state is {h['byte_order']}-endian")


def resume_state(board, data: bytes, name: str = "state file") -> StateReport:
    """Load the state file's bytes into ``board`` (its firmware), write it as an image, resume."""
    from .migrate import _boot_and_load, _write_and_resume
    t0 = time.perf_counter()
    st = read_state(data, name)
    hib = board.hibernator
    fw = hib.firmware
    check(st, fw)
    have = facts(fw)
    leds = st.header.get("peripherals", {}).get("leds")
    roots = st.portable.roots
    for root in BOARD_ROOTS:
        roots.pop(root, None)

    def loader(state, geo):
        if st.header["word_bytes"] == have["word_bytes"] == 4:
            _same_representation(st, have)
            from .load import Loader
            return Loader(st.portable, fw, state.ctx_addr, state.read_ctx(), geo).run(SourceLayouts(st))
        a, b = tuple(st.header["source"]["version"])[:2], fw_version(fw)[:2]
        if a != b:
            raise MigrationError(f"cannot load a MicroPython {'.'.join(map(str, a))} state into "
                                 f"{'.'.join(map(str, b))} on another word size: layouts are converted across word "
                                 f"sizes within one version (resume it on a {'.'.join(map(str, b))} firmware of the "
                                 "source's word size first, then export that)")
        if st.header["qstr_hash_bytes"] != have["qstr_hash_bytes"]:
            raise MigrationError(f"cannot load: string hashes are {st.header['qstr_hash_bytes']} bytes in the state "
                                 f"and {have['qstr_hash_bytes']} in the firmware (not converted)")
        from .widen import load_across
        return load_across(st, fw, state.ctx_addr, state.read_ctx(), geo)

    try:
        state, geo, loaded = _boot_and_load(hib, loader)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        # the checksum guards against damage, not against a file made inconsistent on purpose
        raise StateFileError(f"{name}: inconsistent state ({type(e).__name__}: {e})") from None
    m = hib.machine
    peripherals, not_carried = {}, []
    if leds is not None:
        if "fpgaio" in m.peripherals:
            s = m.peripherals["fpgaio"].state()
            s["led0"] = leds
            peripherals["fpgaio"] = s
        elif "board_leds" in st.vm.fields or _has_vm(fw, "board_leds"):
            loaded.ctx = _with_vm_field(fw, loaded.ctx, "board_leds", leds)
        else:
            not_carried.append(f"LEDs ({leds:#x}): {m.board.name} has none")
    uptime = st.header.get("peripherals", {}).get("uptime_us")
    if uptime is None:
        not_carried.append(f"uptime/ticks epoch: the {st.header['source'].get('board', 'source')} image keeps no "
                           f"clock epoch; {m.board.name} counts from its own boot")
    elif "clint" in m.peripherals:
        clint = m.peripherals["clint"]
        s = clint.state()               # mtime = now * hz + offset: uptime now, counting on from here
        s["offset"] = uptime * clint.hz // 1_000_000 - m.now_ns * clint.hz // 1_000_000_000
        peripherals["clint"] = s
    elif "timer1" in m.peripherals and _has_vm(fw, "mpsim_clock_hi"):
        cycles = uptime * m.board.clock_hz // 1_000_000
        s = m.peripherals["timer1"].state()
        # firmware/systime.c: Timer1 free-running down from 0xFFFFFFFF, enabled with its wrap interrupt
        s.update(value=0xFFFFFFFF - (cycles & 0xFFFFFFFF), intstatus=0, reload=0xFFFFFFFF, ctrl=0x9)
        peripherals["timer1"] = s
        loaded.ctx = _with_vm_field(fw, loaded.ctx, "mpsim_clock_hi", cycles >> 32)
    else:
        not_carried.append(f"uptime/ticks epoch: {m.board.name} has no clock mpsim sets")
    seq = _write_and_resume(hib, state, geo, loaded, peripherals)
    board.repl = board._new_repl(board.repl.timeout_s)
    board.boot_output = board.repl.wait_prompt()
    board.store.save()
    return StateReport(source=describe(st.header), target=f"{m.board.name} {fw.path.parent.name}/{fw.path.name}",
                       objects=loaded.objects, converted=loaded.converted, sequence=seq,
                       host_time_s=time.perf_counter() - t0, not_carried=not_carried)


def _same_representation(st: State, have: dict) -> None:
    for key, what in (("float", "floats"), ("qstr_hash_bytes", "string hashes"), ("mpz_digit_bits", "big-int digits")):
        if st.header[key] != have[key]:
            raise MigrationError(f"cannot load: {what} are {st.header[key]} in the state and {have[key]} in the "
                                 "firmware (not converted at this word size)")


def _has_vm(fw, name: str) -> bool:
    return name in fw.variable_type("mp_state_ctx").field("vm")[1].fields


def _with_vm_field(fw, ctx: bytes, name: str, value: int) -> bytes:
    ctx_t = fw.variable_type("mp_state_ctx")
    off, t = ctx_t.offset_of(f"vm.{name}")
    out = bytearray(ctx)
    out[off:off + t.size] = value.to_bytes(t.size, "little")
    return bytes(out)


def export_newest(board, candidates=None) -> tuple[bytes, str]:
    """The state file of the board's newest decodable image (written by the board's firmware
    or one found among ``candidates`` by fingerprint): (bytes, what it came from)."""
    from ...errors import ImageError
    from ...image import decode
    from .carry import export_state
    from .migrate import default_candidates, find_firmware
    hib = board.hibernator
    for _info, data in hib.partition.images_newest_first():
        try:
            img = decode(data)
        except ImageError:
            continue
        fw = hib.firmware if img.fingerprint == hib.firmware.fingerprint else \
            find_firmware(img.fingerprint, list(candidates or []) + default_candidates())
        if fw is None:
            raise MigrationError(f"image #{img.sequence} was written by a firmware that is not here (fingerprint "
                                 f"{img.fingerprint[:12]}): name it with --from-firmware")
        return export_state(fw, img, img.board or board.machine.board.name), \
            f"image #{img.sequence} of {fw.path.parent.name}/{fw.path.name}"
    raise MigrationError(f"no hibernate image in {board.store.path} to export")

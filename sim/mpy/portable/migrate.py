"""The controller step: carry a hibernate image to another firmware, as a normal image.

1. export the old image with the firmware that wrote it (found by its fingerprint),
2. boot the new firmware to its restore point and read its ``mp_state_ctx`` and heap,
3. load the portable state into that (sim.mpy.portable.load): refused up front, in
   one line, when anything cannot move exactly -- the flash is not touched then,
4. write the result as an ordinary image for the new firmware through the A/B slots
   (sim.slots: the old image stays valid until the new one is complete, so a power
   cut at any flash operation of this write leaves the old image usable),
5. resume it as any image of the new firmware.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...firmware import Firmware
from ...image import SECTION_ATB, SECTION_CTX, SECTION_FTB, SECTION_POOL, HibernateImage, pack_used_blocks
from .. import heap_config
from ..state import MpState
from . import MigrationError
from . import format as portable_format
from .export import export_image, fw_version
from .load import load


@dataclass
class MigrationReport:
    source: str              # "firmware.elf (MicroPython 1.22.2)"
    target: str
    objects: int
    qstrs_interned: int
    rehashed_tables: int
    converted: dict
    live_bytes: int
    sequence: int
    export_s: float
    format_s: float          # the width check (the standalone bytes are not made in-process)
    load_s: float
    host_time_s: float

    def line(self) -> str:
        conv = "".join(f", {n} {r} converted" for r, n in self.converted.items())
        return (f"migrated image #{self.sequence} from {self.source} to {self.target}: {self.objects} objects "
                f"({self.live_bytes} B) moved, {self.qstrs_interned} qstrs re-interned, {self.rehashed_tables} "
                f"tables rehashed{conv}, in {self.host_time_s * 1000:.1f} ms host")


def describe(fw: Firmware) -> str:
    v = ".".join(map(str, fw_version(fw))) or "unknown version"
    return f"{fw.path.parent.name}/{fw.path.name} (MicroPython {v}, {fw.fingerprint[:12]})"


def find_firmware(fingerprint: str, candidates) -> Firmware | None:
    """The firmware among ``candidates`` (paths) whose fingerprint is ``fingerprint``."""
    for path in candidates:
        path = Path(path)
        if not path.is_file():
            continue
        try:
            fw = Firmware.load(path)
        except Exception:  # noqa: BLE001 - an unreadable candidate is just not the one
            continue
        if fw.fingerprint == fingerprint:
            return fw
    return None


def check_direction(old: Firmware, new: Firmware) -> None:
    a, b = fw_version(old)[:2], fw_version(new)[:2]
    if b < a:
        raise MigrationError(f"cannot migrate from MicroPython {'.'.join(map(str, a))} down to "
                             f"{'.'.join(map(str, b))}: a downgrade (the older firmware may lack types, "
                             "builtins and layouts the state uses)")


def check_generation(fw: Firmware) -> None:
    from .. import profiles
    from . import GenerationError
    from .export import GENERATION
    if profiles.for_firmware(fw).bytecode != GENERATION:
        raise GenerationError(f"MicroPython {'.'.join(map(str, fw_version(fw)))}: only mpy v6 firmware "
                              "(1.19 and later) can be migrated")


@contextmanager
def _without_cycle_collection():
    """Export and load make ~50,000 short-lived, acyclic objects (blocks, references,
    slot entries), which reference counting frees; each of them counts towards Python's
    cyclic collector, whose full passes over the process (DWARF caches and all) took
    10-20 ms CPU, one or two per migration. Off for the step, back on after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def migrate(hibernator, old_fw: Firmware, image: HibernateImage) -> MigrationReport:
    """Write ``image`` (made by ``old_fw``) as an image of the hibernator's firmware, then resume it."""
    with _without_cycle_collection():
        return _migrate(hibernator, old_fw, image)


def _migrate(hibernator, old_fw: Firmware, image: HibernateImage) -> MigrationReport:
    t0 = time.perf_counter()
    new_fw = hibernator.firmware
    check_generation(old_fw)
    check_generation(new_fw)
    check_direction(old_fw, new_fw)
    if 4 != old_fw.word_size or 4 != new_fw.word_size:
        raise MigrationError(f"cannot migrate a {8 * old_fw.word_size}-bit image in place: the firmware-update "
                             f"loader writes 32-bit heaps only; carry it by a state file instead (mpsim state "
                             f"export FILE, then mpsim resume --state FILE --firmware NEW.elf)")
    portable = export_image(old_fw, image, new_fw)
    t1 = time.perf_counter()
    # in one process the exported form is loaded as it is: the standalone bytes (the state
    # file's body) would decode to the same blocks, refs and roots (tests/portable/test_format.py)
    portable_format.check_widths(portable_format.widths(old_fw), new_fw)
    format_s = time.perf_counter() - t1
    state, geo, loaded = _boot_and_load(hibernator, lambda st, g: load(portable, old_fw, new_fw, st.ctx_addr,
                                                                         st.read_ctx(), g))
    seq = _write_and_resume(hibernator, state, geo, loaded, image.peripheral_states())
    return MigrationReport(source=describe(old_fw), target=describe(new_fw), objects=loaded.objects,
                           qstrs_interned=loaded.qstrs_interned, rehashed_tables=loaded.rehashed_tables,
                           converted=loaded.converted, live_bytes=portable.live_bytes, sequence=seq,
                           export_s=portable.export_s, format_s=format_s, load_s=loaded.load_s,
                           host_time_s=time.perf_counter() - t0)


def _boot_and_load(hibernator, loader):
    """Boot the hibernator's firmware to its restore point; ``loader(state, geometry)``
    builds the heap (nothing is written yet)."""
    m = hibernator.machine
    point = hibernator._restore_point()
    m.reset()
    heap_config.apply(m, hibernator.heap)
    m.uc.ctl_remove_cache(point, point + 2)
    m.run_until(point)
    state = MpState(m, hibernator.firmware)
    geo = state.geometry()
    return state, geo, loader(state, geo)


def _write_and_resume(hibernator, state, geo, loaded, peripherals: dict) -> int:
    """Write ``loaded`` as an image of the hibernator's firmware (A/B slots) and resume it."""
    m, new_fw = hibernator.machine, hibernator.firmware
    new = HibernateImage(fingerprint=new_fw.fingerprint, board=m.board.name, heap=geo, ctx_addr=state.ctx_addr,
                         ctx_size=state.ctx_size, ctx_layout=state.layout_hash(), word_size=new_fw.word_size)
    new.set_table(SECTION_ATB, loaded.atb)
    if geo.has_ftb:
        new.set_table(SECTION_FTB, loaded.ftb)
    new.sections[SECTION_POOL] = pack_used_blocks(loaded.pool, geo.block_size, loaded.used)
    new.sections[SECTION_CTX] = loaded.ctx
    for name, st in peripherals.items():
        new.set_peripheral_state(name, st)
    new.check_saveable(m.board)
    seq = hibernator.partition.next_sequence()
    new.sequence = seq
    hibernator.partition.write(new.encode(), sequence=seq)
    hibernator.resume(new)
    return seq


def default_candidates() -> list[Path]:
    """Firmware ELFs to look for an image's writer in: every build in this tree."""
    from ...paths import REPO
    return sorted((REPO / "firmware" / "build").glob("*/*/firmware.elf")) + \
        sorted((REPO / "firmware" / "build").glob("*/firmware.elf"))


def image_from_other_firmware(hibernator):
    """The newest decodable image whose firmware is not the hibernator's (None: there is none,
    or a newer image of this firmware exists)."""
    from ...errors import ImageError
    from ...image import decode
    for _info, data in hibernator.partition.images_newest_first():
        try:
            img = decode(data)
        except ImageError:
            continue
        return None if img.fingerprint == hibernator.firmware.fingerprint else img
    return None


def resume_migrating(board, candidates=None) -> MigrationReport | None:
    """If the newest image was written by another firmware found among ``candidates``
    (default: the builds in this tree), migrate it to the board's firmware, write it back
    as an image of that firmware and resume it; the board is left at its prompt.
    None when there is nothing to migrate (the caller resumes or boots as usual)."""
    hib = board.hibernator
    img = image_from_other_firmware(hib)
    if img is None:
        return None
    old = find_firmware(img.fingerprint, list(candidates or []) + default_candidates())
    if old is None:
        return None
    report = migrate(hib, old, img)
    board.repl = board._new_repl(board.repl.timeout_s)
    board.boot_output = board.repl.wait_prompt()
    board.store.save()
    return report

"""The board's power-fail warning and hold-up budget (an mpsim extension).

MCUs with a brown-out / power-fail detector raise an interrupt when the supply
starts to sag; a capacitor then holds the rails up for a while. Here:

- the warning is an NVIC line (``power_fail_irq`` in the flash's board-file
  settings; mps2-an385 uses line 31, free in QEMU's AN385 map), raised at the
  moment of the failure: firmware that enables it sees it pending;
- the host-side controller stops the CPU at that instruction boundary, captures
  the run state (``sim.runstate.image``) and writes it to the hibernate partition;
- the writes are charged the NOR's emulated erase/program times; power dies
  the hold-up time after the warning. An operation that would end after that is
  cut where the power dies (torn) and every later one never happens: the commit
  record is written last, so the torn slot stays invisible and the newest image
  that was already there survives (the next power-up resumes *that* one).

The hold-up time: ``holdup_us`` in the flash's board-file settings when a board
names its capacitor, else what a designer sizes the capacitor for: the flash time
of the largest run-state image this firmware can make on its heap, every byte of
its statics, C stack and GC heap live and incompressible (``worst_case_holdup_us``),
written into a pre-erased slot. mps2-an385 with our firmware (128 KiB heap,
16 KiB stack): 591 page programs of 0.7 ms, 413.7 ms, which a 0.1 F supercapacitor
gives a 30 mA board many times over. So with the defaults every power-fail
hibernate fits unless the slot was not pre-erased; ``--holdup-us`` tries a
smaller capacitor.

The report says what was needed against what was available.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mpy.state import MpState
from ..peripherals.nor_flash import PowerLoss, PowerLossMode
from ..slots import Partition
from . import image as run_image
from . import live
from .preerase import execute, plan_write

WARNING_SOURCE = 1 << 30          # the NVIC line's source bit for the supply monitor


@dataclass
class PowerFailReport:
    at_ns: int                  # emulated time of the warning
    holdup_us: int              # available
    needed_us: int              # the flash writes' emulated time
    image_bytes: int
    erases: int
    programs: int
    sequence: int
    slot: int
    cut: str = ""               # the operation the power died in ("" when it fitted)
    unprepared_us: int = 0      # the same write had the slot not been pre-erased
    kept: int | None = None     # the newest image in flash before this write (None: none)


    @property
    def fitted(self) -> bool:
        return not self.cut

    def fallback(self) -> str:
        """What the next power-up finds when this write did not fit."""
        if self.kept is None:
            return "no earlier image in flash: the next power-up boots fresh"
        return f"the previous image is kept (#{self.kept}): the next power-up resumes it"

    def line(self) -> str:
        verdict = "fits" if self.fitted else f"DOES NOT FIT: power died in {self.cut}; {self.fallback()}"
        return (f"power fail at {self.at_ns / 1e6:.3f} ms: run-state image #{self.sequence} of "
                f"{self.image_bytes} B needs {self.needed_us / 1000:.1f} ms of flash time ({self.erases} sector "
                f"erases, {self.programs} page programs), hold-up {self.holdup_us / 1000:.1f} ms: {verdict}")


HEADROOM_BYTES = 2048   # image header, CPU and device sections, zlib's growth of incompressible data


def holdup_default(board) -> int:
    """The hold-up time of ``board`` (a ``sim.device.Board``): the board file's
    ``holdup_us`` when it names one, else ``worst_case_holdup_us``."""
    settings = board.flash.spec.settings
    if "holdup_us" in settings:
        return int(settings["holdup_us"])
    return worst_case_holdup_us(board.machine, board.flash)


def worst_case_holdup_us(machine, flash) -> int:
    """Time to program the largest run-state image ``machine``'s firmware can make
    into a pre-erased slot: its writable sections (statics, and heap and stack when
    they are sections), the GC heap and the C stack, all live, none compressed, plus
    the commit record's page."""
    fw = machine.firmware
    geo = MpState(machine, fw).geometry()
    ram = live.merge([(a, b) for _name, a, b in live.writable_sections(fw)]
                     + [(geo.heap_start, geo.heap_end), live.stack_range(machine)])
    pages = -(-(sum(b - a for a, b in ram) + HEADROOM_BYTES) // flash.page_size) + 1
    return pages * flash.page_program_us


def warning_line(flash) -> int | None:
    line = flash.spec.settings.get("power_fail_irq")
    return None if line is None else int(line)


def power_fail(board, holdup_us: int | None = None, seed: int = 0) -> PowerFailReport:
    """Fail the power of ``board`` now: warn, hibernate within the hold-up budget,
    cut power (RAM lost, flash kept and saved to its file). The board is left off."""
    machine, flash = board.machine, board.flash
    holdup = holdup_default(board) if holdup_us is None else holdup_us
    at = machine.clock.now()
    image = run_image.capture(machine)
    line = warning_line(flash)
    if line is not None and hasattr(machine.core, "irq_line"):
        machine.core.irq_line(line, WARNING_SOURCE, True)
    part = Partition(flash)
    infos = part.scan()
    image.sequence = part.next_sequence(infos)
    data = image.encode()
    plan = plan_write(part, data)
    newest = part._newest_valid(infos)
    report = PowerFailReport(at, holdup, plan.duration_us(flash), len(data), plan.erases(),
                             len(plan.ops) - plan.erases(), plan.sequence, plan.slot,
                             unprepared_us=plan.unprepared_us(flash, len(data)),
                             kept=newest.sequence if newest else None)
    fits = plan.ops_within(flash, holdup)
    if fits < len(plan.ops):
        flash.arm_power_cut(fits, PowerLossMode.TORN, seed)
    try:
        execute(part, plan, data)
    except PowerLoss as e:
        report.cut = f"operation {fits + 1} of {len(plan.ops)} ({e.op} at {e.address:#010x})"
    finally:
        flash.disarm_power_cut()
    board.store.save()
    board.console_log += b"\n[mpsim: power fail]\n"
    machine.power_off()
    flash.reset()
    return report

"""The board's power-fail warning and hold-up budget (an mpsim extension).

MCUs with a brown-out / power-fail detector raise an interrupt when the supply
starts to sag; a capacitor then holds the rails up for a few milliseconds. Here:

- the warning is an NVIC line (``power_fail_irq`` in the flash's board-file
  settings; mps2-an385 uses line 31, free in QEMU's AN385 map), raised at the
  moment of the failure: firmware that enables it sees it pending;
- the host-side controller stops the CPU at that instruction boundary, captures
  the run state (``sim.runstate.image``) and writes it to the hibernate partition;
- the writes are charged the NOR's emulated erase/program times; power dies
  ``holdup_us`` after the warning (board default: ``holdup_us``). An operation
  that would end after that is cut where the power dies (torn) and every later
  one never happens: the commit record is written last, so the previous image
  survives any cut.

The report says what was needed against what was available.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..peripherals.nor_flash import PowerLoss, PowerLossMode
from ..slots import Partition
from . import image as run_image
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


    @property
    def fitted(self) -> bool:
        return not self.cut

    def line(self) -> str:
        verdict = ("fits" if self.fitted else f"DOES NOT FIT: power died in {self.cut}; the previous image "
                   f"is kept")
        return (f"power fail at {self.at_ns / 1e6:.3f} ms: run-state image #{self.sequence} of "
                f"{self.image_bytes} B needs {self.needed_us / 1000:.1f} ms of flash time ({self.erases} sector "
                f"erases, {self.programs} page programs), hold-up {self.holdup_us / 1000:.1f} ms: {verdict}")


def holdup_default(settings) -> int:
    """The board file's hold-up time (the flash's ``holdup_us`` setting)."""
    return int(settings.get("holdup_us", 10_000))


def warning_line(flash) -> int | None:
    line = flash.spec.settings.get("power_fail_irq")
    return None if line is None else int(line)


def power_fail(board, holdup_us: int | None = None, seed: int = 0) -> PowerFailReport:
    """Fail the power of ``board`` now: warn, hibernate within the hold-up budget,
    cut power (RAM lost, flash kept and saved to its file). The board is left off."""
    machine, flash = board.machine, board.flash
    holdup = holdup_default(flash.spec.settings) if holdup_us is None else holdup_us
    at = machine.clock.now()
    image = run_image.capture(machine)
    line = warning_line(flash)
    if line is not None and hasattr(machine.core, "irq_line"):
        machine.core.irq_line(line, WARNING_SOURCE, True)
    part = Partition(flash)
    image.sequence = part.next_sequence()
    data = image.encode()
    plan = plan_write(part, data)
    report = PowerFailReport(at, holdup, plan.duration_us(flash), len(data), plan.erases(),
                             len(plan.ops) - plan.erases(), plan.sequence, plan.slot,
                             unprepared_us=plan.unprepared_us(flash, len(data)))
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

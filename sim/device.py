"""A simulated board as a user sees it: machine + flash (persisted) + REPL + hibernate.

    with Board() as b:
        b.boot()
        b.repl.exec("x = [1, 2, 3]")
        b.hibernate()
        b.power_cycle()
        b.resume()
        assert b.repl.eval("x") == [1, 2, 3]

The flash image lives in ``flash_images/<board>.bin`` unless ``flash_path`` says
otherwise (tests pass a temp file); it is saved after every hibernate, so another
process sees what this one committed: power-cycling the simulator is a real power
cycle.
"""

from __future__ import annotations

import os
import time

from typing import TYPE_CHECKING

from .board import DEFAULT_BOARD, BoardSpec, load_board
from .errors import BoardStopped, GuestFault
from .mpy import heap_config
from .firmware import Firmware
from .flash_store import FlashStore
from .paths import default_firmware
from .repl import Repl

if TYPE_CHECKING:
    from .hibernate import Hibernator, ResumeReport, SaveReport


BRANCH_TO_SELF = b"\xfe\xe7"   # Thumb `b .`: the end of every FATAL halt


class MachineLink:
    """The REPL's byte link over the emulated console UART: ``read`` runs the
    machine until output appears, the firmware idles, or the timeout passes."""

    CHUNK = 64      # bytes in flight at once: well inside the firmware's RX ring

    def __init__(self, machine):
        self.machine = machine
        self._early = bytearray()     # output produced while a write was being paced
        self._resets: int | None = None

    def stop_on_reset(self) -> None:
        """From now on a reset of the board (the firmware's own, e.g. SYSRESETREQ) counts
        as stopped: a program running over this link is gone with it."""
        self._resets = self.machine.resets

    def write(self, data: bytes) -> None:
        """Send like a host serial tool does (pyboard.py/mpremote pace their writes):
        a chunk at a time, letting the firmware take each one before the next, so a
        long program does not overrun the firmware's receive buffer. A firmware that
        stops taking input for good (exited, halted) ends the upload at once."""
        console = self.machine.console
        for i in range(0, len(data), self.CHUNK):
            console.feed(data[i:i + self.CHUNK])
            if i + self.CHUNK >= len(data):
                break
            deadline = time.monotonic() + 5.0
            while console.rx_pending and time.monotonic() < deadline:
                self.machine.run(timeout_s=0.01)
                self._early += console.take_output()
                self._raise_if_stopped(self._early)
            self.machine.run(until_ns=self.machine.now_ns + 2_000_000, timeout_s=0.01)  # ~2 ms of line time
            self._early += console.take_output()
            self._raise_if_stopped(self._early)

    def read(self, timeout_s: float) -> bytes:
        """What the board printed within ``timeout_s``; empty when it waits for input.
        Raises BoardStopped once everything it printed has been read and it has
        stopped for good: no later read could bring anything."""
        deadline = time.monotonic() + timeout_s
        out = self._early + self.machine.console.take_output()
        self._early = bytearray()
        while not out:
            self._raise_if_stopped(out)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.machine.run(timeout_s=min(left, 0.05))
            except GuestFault as e:
                e.output = bytes(out) + self.machine.console.take_output()
                raise
            out += self.machine.console.take_output()
            if not out and self.machine.is_waiting_for_input():
                break
        return bytes(out)

    def stop_reason(self) -> str | None:
        """Why the firmware will never answer again (None while it may): it exited
        through semihosting, or it spins in a branch-to-self (``b .``), the loop a
        firmware's FATAL halt ends in, which nothing but a reset leaves."""
        m = self.machine
        if m.exit_status is not None:
            return f"the firmware exited with status {m.exit_status}"
        if self._resets is not None and m.resets != self._resets:
            return "the board was reset (by the firmware) while the program ran"
        if m.last_stop is not None and m.last_stop.kind == "timeout":
            pc = m.pc & ~1
            if m.read(pc, 2) == BRANCH_TO_SELF:
                sym = m.firmware.symbol_at(pc)
                where = f"{pc:#010x}" + (f" <{sym.name}+{pc - sym.addr:#x}>" if sym else "")
                return f"the firmware stopped: it spins in a branch-to-self loop at {where}"
        return None

    def _raise_if_stopped(self, unread: bytes | bytearray) -> None:
        why = self.stop_reason()
        if why is not None:
            self._early = bytearray()      # handed over with the error
            raise BoardStopped(why, output=bytes(unread).decode(errors="replace"),
                               exit_status=self.machine.exit_status)


class Board:
    def __init__(self, board: str | os.PathLike | BoardSpec = DEFAULT_BOARD,
                 firmware: str | os.PathLike | Firmware | None = None, *,
                 flash_path: str | os.PathLike | None = None, deterministic: bool = False,
                 timeout_s: float = 10.0, heap: tuple[int, int] | None = None, wait_lock: bool = False,
                 read_only: bool = False):
        from .machine.machine import Machine   # the only Unicorn user; imported late for fast CLI start
        self.spec = board if isinstance(board, BoardSpec) else load_board(board)
        if isinstance(firmware, Firmware):
            self.firmware = firmware
        else:
            self.firmware = Firmware.load(firmware or default_firmware(self.spec.name))
        self.machine = Machine(self.spec, self.firmware, deterministic=deterministic)
        self.flash = self.machine.peripherals[self.spec.flash.name]
        # read_only: never saves, so takes no lock (any number of `mpsim run` at once)
        self.store = FlashStore(self.flash, self.spec.name, flash_path, writer=not read_only, wait_lock=wait_lock)
        self.store.load()
        self.console_log = bytearray()       # all the board printed, across reboots and power cycles
        self.sent_code: list[str] = []       # all the code sent to it, in order
        self.repl = self._new_repl(timeout_s)
        self.boot_output = ""                # what the firmware printed up to its last first prompt
        self.heap = heap                     # GC heap bounds (None: the firmware's static heap)
        self._hibernator: Hibernator | None = None

    def _new_repl(self, timeout_s: float | None) -> Repl:
        return Repl(MachineLink(self.machine), timeout_s=timeout_s, transcript=self.console_log, sent=self.sent_code)

    @property
    def hibernator(self) -> "Hibernator":
        """Made on first use: the hibernate controller, image format and slot code
        are a fifth of start-up when imported, and `mpsim run` never needs them."""
        if self._hibernator is None:
            from .hibernate import Hibernator
            self._hibernator = Hibernator(self.machine, self.flash, self.heap)
        return self._hibernator

    # -- life cycle ---------------------------------------------------------------
    def boot(self) -> str:
        """Power-on reset and run to the friendly prompt; returns the boot output."""
        self.console_log += b"\n[mpsim: power-on reset]\n"
        self.machine.reset()
        heap_config.apply(self.machine, self.heap)
        self.repl = self._new_repl(self.repl.timeout_s)
        self.boot_output = self.repl.wait_prompt()
        if self.heap is not None:
            from .mpy.state import MpState
            geo = MpState(self.machine, self.firmware).geometry()
            heap_config.check_applied(self.heap, geo.start, geo.end)
        return self.boot_output

    def settle(self, timeout_s: float = 10.0) -> bytes:
        """Bring the firmware to its safe point: friendly REPL, input consumed, idle
        waiting for more. Returns console output produced meanwhile (also kept in the
        REPL transcript)."""
        self.repl.exit_raw()
        out = bytearray(self.repl.drain(0))
        deadline = time.monotonic() + timeout_s
        while not self.machine.is_waiting_for_input() and time.monotonic() < deadline:
            self.machine.run(timeout_s=0.05)
            out += self.repl.drain(0)
        return bytes(out)

    def hibernate(self, run_state: bool = False) -> SaveReport:
        """Save the interpreter at its prompt; ``run_state``: save the whole live machine
        where it stands instead, a program running or not (sim.runstate)."""
        if run_state:
            from .runstate import control
            return control.save(self)
        self.settle()
        report = self.hibernator.save()
        self.store.save()
        return report

    def power_cycle(self) -> None:
        """Power off (RAM to garbage, CPU and peripherals reset). The flash keeps its
        contents; call ``resume()`` or ``boot()`` to power on again."""
        self.console_log += b"\n[mpsim: power cut]\n"
        self.machine.power_off()

    def resume(self, image=None) -> ResumeReport:
        """Power on, restore ``image`` (default: the newest usable one), continue to
        the prompt. Raises ImageError naming why when there is no usable image."""
        self.console_log += b"\n[mpsim: power on, resuming]\n"
        from .runstate import control
        running = control.newest_run_state(self, image)
        if running is not None:          # the program continues mid-run: no prompt to wait for
            report = control.resume(self, running)
            self.repl = self._new_repl(self.repl.timeout_s)
            return report
        report = self.hibernator.resume(image)
        self.repl = self._new_repl(self.repl.timeout_s)
        self.boot_output = self.repl.wait_prompt()
        return report

    def resume_or_boot(self, report=print) -> ResumeReport | None:
        """Resume the newest usable image, or boot fresh when there is none ("no
        valid image" is a normal state: a board that never hibernated, an erased
        flash, or images from other firmware). ``report`` gets one line per image
        skipped and one for the fresh boot."""
        from .runstate.control import latest_image
        image, skipped = latest_image(self)
        for line in skipped:
            report(f"skipped {line}")
        if image is None:
            report("no valid hibernate image: booting fresh")
            self.boot()
            return None
        return self.resume(image)

    def close(self) -> None:
        try:
            self.store.save_if_changed()
        finally:
            self.store.close()
            self.machine.close()   # its timer thread would keep the machine (engine, RAM) alive for good

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Commands that boot the board: hibernate, resume, power-cycle (and the helpers run, demo,
heap, snapshot, serve and repl share).

Each boots the firmware in this process; the flash image on disk is what links
one command to the next (``mpsim hibernate`` in one process, ``mpsim resume`` in
another), exactly as a real power cycle would.
"""

from __future__ import annotations

import argparse
import sys


from ..cli import command, common_args
from ..errors import BoardStopped, GuestFault, ReplError, UsageError

class _LazyConsole:
    """rich costs ~50 ms to import: made on first use, so `mpsim run` starts fast."""

    def __init__(self, **kw):
        self._kw, self._console = kw, None

    def get(self):
        if self._console is None:
            from .console import console
            self._console = console(**self._kw)
        return self._console

    def __getattr__(self, name):
        return getattr(self.get(), name)


err = _LazyConsole(stderr=True, soft_wrap=True)   # one message, one line: never wrapped at 80 columns


def board_args(p: argparse.ArgumentParser, timeout: float | None = 30.0,
               timeout_help: str = "seconds to wait for the board (default: 30)") -> None:
    common_args(p)
    p.add_argument("--flash", dest="flash_path", default=None,
                   help="flash image file (default: flash_images/<board>.bin)")
    p.add_argument("--wait-lock", action="store_true",
                   help="if another process is using the flash image, wait for it (default: exit 2 naming it)")
    p.add_argument("--deterministic", action="store_true",
                   help="derive time from executed instructions (same input, same output)")
    p.add_argument("--timeout", type=float, default=timeout, help=timeout_help)
    p.add_argument("--heap-size", type=parse_size, metavar="BYTES",
                   help="GC heap size, e.g. 256K, set through the firmware's boot parameters (default: the firmware's own static heap)")
    p.add_argument("--heap-base", type=lambda v: int(v, 0), metavar="ADDR",
                   help="GC heap address (default: the firmware's own; with --heap-size: above the stack)")
    p.add_argument("--load", action="append", default=[], metavar="FILE@ADDR",
                   help="write FILE's bytes at ADDR (RAM or flash) after the ELF, on every reset, as QEMU's "
                        "-device loader,file=FILE,addr=ADDR,force-raw=on (repeatable; default: none)")


def realtime_arg(p: argparse.ArgumentParser) -> None:
    """``--realtime`` (serve, run): virtual time locked to the wall clock."""
    p.add_argument("--realtime", action="store_true",
                   help="keep the board's time to the wall clock: sleeps take their time, busy-waits are not "
                        "fast-forwarded (default: a sleeping board's clock jumps ahead)")


def parse_size(text: str) -> int:
    from ..numbers import size           # finite, whole bytes, in the 32-bit space
    return size(text)


def code_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--exec", dest="code", action="append", default=[], metavar="CODE",
                   help="Python to run on the board (repeatable; default: none)")
    p.add_argument("script", nargs="?", help="a Python file to run on the board")


def open_board(args: argparse.Namespace, hibernatable: bool = False, writes_flash: bool = True):
    """The board the arguments describe. ``hibernatable``: refuse, before anything
    boots or any file is touched, a firmware the hibernate controller cannot read.
    ``writes_flash``: False for a command that never saves the flash (no lock taken)."""
    from ..board import load_board
    from ..device import Board
    from ..firmware import Firmware
    from ..mpy.heap_config import heap_bounds
    from ..paths import require_default_firmware
    from ..numbers import check_seconds
    check_seconds(args.timeout, "--timeout")          # nan/inf/negative: refused, never a hang
    spec = load_board(args.board)
    fw = Firmware.load(args.firmware or require_default_firmware(spec.name))
    if hibernatable:
        require_hibernatable(fw)
    heap = heap_bounds(fw, args.heap_base, args.heap_size)
    if heap is not None and not 0 <= heap[0] < heap[1] < 1 << 32:
        raise UsageError(f"heap {heap[0]:#x}..{heap[1]:#x} is outside the 32-bit address space")
    from ..machine import loads
    files = loads.read(args.load, spec)               # refused before anything boots
    board = Board(spec, fw, flash_path=args.flash_path, deterministic=args.deterministic,
                  timeout_s=args.timeout, heap=heap, wait_lock=args.wait_lock,
                  read_only=not writes_flash)
    board.machine.loads = files
    if getattr(args, "realtime", False):
        board.machine.lock_to_wall_clock()
    return board


def require_hibernatable(fw) -> None:
    """What hibernate and resume read from the ELF (sim.mpy.support): ``mp_state_ctx``, its
    DWARF layout, a MicroPython version with a profile, gc_init and a restore point."""
    from ..errors import FirmwareError
    from ..mpy.support import support
    why = support(fw).hibernate
    if why is not None:
        raise FirmwareError(f"{fw.path.name} cannot hibernate or resume: {why}")


def boot(board) -> str:
    """Boot to the prompt; a firmware that exits first is a clear failure, not a timeout."""
    try:
        banner = board.boot()
    except ReplError as e:
        status = board.machine.exit_status
        if status is None:
            raise
        if e.output:
            sys.stdout.write(e.output)
            sys.stdout.flush()
        raise ReplError(f"{board.firmware.path.name} exited (status {status}) before reaching a "
                        f"MicroPython prompt: nothing was run") from None
    if board.heap is not None and "boot parameters rejected" in banner:
        start, end = board.heap
        raise UsageError(f"the firmware refused heap {start:#x}..{end:#x} (it must lie in data RAM above .bss, "
                         f"clear of the stack) and fell back to its static heap")
    return banner


def scripts(args: argparse.Namespace) -> list[str]:
    out = list(args.code)
    if getattr(args, "script", None):
        from ..files import read_text       # a regular file (no FIFO, device), size capped
        out.append(read_text(args.script, "script"))
    for i, code in enumerate(out):
        _check_sendable(code, args.script if i == len(args.code) else f"-c #{i + 1}")
    return out


def _check_sendable(code: str, where: str) -> None:
    """The raw REPL reads Ctrl-A..Ctrl-D as commands: a literal one in the code would end
    or garble it on the board (write it as an escape, e.g. '\\x04', instead)."""
    for n, line in enumerate(code.splitlines(), 1):
        for ch in line:
            if "\x01" <= ch <= "\x04":
                key = f"Ctrl-{chr(ord(ch) + 64)}"
                raise UsageError(f"{where}: line {n} contains a raw control character {ch!r} ({key}), which the "
                                 f"REPL treats as a command: write it as an escape such as {ch!r} inside a string")


def run_code(board, code: str) -> bool:
    """Run code on the board, streaming its output; False if it raised."""
    try:
        out, exc = board.repl.exec_raw(code)
    except GuestFault as e:                 # show the firmware's crash report, then the fault
        sys.stdout.write(e.output.decode(errors="replace").replace("\r\n", "\n"))
        sys.stdout.flush()
        raise
    sys.stdout.write(out)
    sys.stdout.flush()
    if exc:
        sys.stderr.write(exc)
        return False
    return True


def run_all(board, codes: list[str]) -> bool:
    """Run each piece of code in turn; False as soon as one raised."""
    return all(run_code(board, code) for code in codes)


def resume_or_boot(board):
    """Resume the newest usable image (saying what was skipped, relocated, how long it
    took), or boot fresh when there is none. Returns the ResumeReport or None."""
    # Say so: a mistyped --flash must not look like a resume. (Asked now, not at open:
    # power-cycle saved to a file that did not exist when the board was opened.)
    if not board.store.path.exists():
        err.print(f"[yellow]no flash image at {board.store.path} (nothing was hibernated there): booting fresh[/]")
        boot(board)
        return None
    report = board.resume_or_boot(report=lambda line: err.print(f"[yellow]{line}[/]"))
    if report:
        if report.relocated:
            err.print(report.relocated)
        err.print(f"resumed image #{report.sequence} ({report.image_bytes} B, {report.used_heap_bytes} B "
                  f"of heap) in {report.host_time_s * 1000:.2f} ms")
    return report


def hibernate_with_progress(board):
    """board.hibernate() with a progress bar over the flash writes (erases and page
    programs, in emulated flash time); the bar is transient, the summary table stays."""
    from rich.progress import BarColumn, Progress, TextColumn
    flash = board.flash
    with Progress(TextColumn("writing hibernate image to flash"), BarColumn(),
                  TextColumn("{task.completed} ops, {task.fields[ms]:.0f} ms emulated"),
                  console=err.get(), transient=True) as bar:
        task = bar.add_task("flash", total=None, ms=0.0)
        busy0 = flash.busy_us

        def step(_op):
            bar.update(task, advance=1, ms=(flash.busy_us - busy0) / 1000)

        previous, flash.on_operation = flash.on_operation, step
        try:
            return board.hibernate()
        finally:
            flash.on_operation = previous


def save_table(report):
    from rich.table import Table
    t = Table(title="hibernate")
    t.add_column("what")
    t.add_column("value", justify="right")
    rows = [
        ("image size", f"{report.image_bytes} B"),
        ("used heap", f"{report.used_heap_bytes} B of {report.heap_bytes} B"),
        ("mp_state_ctx", f"{report.ctx_bytes} B"),
        ("slot / image #", f"{report.slot} / {report.sequence}"),
        ("sectors erased", str(report.sectors_erased)),
        ("flash operations", str(report.flash_ops)),
        ("emulated flash time", f"{report.flash_time_us / 1000:.1f} ms"),
        ("host time", f"{report.host_time_s * 1000:.2f} ms"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def _hibernate_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    code_args(p)
    p.add_argument("--resume", action="store_true", help="resume the saved state first, then run, then hibernate")


@command("hibernate", "boot (or --resume), run Python, then save the interpreter to flash", _hibernate_args)
def hibernate(args: argparse.Namespace) -> int:
    codes = scripts(args)
    with open_board(args, hibernatable=True) as board:
        if args.resume:
            board.resume()
        else:
            boot(board)
        if not run_all(board, codes):
            return 1
        err.print(save_table(hibernate_with_progress(board)))    # stdout stays the program's
    return 0


def _resume_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    code_args(p)
    p.add_argument("--repl", action="store_true", help="open an interactive REPL after resuming")
    p.add_argument("--from-firmware", action="append", default=[], metavar="OLD.elf",
                   help="the firmware that wrote the image, when it is not a build in this tree: an image of "
                        "another firmware is migrated to --firmware (default: look among the tree's builds)")
    p.add_argument("--state", metavar="FILE", help="load a state file (mpsim state export) into this board and "
                   "firmware instead of the newest image (default: the newest image)")


@command("resume", "power on, restore the newest valid hibernate image, run Python or open a REPL", _resume_args)
def resume(args: argparse.Namespace) -> int:
    codes = scripts(args)
    state = None
    if args.state:                      # read and checked before the flash is opened
        from ..mpy.portable import statefile
        from ..mpy.portable.carry import read_state
        state = statefile.read(args.state)
        read_state(state, args.state)
    with open_board(args, hibernatable=True) as board:
        from ..mpy.portable import GenerationError
        from ..mpy.portable.migrate import resume_migrating
        if state is not None:
            from ..mpy.portable.fromfile import resume_state
            for line in resume_state(board, state, args.state).lines():
                err.print(line)
        else:
            try:
                migrated = resume_migrating(board, args.from_firmware) if board.store.existed else None
            except GenerationError:
                migrated = None             # not migratable at all: skipped and kept like any other firmware's
            if migrated is not None:
                err.print(migrated.line())
            else:
                resume_or_boot(board)
        if not run_all(board, codes):
            return 1
        if args.repl:
            from .repl import interactive
            return interactive(board)
    return 0


def _power_cycle_args(p: argparse.ArgumentParser) -> None:
    board_args(p)
    code_args(p)
    p.add_argument("--check", metavar="EXPR", help="evaluate EXPR before and after; exit 1 if it differs (with --cut-at the old state is right too) (default: no check)")
    p.add_argument("--cut-at", type=int, metavar="N",
                   help="cut power at the N-th flash operation (0-based) of the hibernate (default: no cut)")
    p.add_argument("--torn", action="store_true", help="with --cut-at: operation N is left half done")


@command("power-cycle", "boot, run Python, hibernate, cut power, boot again and resume", _power_cycle_args)
def power_cycle(args: argparse.Namespace) -> int:
    from ..peripherals.nor_flash import PowerLoss, PowerLossMode
    if args.torn and args.cut_at is None:
        raise UsageError("--torn needs --cut-at N")
    if args.cut_at is not None and args.cut_at < 0:
        raise UsageError("--cut-at must be 0 or more")
    codes = scripts(args)
    with open_board(args, hibernatable=True) as board:
        old = None        # with a cut, the old state is a right answer too: (image #, EXPR there)
        if args.cut_at is not None and args.check:
            was = board.resume_or_boot(report=lambda _line: None)
            old = (was.sequence if was else None, _check_value(board, args.check))
        boot(board)
        if not run_all(board, codes):
            return 1
        before = _check_value(board, args.check) if args.check else None
        if args.cut_at is not None:
            board.flash.arm_power_cut(args.cut_at, PowerLossMode.TORN if args.torn else PowerLossMode.CLEAN,
                                      seed=args.cut_at)
        try:
            err.print(save_table(hibernate_with_progress(board)))
            if args.cut_at is not None:
                err.print(f"power cut point {args.cut_at} was after the last flash operation: "
                          f"the hibernate completed")
        except PowerLoss as e:
            err.print(f"[yellow]power lost during flash operation {e.index} ({e.op} at {e.address:#010x}, "
                      f"{e.mode.name.lower()})[/]")
        finally:
            board.flash.disarm_power_cut()
        board.store.save()
        board.power_cycle()
        err.print("power cycled: RAM filled with garbage, CPU and peripherals reset")
        report = resume_or_boot(board)
        if args.check:
            after = _check_value(board, args.check)
            print(f"{args.check} = {after!r}")
            if old is not None and (report.sequence if report else None) == old[0]:
                if after != old[1]:
                    err.print(f"[red]the old state came back wrong: {args.check} was {old[1]!r} in it, "
                              f"now {after!r}[/]")
                    return 1
                err.print("the old state, as committed before the cut (the new image was not)")
            elif after != before:
                err.print(f"[red]state differs: before {before!r}, after {after!r}[/]")
                return 1
    return 0


def _check_value(board, expr: str):
    """EXPR's value on the board, or the exception it raised there (as text): a name
    the old state does not have is a state too."""
    try:
        return board.repl.eval(expr)
    except ReplError as e:
        if isinstance(e, BoardStopped):
            raise
        return f"<raised {str(e).removeprefix('the board raised ')}>"

"""pytest plugin for simulated MicroPython boards (registered as ``pytest11: mpsim``).

Fixtures:
    board         a fresh board on the firmware, booted to the friendly prompt, with its
                  own flash image in the test's temp folder
    power_cycle   call it to hibernate, cut power and resume ``board``; returns the reports
    make_board    factory for more boards: ``make_board(flash_path=None, boot=True)``
    update_firmware  ``update_firmware(new_elf, target=board)``: hibernate the board, swap
                  its firmware ELF, resume (the image migrated to the new firmware); returns
                  (the new board, the MigrationReport)

Options: --mpsim-board, --mpsim-firmware (default: the built default firmware),
--mpsim-artifacts DIR (default: mpsim-artifacts). When a test using a board fails,
the board's flash image, its whole console transcript (across reboots and power
cycles, each marked), the code that was sent to it and a whole-machine snapshot are
saved under DIR/<test name>/ and the failure report names them (like Renode's CI
mode); when the board raised, its own traceback is shown with the failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpsim", "mpsim simulated MicroPython board")
    group.addoption("--mpsim-board", default=None, help="board name or TOML path (default: mps2-an385)")
    group.addoption("--mpsim-firmware", default=None, help="firmware ELF (default: the built default firmware)")
    group.addoption("--mpsim-deterministic", action="store_true",
                    help="run boards with time derived from executed instructions")
    group.addoption("--mpsim-artifacts", default="mpsim-artifacts",
                    help="where a failing test's flash image, transcript and snapshot go")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_mpsim_{report.when}_failed", report.failed)
    if report.when == "call" and report.failed:
        from .errors import ReplError
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, ReplError) and exc.output:
            report.sections.append(("mpsim: what the board printed", exc.output))
        boards = getattr(item, "_mpsim_boards", [])
        if boards:
            folder = Path(item.config.getoption("--mpsim-artifacts")) / _safe(item.nodeid)
            saved = [_save_artifacts(b, folder / f"board{i}") for i, b in enumerate(boards)]
            report.sections.append(("mpsim artifacts", "\n".join(s for s in saved if s)))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After the fixtures closed them: the test item lives to the end of the session and
    must not keep its boards (each a whole machine) alive that long."""
    item.__dict__.pop("_mpsim_boards", None)


def _safe(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)[-120:]


def _save_artifacts(board, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    try:
        board.store.export_bin(folder / "flash.bin")
        lines.append(f"flash image: {folder / 'flash.bin'}")
    except Exception as e:  # noqa: BLE001 - reporting must never hide the test's own failure
        lines.append(f"flash image not saved: {e}")
    try:
        (folder / "console.txt").write_bytes(bytes(board.console_log))
        lines.append(f"console transcript: {folder / 'console.txt'}")
        sent = "".join(f"# --- sent #{i} ---\n{code.rstrip()}\n" for i, code in enumerate(board.sent_code, 1))
        (folder / "code.txt").write_text(sent)
        lines.append(f"code sent to the board: {folder / 'code.txt'}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"transcript not saved: {e}")
    try:
        from .snapshot import save_snapshot
        save_snapshot(board.machine, folder / "machine.snap")
        lines.append(f"machine snapshot: {folder / 'machine.snap'} (mpsim snapshot load)")
    except Exception as e:  # noqa: BLE001
        lines.append(f"snapshot not saved: {e}")
    return "\n".join(lines)


@pytest.fixture
def make_board(request, tmp_path):
    """Factory for simulated boards: ``make_board(flash_path=None, boot=True, **Board kwargs)``.

    Each board gets its own flash image in the test's tmp_path (unless ``flash_path``
    says otherwise), the board/firmware/deterministic settings of the --mpsim-*
    options, and is booted to the friendly prompt unless ``boot=False``. Boards are
    closed (flash saved) after the test; a failing test's boards leave artifacts."""
    from .device import Board
    from .paths import default_firmware
    board_name = request.config.getoption("--mpsim-board") or "mps2-an385"
    firmware = request.config.getoption("--mpsim-firmware")
    if firmware is None:
        from .board import load_board
        firmware = default_firmware(load_board(board_name).name)
    made = []
    request.node._mpsim_boards = made

    def factory(flash_path=None, boot: bool = True, **kw):
        kw.setdefault("deterministic", request.config.getoption("--mpsim-deterministic"))
        fw = kw.pop("firmware", firmware)
        if not Path(fw).exists():
            pytest.skip(f"firmware not built ({fw}); run: bash tools/setup")
        b = Board(board_name, fw, flash_path=flash_path or tmp_path / f"flash{len(made)}.bin", **kw)
        made.append(b)
        if boot:
            b.boot()
        return b

    yield factory
    for b in made:
        b.close()


@pytest.fixture
def board(make_board):
    """A simulated board booted to the friendly prompt, with its own flash image in
    tmp_path: ``board.repl.exec(...)``, ``board.repl.eval(...)``, ``board.hibernate()``."""
    return make_board()


@pytest.fixture
def power_cycle(board):
    """``power_cycle(target=board)``: hibernate, cut power, resume; returns the
    (SaveReport, ResumeReport) pair. The state after it is what a real board would
    have after losing power at the prompt."""
    def cycle(target=None):
        b = target or board
        saved = b.hibernate()
        b.power_cycle()
        return saved, b.resume()
    return cycle


@pytest.fixture
def power_fail(board):
    """``power_fail(code, at_ms=..., holdup_us=None, target=board)``: run ``code`` on the
    board, fail the power ``at_ms`` of emulated time after it starts (a run-state
    hibernate within the hold-up budget, sim.runstate), power on into it and let it
    finish. Returns (everything the program printed, the PowerFailReport)."""
    from .runstate.sweep import run_with_power_fail

    def fail(code: str, at_ms: float, holdup_us: int | None = None, target=None):
        return run_with_power_fail(target or board, code, int(at_ms * 1000), holdup_us)
    return fail


@pytest.fixture
def update_firmware(request, make_board):
    """A firmware update of a running board: hibernate it, power it off, boot the new ELF
    on the same flash and resume the state migrated to it (sim.mpy.portable). Returns
    (new board, MigrationReport); the new board is at its prompt."""
    def update(new_firmware, target=None):
        from .errors import SimError
        from .mpy.portable.migrate import resume_migrating
        old = target or request.getfixturevalue("board")
        old.hibernate()
        old.power_cycle()
        old.close()                          # saves the flash and lets go of its lock
        boards = request.node._mpsim_boards
        if old in boards:
            boards.remove(old)               # closed: not again at teardown (it would save a stale flash)
        new = make_board(flash_path=old.store.path, boot=False, firmware=new_firmware)
        report = resume_migrating(new, [old.firmware.path])
        if report is None:
            raise SimError(f"nothing to migrate: {new_firmware} is the firmware that wrote the image")
        return new, report
    return update

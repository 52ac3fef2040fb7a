"""What a newcomer meets first: reports where they belong, tables uncut in a CI log,
honest words about torn slots, cut points and files, help that states defaults.
Real ``mpsim`` processes on the real firmware, output captured through pipes (as CI does).
"""

from __future__ import annotations

import argparse
import re

from tests.cli.helpers import REPO, env, mpsim, needs_console_script  # noqa: F401

pytestmark = needs_console_script


def test_hibernate_report_goes_to_stderr(mpsim, firmware_path):
    r = mpsim("hibernate", "-c", "print('program output')")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "program output\n"
    assert "image size" in r.stderr


def test_tables_are_not_cut_and_not_coloured_in_a_pipe(mpsim, firmware_path):
    r = mpsim("hibernate", "-c", "x = 1")
    assert r.returncode == 0, r.stderr
    r = mpsim("flash", "info")
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout and "\x1b[" not in r.stdout, r.stdout
    assert re.search(r"0x[0-9a-f]{8}\.\.0x[0-9a-f]{8}", r.stdout), r.stdout     # the heap range, whole


def test_flash_info_calls_a_cut_hibernate_torn(mpsim, firmware_path):
    assert mpsim("hibernate", "-c", "n = 1").returncode == 0
    r = mpsim("power-cycle", "-c", "n = 2", "--cut-at", "5")
    assert r.returncode == 0, r.stderr
    r = mpsim("flash", "info")
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.count("│") > 3}
    assert "valid" in rows["0"]
    assert "torn" in rows["1"] and "empty" not in rows["1"], r.stdout


def test_power_cycle_without_cut_at_says_nothing_of_a_cut_point(mpsim, firmware_path):
    r = mpsim("power-cycle", "-c", "n = 41", "--check", "n + 1")
    assert r.returncode == 0, r.stderr
    assert "cut point" not in r.stderr and "n + 1 = 42" in r.stdout


def test_power_cycle_cut_before_commit_is_judged_old_state(mpsim, firmware_path):
    """A cut before the commit brings back the previous image: right, if EXPR there is
    what it was when that image was saved (before: 'state differs', exit 1)."""
    assert mpsim("hibernate", "-c", "n = 1").returncode == 0
    r = mpsim("power-cycle", "-c", "n = 2", "--check", "n", "--cut-at", "0")
    assert r.returncode == 0, r.stderr
    assert "n = 1" in r.stdout and "the old state" in r.stderr
    r = mpsim("power-cycle", "-c", "n = 3", "--check", "n", "--cut-at", "100000")    # after the last op: new
    assert r.returncode == 0 and "n = 3" in r.stdout, r.stderr


def test_power_cycle_cut_with_no_earlier_image_is_a_fresh_boot(mpsim, firmware_path):
    r = mpsim("power-cycle", "-c", "n = 2", "--check", "n", "--cut-at", "0")
    assert r.returncode == 0, r.stderr
    assert "NameError" in r.stdout and "the old state" in r.stderr


def test_snapshot_load_names_only_files_that_exist(mpsim, tmp_path, firmware_path):
    snap = tmp_path / "s.snap"
    assert mpsim("hibernate", "--flash", tmp_path / "a.bin", "-c", "y = 1").returncode == 0   # flash with data
    assert mpsim("snapshot", "save", snap, "--flash", tmp_path / "a.bin", "-c", "x = 5").returncode == 0
    r = mpsim("snapshot", "load", snap, "--flash", tmp_path / "never-written.bin", "-c", "print(x)")
    assert r.returncode == 0 and r.stdout.endswith("5\n"), r.stderr
    assert "never-written.bin" not in r.stderr and "no flash image file" in r.stderr, r.stderr


def test_snapshot_load_refuses_options_it_would_ignore(mpsim, tmp_path, firmware_path):
    snap = tmp_path / "s.snap"
    assert mpsim("snapshot", "save", snap).returncode == 0
    r = mpsim("snapshot", "load", snap, "--heap-size", "256K")
    assert r.returncode == 2 and r.stderr.startswith("mpsim: snapshot load: --heap-size"), r.stderr


def test_resume_says_when_the_flash_file_does_not_exist(mpsim, tmp_path, firmware_path):
    r = mpsim("resume", "--flash", tmp_path / "nothing.bin", "-c", "print(1)")
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    assert "no flash image at" in r.stderr and "nothing.bin" in r.stderr


def _options():
    from sim import cli, commands
    commands.load(None)

    def walk(p, path):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in a._choices_actions}
                for name, sp in a.choices.items():
                    yield path + [name], None, helps.get(name)
                    yield from walk(sp, path + [name])
            elif not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
                yield path, a, a.help
    return list(walk(cli.build_parser(None), ["mpsim"]))


def test_every_command_and_option_has_help_stating_its_default():
    missing = []
    for path, action, help_ in _options():
        where = " ".join(path) + ("" if action is None else " " + "/".join(action.option_strings or [action.dest]))
        if not help_:
            missing.append(f"{where}: no help")
        elif action is not None and action.option_strings and action.nargs != 0 and "default" not in help_:
            missing.append(f"{where}: no default stated: {help_!r}")
    assert not missing, "\n".join(missing)


def test_readme_lists_every_environment_variable():
    used = set()
    for path in (REPO / "sim").rglob("*.py"):
        used |= set(re.findall(r"MPSIM_[A-Z_]+", path.read_text()))
    readme = (REPO / "README.md").read_text()
    assert used and not {v for v in used if f"`{v}`" not in readme}, sorted(v for v in used if f"`{v}`" not in readme)


def test_heap_picture_legend_covers_every_colour_and_has_a_caption(board):
    from sim.mpy.picture import FREE_GLYPH, PALETTE, legend, svg, terminal_map
    from sim.mpy.walk import walk_memory
    board.repl.exec("s = [str(i) * 9 for i in range(40)]\nd = {i: i / 2 for i in range(20)}")
    board.settle()
    walk = walk_memory(board.machine, board.firmware)
    named = {kind for name, _ in legend() for kind in name.split("/")}
    assert set(PALETTE) <= named and "other" in named, "a colour the legend does not name"
    text = terminal_map(walk).plain
    assert f"{FREE_GLYPH} free" in text, "the legend's free glyph is the map's"
    picture = svg(walk)
    assert all(colours[1] in picture for _, colours in legend())
    assert f"{walk.pool_start:#010x}..{walk.pool_end:#010x}" in picture and "16 B block" in picture
    assert f"{walk.live_bytes()} B live" in picture

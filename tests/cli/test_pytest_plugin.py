"""The pytest plugin as a user meets it: a failing test's artifacts and report, and
fixtures that explain themselves in ``pytest --fixtures``. Runs a real inner pytest
(a subprocess) on the real firmware."""

from __future__ import annotations

import subprocess
import sys

FAILING = '''
def test_counter(board, power_cycle):
    board.repl.exec("count = 41\\nprint('before the cut')")
    power_cycle()
    board.repl.exec("print('after the cut')\\ndef f(n):\\n    return n // 0\\nf(count)")
'''


def _pytest(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args],
                          cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_failure_keeps_console_across_power_cycle_code_sent_and_device_traceback(tmp_path, firmware_path):
    (tmp_path / "test_inner.py").write_text(FAILING)
    r = _pytest(tmp_path, "test_inner.py", "--mpsim-artifacts", str(tmp_path / "art"),
                "--mpsim-firmware", str(firmware_path))
    assert r.returncode == 1, r.stdout + r.stderr
    # the device's own traceback with the failure, not only "the board raised ZeroDivisionError"
    assert "what the board printed" in r.stdout and 'in f' in r.stdout and "ZeroDivisionError" in r.stdout, r.stdout
    folder = next((tmp_path / "art").glob("*test_counter*")) / "board0"
    console = (folder / "console.txt").read_text(errors="replace")
    assert "before the cut" in console and "[mpsim: power cut]" in console and "after the cut" in console
    assert console.index("before the cut") < console.index("[mpsim: power cut]") < console.index("after the cut")
    code = (folder / "code.txt").read_text()
    assert "count = 41" in code and "return n // 0" in code
    assert (folder / "flash.bin").is_file() and (folder / "machine.snap").is_file()


def test_fixtures_have_docstrings(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    r = _pytest(tmp_path, "--fixtures", "test_x.py")
    for name in ("board", "make_board", "power_cycle"):
        head = f"{name} -- "
        at = r.stdout.find(head)
        assert at >= 0, r.stdout
        doc = r.stdout[at:].splitlines()[1]
        assert doc.strip() and "no docstring" not in doc, f"{name}: {doc!r}"

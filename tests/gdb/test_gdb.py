"""gdb-multiarch (batch mode) against ``mpsim serve --gdb`` on the real firmware,
with the console used at the same time over TCP.

Serial input is typed from inside the GDB script (``shell serial_send.py``) so it
arrives at a known point: while GDB holds the board the bridge keeps it, and it
reaches the firmware when GDB continues."""

from __future__ import annotations

import re

from .conftest import pc_values, run_gdb, start_with_gdb


def test_break_after_typing_read_state_step_and_detach(gdb_served):
    s = gdb_served
    out = s.gdb("break mp_execute_bytecode", s.send_cmd("6 * 7\\r"), "continue",
                "p mp_state_ctx.vm.dict_main.map.used", "x/2wx &mp_state_ctx",
                "p/x $pc", "stepi", "p/x $pc", "next", "p/x $pc", "delete", "detach")
    assert re.search(r"Breakpoint 1, (0x[0-9a-f]+ in )?mp_execute_bytecode", out), out
    assert re.search(r"^\$1 = \d+$", out, re.M), out                  # read through DWARF from RAM
    assert re.search(r"<mp_state_ctx>:\s+0x[0-9a-f]{8}\s+0x[0-9a-f]{8}", out), out
    pcs = pc_values(out)
    assert len(pcs) == 3 and pcs[0] < pcs[1] < pcs[0] + 8 and pcs[2] != pcs[1], out   # stepi: one instruction
    assert "[Inferior 1 (Remote target) detached]" in out, out
    assert "42" in s.repl("print(6 * 7)")                               # the board runs on after detach
    assert "Traceback" not in out


def test_watch_a_static_reports_the_write(gdb_served):
    s = gdb_served
    out = s.gdb("watch mp_state_ctx.vm.dict_main.map.used", s.send_cmd("newvar = 5\\r"), "continue",
                "delete", "detach")
    m = re.search(r"Hardware watchpoint 1: mp_state_ctx.vm.dict_main.map.used\s+Old value = (\d+)\s+"
                  r"New value = (\d+)", out)
    assert m and m.group(1) != m.group(2), out
    assert re.search(r"in mp_map_\w+|mp_map_\w+ \(", out), out            # stopped where the map changes
    assert "5" in s.repl("print(newvar)")


def test_monitor_power_cycle_then_continue_keeps_the_repl_state(gdb_served):
    s = gdb_served
    out = s.gdb("break mp_execute_bytecode", s.send_cmd("keep = 42\\r"), "continue", "delete",
                "monitor power-cycle",
                "break mp_execute_bytecode", s.send_cmd("keep += 1\\r"), "continue", "delete", "detach")
    assert out.count("Breakpoint") >= 2 and "mp_execute_bytecode" in out, out
    assert re.search(r"ok hibernated image #\d+, power cut, resumed image #\d+", out), out
    assert "43" in s.repl("print(keep)")                  # survived the power cycle, then ran on


def test_ctrl_c_from_gdb_interrupts_a_busy_loop(gdb_served):
    s = gdb_served
    # A background shell sends GDB the SIGINT a user's Ctrl-C would, once it waits in
    # 'continue'; GDB turns it into a 0x03 on the wire.
    out = s.gdb(s.send_cmd("while True: pass\\r\\r"), "shell (sleep 2; kill -INT $PPID) &", "continue",
                "p/x $pc", "detach")
    assert "received signal SIGINT" in out, out
    assert pc_values(out), out
    assert "Traceback" not in out
    assert "after" in s.repl("print('after')")           # repl() sends Ctrl-C first: the loop ends


def test_memory_map_lists_ram_and_flash_with_its_sector_size(gdb_served):
    out = gdb_served.gdb("info mem", "detach")
    assert re.search(r"0x20000000 0x20400000 rw", out), out
    assert re.search(r"0x60000000 0x60800000 flash blocksize 0x1000", out), out


def test_repl_gdb_wait_holds_the_board_at_reset_until_gdb_continues(tmp_path):
    """``mpsim repl --gdb 0 --gdb-wait``: nothing runs before GDB says so; GDB sees the
    reset vector's PC, breaks at main, detaches, and the REPL then answers."""
    p, port = start_with_gdb(tmp_path, "repl", "--gdb-wait")
    try:
        out = run_gdb(port, "p/x $pc", "p/x (*(unsigned *)4) & ~1", "break main", "continue", "delete", "detach")
        pcs = pc_values(out)
        assert len(pcs) == 2 and pcs[0] == pcs[1], out            # held at the reset vector
        assert re.search(r"Breakpoint 1, main \(", out), out
        stdout, _ = p.communicate(b"print(7 * 6)\n", timeout=60)
        assert b"42" in stdout
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_a_script_under_gdb(tmp_path):
    """``mpsim run --gdb 0 --gdb-wait script.py``: break in the interpreter while the
    script runs, see the script's frames, continue to the end: GDB hears the exit."""
    script = tmp_path / "s.py"
    script.write_text("def f(n):\n    return sum(range(n))\nprint(f(10))\n")
    p, port = start_with_gdb(tmp_path, "run", str(script), "--gdb-wait")
    try:
        out = run_gdb(port, "break mp_execute_bytecode", "continue", "bt", "delete", "continue")
        assert "Breakpoint 1, mp_execute_bytecode" in out and "parse_compile_execute" in out, out
        assert "exited normally" in out, out
        stdout, _ = p.communicate(timeout=60)
        assert stdout.strip() == b"45" and p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_guest_fault_is_reported_to_gdb_and_monitor_reset_recovers(gdb_served):
    s = gdb_served
    out = s.gdb("set $pc = 0x40000000", "continue", "bt", "monitor reset", "detach")   # execute-never
    assert "received signal SIGSEGV" in out and "<signal handler called>" in out, out
    assert "ok reset" in out, out
    assert "42" in s.repl("print(6 * 7)")


def test_hardware_breakpoint_read_and_access_watchpoints(gdb_served):
    s = gdb_served
    out = s.gdb("hbreak mp_execute_bytecode", s.send_cmd("1\\r"), "continue", "delete",
                "rwatch mp_state_ctx.vm.dict_main.map.used", s.send_cmd("name2 = 2\\r"), "continue", "delete",
                "awatch mp_state_ctx.vm.dict_main.map.used", s.send_cmd("name3 = 3\\r"), "continue", "delete",
                "detach")
    assert re.search(r"Breakpoint 1, (0x[0-9a-f]+ in )?mp_execute_bytecode", out), out
    assert re.search(r"Hardware read watchpoint 2: mp_state_ctx.vm.dict_main.map.used\s+Value = \d+", out), out
    assert re.search(r"Hardware access \(read/write\) watchpoint 3: mp_state_ctx.vm.dict_main.map.used\s+"
                     r"(Value|Old value) = \d+", out), out
    assert "3" in s.repl("print(name2 + 1)")


def test_monitor_hibernate_and_resume_restore_the_saved_state(gdb_served):
    s = gdb_served
    out = s.gdb(s.send_cmd("h = 5\\r"), "monitor hibernate",           # the typed line runs first (settle)
                s.send_cmd("h = 6\\r"), "shell (sleep 1; kill -INT $PPID) &", "continue",   # runs h = 6
                "monitor resume", "detach")
    assert re.search(r"ok hibernated image #1 ", out) and re.search(r"ok resumed image #1 ", out), out
    assert "5" in s.repl("print(h)")                                   # the state as hibernated


def test_monitor_hibernate_saves_the_run_state_while_a_program_runs(gdb_served):
    """The serve controller's rule: at the prompt a prompt-time image, while a program
    runs its run state (sim.runstate)."""
    s = gdb_served
    out = s.gdb(s.send_cmd("while True: pass\\r\\r"), "shell (sleep 1; kill -INT $PPID) &", "continue",
                "monitor hibernate run-state", "detach")
    assert "ok hibernated run-state image #1" in out, out
    assert "ok" in s.repl("print('ok')")                               # Ctrl-C, and the REPL is back

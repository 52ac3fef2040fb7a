"""The patched libunicorn and the stock wheel run the same guest identically.

The guest (tests/engine/guest/guest.c) is a CPU-bound Cortex-M3 program: SRAM
loads/stores, direct and indirect calls, a switch-dispatched loop.  Each run
happens in a child process (the binding loads one library per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_guest as guest  # noqa: E402

REPO = guest.REPO
PATCHED_LIB = REPO / "build" / "unicorn" / "lib" / "libunicorn.so.2"
ITERATIONS = 300

pytestmark = pytest.mark.skipif(guest.toolchain_missing() is not None,
                                reason=guest.toolchain_missing() or "")

needs_patched = pytest.mark.skipif(
    not PATCHED_LIB.is_file(),
    reason="patched libunicorn not built (tools/build-unicorn); only the stock wheel is tested")


@pytest.fixture(scope="module")
def elf() -> Path:
    return guest.build(ITERATIONS)


@pytest.fixture(scope="module")
def stock_plain(elf) -> dict:
    return guest.run_unicorn(elf, "stock", "plain")


def _same(a: dict, b: dict) -> None:
    for key in ("output", "exit", "regs", "result_words", "sram_sha256"):
        assert a[key] == b[key], f"{key} differs: {a[key]!r} != {b[key]!r}"


def test_stock_runs_guest(stock_plain):
    assert stock_plain["engine"] == "stock"
    assert stock_plain["exit"] == "exit 0x20026"
    assert stock_plain["output"].startswith("result ")
    assert stock_plain["result_words"].endswith("dec00d60")  # 0x600dc0de little-endian


def test_stock_tlb_trick_same_result(elf, stock_plain):
    _same(stock_plain, guest.run_unicorn(elf, "stock", "tlb"))


@needs_patched
@pytest.mark.parametrize("mode", ["plain", "tlb"])
def test_patched_same_result(elf, stock_plain, mode):
    r = guest.run_unicorn(elf, "patched", mode)
    assert r["engine"] == "patched"
    _same(stock_plain, r)


@pytest.mark.skipif(not guest.shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_qemu_agrees(elf, stock_plain):
    q = guest.run_qemu(elf)
    assert q["returncode"] == 0
    assert q["output"].strip() == stock_plain["output"].strip()


@needs_patched
def test_icount_counts_the_same_in_slices(elf, stock_plain):
    """UC_CTL_INSN_COUNT gives the same count in one run and in limit-bounded
    slices (as a deterministic-time machine runs), and the same results."""
    whole = guest.run_unicorn(elf, "patched", "icount")
    if whole.get("icount") is None:
        pytest.skip("patched library has no instruction counter")
    sliced = guest.run_unicorn(elf, "patched", "icount-slices")
    _same(stock_plain, whole)
    _same(stock_plain, sliced)
    assert whole["icount"] > ITERATIONS * 1000
    assert sliced["icount"] == whole["icount"]
    # each slice stops at most one block (<= 512 instructions) past its limit
    n = whole["icount"]
    assert n // (guest.SLICE + 512) <= sliced["slices"] <= -(-n // guest.SLICE)


def _engine_in_child(env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LIBUNICORN_PATH", "MPSIM_ENGINE")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO)
    code = "from sim import engine; print(engine.kind, engine.features.has_icount)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO)


def test_engine_stock_is_silent():
    p = _engine_in_child({"MPSIM_ENGINE": "stock"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["stock", "False"]
    assert p.stderr == ""


def test_engine_auto():
    p = _engine_in_child({})
    assert p.returncode == 0, p.stderr
    if PATCHED_LIB.is_file():
        assert p.stdout.split()[0] == "patched"
        assert p.stderr == ""
    else:
        assert p.stdout.split()[0] == "stock"
        assert len(p.stderr.strip().splitlines()) == 1
        assert "warning" in p.stderr


def test_engine_falls_back_to_stock_with_one_warning(tmp_path):
    """No patched library (here: a repository root without build/): the stock
    wheel, and exactly one warning line."""
    code = "from sim import engine; print(engine.kind, engine.features.has_icount)"
    env = {k: v for k, v in os.environ.items() if k not in ("LIBUNICORN_PATH", "MPSIM_ENGINE")}
    env["PYTHONPATH"] = str(REPO)
    env["MPSIM_UNICORN_BUILD"] = str(tmp_path / "no-build")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["stock", "False"]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "tools/build-unicorn" in lines[0]
    code = code.replace("from sim import", "import os; os.environ['MPSIM_ENGINE'] = 'patched'; from sim import")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "not built" in p.stderr


def test_engine_rejects_bad_choice():
    p = _engine_in_child({"MPSIM_ENGINE": "fast"})
    assert p.returncode != 0
    assert "MPSIM_ENGINE" in p.stderr


@needs_patched
@pytest.mark.parametrize("name,hook", [
    (n, h) for n in ("load_fault", "store_fault") for h in ("none", "refuse", "map_stop")
] + [("exc_return", "none"), ("exc_return", "intr"), ("smc", "none"), ("smc", "refuse"),
       ("indirect", "none")])
def test_snippet_semantics_match_stock(name, hook):
    """An invalid load/store stops at the faulting instruction on both libraries,
    with or without an invalid-memory hook, and a hook that maps the page and
    stops resumes to the same end state (the patched library no longer checks
    for exits after every access, so the helpers must exit by themselves).
    A function return and a BX to EXC_RETURN behave the same (the patched
    library chains function returns instead of leaving to the main loop), and
    so do indirect branches out of an IT block and to an even address (INVSTATE:
    the patched library finds the next block with the flags of the current one,
    which must not apply once the branch leaves Thumb state)."""
    stock = guest.run_snippet(name, "stock", hook)
    patched = guest.run_snippet(name, "patched", hook)
    assert patched["engine"] == "patched"
    stock.pop("engine"), patched.pop("engine")
    stock.pop("icount")
    icount = patched.pop("icount")
    assert patched == stock
    if icount is not None:
        # instructions executed: a faulting access is not counted (it runs again
        # after the hook maps the page); the emu_start end address is not counted
        assert icount == SNIPPET_ICOUNT[name, hook]


SNIPPET_ICOUNT = {
    ("load_fault", "none"): 3, ("load_fault", "refuse"): 3, ("load_fault", "map_stop"): 6,
    ("store_fault", "none"): 3, ("store_fault", "refuse"): 3, ("store_fault", "map_stop"): 6,
    ("exc_return", "none"): 7, ("exc_return", "intr"): 8,
    ("smc", "none"): 24, ("smc", "refuse"): 24,  # its last block ends just before `until`
    ("indirect", "none"): 29,  # 28 executed + 1 for the block that raises INVSTATE
}


@needs_patched
def test_mmio_stop_takes_effect_at_block_end():
    """uc_emu_stop() from an MMIO callback: on the patched library the rest of the
    block runs and every access happens exactly once (QEMU's semantics). Stock
    Unicorn restarts the accessing instruction on the next emu_start, so the
    access repeats (forever in this loop) -- sim.machine works around that with
    its access replay, which the patched library does not need."""
    r = guest.run_snippet("mmio_stop", "patched", "none")
    assert r["events"] == [["read", 0]] * 3
    assert r["r1"] == 3 and r["pc"] == guest.SNIPPETS["mmio_stop"][1]
    if r["icount"] is not None:
        assert r["icount"] == 14
    stock = guest.run_snippet("mmio_stop", "stock", "none")
    assert len(stock["events"]) > 3 and stock["r1"] == 0, "stock Unicorn changed: revisit sim.machine's replay"


@pytest.mark.parametrize("engine", ["stock", pytest.param("patched", marks=needs_patched)])
def test_cortex_m3_model_without_mclass(engine):
    """UC_MODE_THUMB + ctl_set_cpu_model(CORTEX_M3) gives a real Cortex-M3 on both
    libraries: the ARMv8-M 'tt' instruction is undefined."""
    r = guest.run_snippet("v8m_tt", engine, "none")
    assert r["errors"] == [10]  # UC_ERR_INSN_INVALID


@needs_patched
def test_mclass_keeps_the_chosen_model():
    """With UC_MODE_MCLASS stock Unicorn always builds a Cortex-M33 ('tt' runs);
    patch 0006 keeps the Cortex-M3 asked for."""
    assert guest.run_snippet("v8m_tt", "patched", "none", mclass=True)["errors"] == [10]
    assert guest.run_snippet("v8m_tt", "stock", "none", mclass=True)["errors"] == [], \
        "stock Unicorn now honours the model with MCLASS: patch 0006 can go"


@needs_patched
def test_host_entered_handler_mode_is_seen_by_the_translator():
    """Writing IPSR (via XPSR) from the host puts a Cortex-M3 in Handler mode for
    the code translated next, so BX to EXC_RETURN raises exception 8 (patch 0007
    recomputes the cached TB flags). Stock Unicorn keeps Thread-mode flags and
    branches to 0xFFFFFFF8, which faults here."""
    r = guest.run_snippet("exc_return", "patched", "handler")
    assert r["events"] == [[8, 0xFFFFFFF8]] and r["errors"] == [] and r["r1"] == 12
    stock = guest.run_snippet("exc_return", "stock", "handler")
    assert stock["events"] == [] and stock["errors"], "stock Unicorn changed: patch 0007 may go"


@needs_patched
def test_stop_after_a_hook_wrote_pc_resumes_at_the_right_pc():
    """An interrupt hook writes PC (semihosting step-over), later an MMIO callback
    stops: the stop lands at the start of a chained block, whose PC must be
    restored (patch 0008), so the loop resumes where it was and each MMIO read
    happens once."""
    r = guest.run_snippet("pc_write_then_stop", "patched", "intr")
    assert [e[2] for e in r["events"]] == [1, 2, 3, 4, 5]
    assert r["errors"] == ["stopped at 0x8", "stopped at 0x8"] and r["r1"] == 5
    if r["icount"] is not None:
        assert r["icount"] == 28

"""Build and run the CPU-bound guest program (guest/guest.c) on Unicorn or QEMU.

Shared by tests/engine/ and tools/bench_engine.py.  A Unicorn run happens in a
child process (``python tests/engine/engine_guest.py --engine ... --mode ...``)
because the binding loads its C library once per process; the child prints
one JSON line with the result, the final registers and the time spent in
``emu_start``.

Modes (how Unicorn is set up, as sim/machine.py may do it):
  plain   stock settings: 1 KiB pages, the default (physical) TLB
  tlb     4 KiB pages + UC_TLB_VIRTUAL + a TLB-fill hook that grants execute
          only to the pages holding code (the stock-wheel speed trick)
  icount  plain + the patched library's instruction counter (UC_CTL_INSN_COUNT)
  icount-slices  icount, run in slices of SLICE instructions (UC_CTL_INSN_LIMIT),
          as a deterministic-time machine does
  count-slices   slices with emu_start(count=SLICE): the stock way (a hook per
          instruction)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GUEST_DIR = HERE / "guest"
CACHE = REPO / "build" / "engine-guest"
SLICE = 25_000
CFLAGS = ["-mcpu=cortex-m3", "-mthumb", "-nostdlib", "-ffreestanding", "-O2", "-g"]


def toolchain_missing() -> str | None:
    if shutil.which("arm-none-eabi-gcc") is None:
        return "arm-none-eabi-gcc not installed"
    return None


def build(iterations: int) -> Path:
    """Compile the guest for ``iterations`` loops; cached by source hash."""
    src, ld = GUEST_DIR / "guest.c", GUEST_DIR / "guest.ld"
    h = hashlib.sha256(src.read_bytes() + ld.read_bytes() + " ".join(CFLAGS).encode())
    elf = CACHE / f"guest-{iterations}-{h.hexdigest()[:12]}.elf"
    if not elf.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = elf.with_suffix(f".{os.getpid()}.tmp")     # parallel test workers may build it at once
        subprocess.run(["arm-none-eabi-gcc", *CFLAGS, f"-DITERATIONS={iterations}",
                        "-T", str(ld), str(src), "-o", str(tmp), "-lgcc"], check=True)
        tmp.replace(elf)
    return elf


def run_qemu(elf: Path, timeout: float = 120, extra: tuple[str, ...] = ()) -> dict:
    """Run on QEMU's mps2-an385; returns output text and wall time."""
    t0 = time.perf_counter()
    p = subprocess.run(["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-semihosting",
                        *extra, "-kernel", str(elf)],
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    text = (p.stdout + p.stderr).decode(errors="replace")
    return {"output": text, "returncode": p.returncode, "time": dt}


def _child_env(engine: str) -> dict:
    env = dict(os.environ)
    env.pop("LIBUNICORN_PATH", None)
    if engine in ("stock", "patched"):
        env["MPSIM_ENGINE"] = engine
    else:
        env["LIBUNICORN_PATH"] = engine
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_unicorn(elf: Path, engine: str, mode: str = "plain", timeout: float = 300) -> dict:
    """Run in a child process on ``engine``: "stock", "patched" or a directory
    holding a libunicorn.so.2 (loaded through LIBUNICORN_PATH, e.g. a dev build)."""
    p = subprocess.run([sys.executable, str(Path(__file__)), "--engine", engine, "--mode", mode,
                        str(elf)], capture_output=True, text=True, env=_child_env(engine),
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"guest run failed ({engine}/{mode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- child side

def _child(elf_path: str, mode: str) -> dict:
    from sim import engine  # chooses the library before unicorn is imported

    import unicorn as u
    from unicorn import arm_const as a
    from elftools.elf.elffile import ELFFile

    # UC_MODE_THUMB without UC_MODE_MCLASS: with MCLASS, stock Unicorn 2.1.4 always
    # builds a Cortex-M33 whatever ctl_set_cpu_model says (patch 0006 fixes that)
    uc = u.Uc(u.UC_ARCH_ARM, u.UC_MODE_THUMB)
    uc.ctl_set_cpu_model(a.UC_CPU_ARM_CORTEX_M3)
    if mode.startswith("icount"):
        engine.icount_enable(uc)
    segments, code_pages = [], set()
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                continue
            segments.append((seg["p_paddr"], seg.data()))
            if seg["p_flags"] & 1:  # PF_X
                start, end = seg["p_vaddr"], seg["p_vaddr"] + seg["p_memsz"]
                code_pages.update(range(start >> 12, (end + 0xFFF) >> 12))
        symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}

    # emu_start's end address: mapped, never executed.  Unicorn fetches from it
    # when a hook stops the run, so in tlb mode its page must be executable.
    UNTIL = 0x003FFFF0
    code_pages.add(UNTIL >> 12)
    if mode == "tlb":
        uc.ctl_set_page_size(4096)
        uc.ctl_set_tlb_mode(u.UC_TLB_VIRTUAL)
        rw, rwx = u.UC_PROT_READ | u.UC_PROT_WRITE, u.UC_PROT_ALL

        def fill(uc_, vaddr, access, entry, data):
            entry.paddr = vaddr & ~0xFFF
            entry.perms = rwx if (vaddr >> 12) in code_pages else rw
            return True

        uc.hook_add(u.UC_HOOK_TLB_FILL, fill)

    uc.mem_map(0x00000000, 4 << 20)   # code RAM
    uc.mem_map(0x20000000, 4 << 20)   # SRAM
    for addr, data in segments:
        uc.mem_write(addr, data)

    out: list[str] = []
    state = {"exit": None}

    def read_cstr(addr: int) -> str:
        b = bytearray()
        while len(b) < 4096:
            c = uc.mem_read(addr + len(b), 1)[0]
            if c == 0:
                break
            b.append(c)
        return b.decode(errors="replace")

    def intr(uc_, intno, data):
        pc = uc_.reg_read(a.UC_ARM_REG_PC)
        if intno != 7:
            state["exit"] = f"exception {intno} at {pc:#x}"
            uc_.emu_stop()
            return
        op, arg = uc_.reg_read(a.UC_ARM_REG_R0), uc_.reg_read(a.UC_ARM_REG_R1)
        if op == 0x04:
            out.append(read_cstr(arg))
        elif op in (0x18, 0x20):
            state["exit"] = f"exit {arg:#x}"
            uc_.emu_stop()
            return
        uc_.reg_write(a.UC_ARM_REG_PC, (pc + 2) | 1)

    uc.hook_add(u.UC_HOOK_INTR, intr)

    sp, reset = __import__("struct").unpack("<II", bytes(uc.mem_read(0, 8)))
    uc.reg_write(a.UC_ARM_REG_SP, sp)
    hooked = [0]
    if mode == "hook-count":  # reference count: a Python hook per instruction (slow)
        def on_code(uc_, address, size, data):
            hooked[0] += 1
        uc.hook_add(u.UC_HOOK_CODE, on_code)
    slices = 0
    t0 = time.perf_counter()
    if mode.endswith("slices"):
        pc = reset | 1
        while state["exit"] is None and slices < 1_000_000:
            if mode == "icount-slices":
                engine.set_icount_limit(uc, engine.read_icount(uc) + SLICE)
                uc.emu_start(pc, UNTIL)
            else:
                uc.emu_start(pc, UNTIL, count=SLICE)
            pc = uc.reg_read(a.UC_ARM_REG_PC) | 1
            slices += 1
    else:
        uc.emu_start(reset | 1, UNTIL)
    dt = time.perf_counter() - t0

    regs = {f"r{i}": uc.reg_read(getattr(a, f"UC_ARM_REG_R{i}")) for i in range(13)}
    regs.update(sp=uc.reg_read(a.UC_ARM_REG_SP), lr=uc.reg_read(a.UC_ARM_REG_LR),
                pc=uc.reg_read(a.UC_ARM_REG_PC), xpsr=uc.reg_read(a.UC_ARM_REG_XPSR))
    words = bytes(uc.mem_read(symbols["result_words"], 16))
    sram = bytes(uc.mem_read(0x20000000, 64 * 1024))
    result = {
        "engine": engine.kind, "mode": mode, "time": dt, "output": "".join(out),
        "exit": state["exit"], "regs": regs, "result_words": words.hex(),
        "sram_sha256": hashlib.sha256(sram).hexdigest(),
    }
    if mode.startswith("icount"):
        result["icount"] = engine.read_icount(uc)
    if slices:
        result["slices"] = slices
    if mode == "hook-count":
        result["icount"] = hooked[0]
    return result


# Thumb snippets (assembled with arm-none-eabi-as), each with the address of its
# final 'b .':
#   store_fault/load_fault: movs r1,#0; mov.w r2,#0x30000000; adds r1,#1;
#       str r1,[r2] (or ldr r3,[r2]); adds r1,#1; adds r1,#1; b .
#   exc_return: movs r1,#0; bl f; adds r1,#1; mvn lr,#6; bx lr (EXC_RETURN);
#       adds r1,#10; b .;  f: adds r1,#1; bx lr
SNIPPETS = {
    "store_fault": (bytes.fromhex("00214ff040520131116001310131fee7"), 0xE),
    "load_fault": (bytes.fromhex("00214ff040520131136801310131fee7"), 0xE),
    "exc_return": (bytes.fromhex("002100f006f801316ff0060e70470a31fee701317047"), 0x10),
    "smc": (bytes.fromhex("002100f015f80b4a43f20513138000f00ff84ff4005243f20113138044f2707353"
                          "80501c804743f2051313808047fee70131704730000000"), 0x2E),
    "mmio_stop": (bytes.fromhex("4ff080420021106801310329fbd1fee7"), 0xE),
    "v8m_tt": (bytes.fromhex("41e800f0fee7"), 0x4),
    "pc_write_then_stop": (bytes.fromhex("abbe4ff080420021013100e000bf10680529f9d1fee7"), 0x14),
    "indirect": (bytes.fromhex("0021084a084b0131042918bf18479047064a9047064a1047fee70a3170476431"
                               "704700bf1b000000070000001f0000001e000000"), 0x18),
}
# indirect: indirect branches, whose next block patch 0010 finds with the flags of
#   the block they end: movs r1,#0; ldr r2,=f|1; ldr r3,=loop|1; loop: adds r1,#1;
#   cmp r1,#4; it ne; bxne r3 (last instruction of an IT block); blx r2 (f: adds
#   r1,#10; bx lr); ldr r2,=g|1; blx r2 (g: adds r1,#100; bx lr: g is now translated
#   for Thumb state); ldr r2,=g; bx r2 (bit 0 clear: to ARM state, which a Cortex-M3
#   refuses with INVSTATE -- g must not run again); b .  r1 must end at 114.
# pc_write_then_stop: bkpt (the interrupt hook writes PC += 2); mov.w r2,#0x40000000;
#   movs r1,#0; loop: adds r1,#1; b mid; nop; mid: ldr r0,[r2] (MMIO; the 2nd and
#   4th reads call emu_stop); cmp r1,#5; bne loop; b .
# v8m_tt: 'tt r0, r1' (ARMv8-M only: UNDEFINED on a Cortex-M3); b .
# mmio_stop: mov.w r2,#0x40000000; movs r1,#0; loop: ldr r0,[r2] (MMIO; the
#   callback calls emu_stop); adds r1,#1; cmp r1,#3; bne loop; b .
# smc: self-modifying code, r1 must end at 12:
#   movs r1,#0; bl target (+1); rewrite target to 'adds r1,#5'; bl target (+5);
#   write 'adds r1,#1; bx lr' to 0x2000 (a page without code); blx it (+1);
#   rewrite it to 'adds r1,#5'; blx it (+5); b .;  target: adds r1,#1; bx lr



def run_snippet(name: str, engine: str, hook: str, timeout: float = 60, mclass: bool = False) -> dict:
    """Run a snippet in a child process; ``hook`` is none, refuse (an
    invalid-memory hook that returns False), map_stop (the hook maps the page,
    calls emu_stop and returns True; the test then resumes to the end) or intr
    (an interrupt hook that records the exception and resumes at 0xE)."""
    p = subprocess.run([sys.executable, str(Path(__file__)), "--engine", engine,
                        "--snippet", name, "--hook", hook, *(["--mclass"] if mclass else []), "-"],
                       capture_output=True, text=True, env=_child_env(engine), timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"snippet run failed ({engine}/{name}/{hook}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _child_snippet(name: str, hook: str, mclass: bool = False) -> dict:
    from sim import engine

    import unicorn as u
    from unicorn import arm_const as a

    uc = u.Uc(u.UC_ARCH_ARM, u.UC_MODE_THUMB | (u.UC_MODE_MCLASS if mclass else 0))
    uc.ctl_set_cpu_model(a.UC_CPU_ARM_CORTEX_M3)
    if hook == "handler":
        # like sim.machine: exec only where code is, so a BX to EXC_RETURN that is
        # not recognised as one faults instead of reaching QEMU's magic-PC path
        uc.ctl_set_page_size(4096)
        uc.ctl_set_tlb_mode(u.UC_TLB_VIRTUAL)

        def fill(uc_, vaddr, access, entry, data):
            entry.paddr = vaddr & ~0xFFF
            entry.perms = u.UC_PROT_ALL if vaddr < 0x4000 else u.UC_PROT_READ | u.UC_PROT_WRITE
            return True

        uc.hook_add(u.UC_HOOK_TLB_FILL, fill)
    uc.mem_map(0, 0x4000)
    if engine.features.has_icount:
        engine.icount_enable(uc)
    code, end = SNIPPETS[name]
    uc.mem_write(0, code)
    for r in (a.UC_ARM_REG_R1, a.UC_ARM_REG_R2, a.UC_ARM_REG_R3):
        uc.reg_write(r, 0x55)
    events = []

    def on_invalid(uc_, access, address, size, value, data):
        events.append([access, address])
        if hook == "map_stop":
            uc_.mem_map(address & ~0xFFF, 0x1000)
            uc_.emu_stop()
            return True
        return False

    def on_intr(uc_, intno, data):
        if name == "pc_write_then_stop":  # step over the bkpt
            uc_.reg_write(a.UC_ARM_REG_PC, (uc_.reg_read(a.UC_ARM_REG_PC) + 2) | 1)
            return
        events.append([intno, uc_.reg_read(a.UC_ARM_REG_PC)])
        uc_.reg_write(a.UC_ARM_REG_PC, 0xE | 1)  # "return" to the 'adds r1,#10'
        if len(events) > 2:
            uc_.emu_stop()

    def mmio_read(uc_, offset, size, data):
        events.append(["read", offset])
        if name != "pc_write_then_stop":
            uc_.emu_stop()
        else:
            events[-1].append(uc_.reg_read(a.UC_ARM_REG_R1))
            if len(events) in (2, 4):
                uc_.emu_stop()
        return 0x1234

    def mmio_write(uc_, offset, size, value, data):
        events.append(["write", offset, value])

    uc.mmio_map(0x40000000, 0x1000, mmio_read, None, mmio_write, None)
    if hook in ("intr", "handler"):
        uc.hook_add(u.UC_HOOK_INTR, on_intr)
    if hook == "handler":  # enter Handler mode from the host (IPSR = 3), as sim.machine does
        uc.reg_write(a.UC_ARM_REG_XPSR, 0x01000003)
    elif hook != "none":
        uc.hook_add(u.UC_HOOK_MEM_INVALID, on_invalid)
    errors = []
    pc = 1
    for _ in range(10):
        try:
            uc.emu_start(pc | 1, end)
        except u.UcError as e:
            errors.append(e.errno)
            break
        pc = uc.reg_read(a.UC_ARM_REG_PC)
        if pc == end:
            break
        errors.append("stopped at %#x" % pc)
    mem = bytes(uc.mem_read(0x30000000, 4)).hex() if hook == "map_stop" else None
    icount = engine.read_icount(uc) if engine.features.has_icount else None
    return {"engine": engine.kind, "icount": icount, "errors": errors, "events": events,
            "pc": uc.reg_read(a.UC_ARM_REG_PC),
            "r1": uc.reg_read(a.UC_ARM_REG_R1), "r3": uc.reg_read(a.UC_ARM_REG_R3), "mem": mem}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, help="stock, patched or a library directory")
    ap.add_argument("--mode", default="plain",
                    choices=["plain", "tlb", "icount", "icount-slices", "count-slices",
                             "hook-count"])
    ap.add_argument("--snippet", choices=sorted(SNIPPETS))
    ap.add_argument("--hook", choices=["none", "refuse", "map_stop", "intr", "handler"], default="none")
    ap.add_argument("--mclass", action="store_true", help="snippets: open with UC_MODE_MCLASS")
    ap.add_argument("elf")
    ns = ap.parse_args()
    if ns.engine in ("stock", "patched"):
        os.environ["MPSIM_ENGINE"] = ns.engine
    else:
        os.environ["LIBUNICORN_PATH"] = ns.engine
    sys.path.insert(0, str(REPO))
    if ns.snippet:
        print(json.dumps(_child_snippet(ns.snippet, ns.hook, ns.mclass)))
    else:
        print(json.dumps(_child(ns.elf, ns.mode)))

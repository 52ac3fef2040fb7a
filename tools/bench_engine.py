#!/usr/bin/env python3
"""Micro-benchmark of the Unicorn engines against QEMU on a CPU-bound guest.

The guest is tests/engine/guest/guest.c (SRAM loads/stores, direct and
indirect calls, a switch-dispatched loop), built for QEMU's mps2-an385 and run

  * on QEMU:  qemu-system-arm -M mps2-an385 -nographic -semihosting -kernel guest.elf
              (wall time minus the time of the same command on a 1-iteration
              build, i.e. without QEMU's start-up);
    and with `-icount shift=0` (QEMU's deterministic mode);
  * on Unicorn, time spent in emu_start, per engine and mode:
      plain          default settings
      tlb            4 KiB pages, virtual TLB, exec-only-on-code TLB-fill hook
      count-slices   deterministic time the stock way: emu_start(count=25000) slices
      icount         patched only: instruction counter on (UC_CTL_INSN_COUNT)
      icount-slices  patched only: counter + 25000-instruction limit slices
    for the stock wheel and for build/unicorn (tools/build-unicorn).

Each figure is the best of --repeat runs; every run must print the same result.

  .venv/bin/python tools/bench_engine.py [--iterations N] [--repeat R] [--lib DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "engine"))
import engine_guest as guest  # noqa: E402

PATCHED = REPO / "build" / "unicorn" / "lib" / "libunicorn.so.2"


def best(fn, repeat: int) -> tuple[float, dict]:
    runs = [fn() for _ in range(repeat)]
    outs = {r["output"].strip() for r in runs}
    if len(outs) != 1:
        raise SystemExit(f"runs disagree: {outs}")
    r = min(runs, key=lambda r: r["time"])
    return r["time"], r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lib", action="append", default=[],
                    help="extra directory holding a libunicorn.so.2 to measure")
    ap.add_argument("--modes", default="plain,tlb,count-slices,icount,icount-slices",
                    help="Unicorn modes (icount* are skipped on the stock library)")
    ap.add_argument("--json", action="store_true")
    ns = ap.parse_args()

    if guest.toolchain_missing():
        raise SystemExit(f"bench_engine: {guest.toolchain_missing()}")
    elf = guest.build(ns.iterations)
    rows = []
    reference = None

    if shutil.which("qemu-system-arm"):
        base = guest.build(1)
        t0, _ = best(lambda: guest.run_qemu(base), ns.repeat)
        tq, rq = best(lambda: guest.run_qemu(elf), ns.repeat)
        reference = rq["output"].strip()
        qemu = max(tq - t0, 1e-9)
        rows.append({"engine": "qemu", "mode": "default", "time": qemu,
                     "note": f"wall {tq:.3f}s - start-up {t0:.3f}s"})
        ic = ("-icount", "shift=0")
        t0i, _ = best(lambda: guest.run_qemu(base, extra=ic), ns.repeat)
        tqi, rqi = best(lambda: guest.run_qemu(elf, extra=ic), ns.repeat)
        if rqi["output"].strip() != reference:
            raise SystemExit(f"qemu -icount printed {rqi['output']!r}")
        rows.append({"engine": "qemu", "mode": "icount", "time": max(tqi - t0i, 1e-9),
                     "note": f"-icount shift=0: {max(tqi - t0i, 1e-9) / qemu:.2f}x QEMU default"})
    else:
        qemu = None

    engines = ["stock"] + (["patched"] if PATCHED.is_file() else []) + ns.lib
    for eng in engines:
        for mode in ns.modes.split(","):
            if mode.startswith("icount") and eng == "stock":
                continue
            t, r = best(lambda: guest.run_unicorn(elf, eng, mode), ns.repeat)
            out = r["output"].strip()
            if reference is None:
                reference = out
            if out != reference:
                raise SystemExit(f"{eng}/{mode} printed {out!r}, expected {reference!r}")
            note = f"{r['icount']} instructions" if "icount" in r else ""
            if "slices" in r:
                note += f"{', ' if note else ''}{r['slices']} slices"
            rows.append({"engine": eng if eng in ("stock", "patched") else f"lib:{eng}",
                         "mode": mode, "time": t, "note": note})

    for row in rows:
        row["ratio_vs_qemu"] = row["time"] / qemu if qemu else None

    meta = {"iterations": ns.iterations, "repeat": ns.repeat, "result": reference,
            "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} "
            f"{platform.machine()} {platform.processor() or ''}".strip()}
    if not PATCHED.is_file():
        meta["note"] = "patched library not built (tools/build-unicorn)"
    if ns.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return 0
    print(f"guest: {ns.iterations} iterations, best of {ns.repeat}, result '{reference}'")
    if "note" in meta:
        print(meta["note"])
    print(f"{'engine':<14} {'mode':<14} {'time (s)':>9} {'/ QEMU':>7}  note")
    for row in rows:
        ratio = f"{row['ratio_vs_qemu']:.2f}x" if row["ratio_vs_qemu"] else "-"
        print(f"{row['engine']:<14} {row['mode']:<14} {row['time']:>9.3f} {ratio:>7}  {row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

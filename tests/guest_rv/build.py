"""Compile a RISC-V guest test program (tests/guest_rv/<name>.c + crt0.S) with
riscv64-unknown-elf-gcc into a cache directory; returns the ELF path or None when
the toolchain is missing (tests then skip with that reason)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CC = "riscv64-unknown-elf-gcc"
FLAGS = ["-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany", "-O1", "-g", "-nostdlib",
         "-ffreestanding", "-Wall", "-Werror", "-T", str(HERE / "guest.ld")]


def build(name: str, out_dir: Path) -> Path | None:
    if shutil.which(CC) is None:
        return None
    sources = [HERE / f"{name}.c", HERE / "crt0.S"]
    h = hashlib.sha256()
    for p in [*sources, HERE / "hal.h", HERE / "guest.ld"]:
        h.update(p.read_bytes())
    h.update(" ".join(FLAGS).encode())
    elf = out_dir / f"{name}-{h.hexdigest()[:12]}.elf"
    if not elf.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = elf.with_suffix(".tmp")
        subprocess.run([CC, *FLAGS, "-I", str(HERE), *map(str, sources), "-o", str(tmp)],
                       check=True, capture_output=True, text=True)
        tmp.replace(elf)
    return elf

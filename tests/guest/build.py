"""Compile a guest test program for one of the boards' architectures into a cache
directory: tests/guest/<name>.c + crt0.c with arm-none-eabi-gcc (mps2-an385), or
tests/guest_rv/<name>.c + crt0.S with riscv64-unknown-elf-gcc (virt-rv64).
``build`` returns the ELF path, or None when the toolchain is missing;
``build_or_skip`` skips the calling test with that reason instead."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Arch:
    folder: Path            # the programs, crt0, hal.h and guest.ld
    cc: str
    crt0: str
    cpu_flags: tuple[str, ...]

    @property
    def flags(self) -> list[str]:
        return [*self.cpu_flags, "-O1", "-g", "-nostdlib", "-ffreestanding", "-Wall", "-Werror",
                "-T", str(self.folder / "guest.ld")]


ARCHS = {
    "arm": Arch(TESTS / "guest", "arm-none-eabi-gcc", "crt0.c", ("-mcpu=cortex-m3", "-mthumb")),
    "rv64": Arch(TESTS / "guest_rv", "riscv64-unknown-elf-gcc", "crt0.S",
                 ("-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany")),
}


def build(name: str, out_dir: Path, arch: str = "arm") -> Path | None:
    a = ARCHS[arch]
    if shutil.which(a.cc) is None:
        return None
    sources = [a.folder / f"{name}.c", a.folder / a.crt0]
    h = hashlib.sha256()
    for p in [*sources, a.folder / "hal.h", a.folder / "guest.ld"]:
        h.update(p.read_bytes())
    h.update(" ".join(a.flags).encode())
    elf = out_dir / f"{name}-{h.hexdigest()[:12]}.elf"
    if not elf.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = elf.with_suffix(".tmp")
        subprocess.run([a.cc, *a.flags, "-I", str(a.folder), *map(str, sources), "-o", str(tmp)],
                       check=True, capture_output=True, text=True)
        tmp.replace(elf)
    return elf


def build_or_skip(name: str, out_dir: Path, arch: str = "arm") -> Path:
    import pytest   # only here: tools/bench-busywait uses ``build`` without pytest
    elf = build(name, out_dir, arch)
    if elf is None:
        pytest.skip(f"{ARCHS[arch].cc} not installed: cannot build the guest program {name}")
    return elf

"""CPU architectures. Each package holds what the arch-neutral machine
(sim/machine/) cannot know: CPU set-up, reset, exceptions or traps, faults,
semihosting, wait instructions, and the core devices that belong to the
architecture (ARMv7-M's SCS/NVIC/SysTick). A board's ``cpu`` picks one."""

from __future__ import annotations

import importlib

# board ``cpu`` -> (package under sim/arch, core class)
CORES = {"cortex-m3": ("armv7m", "ArmV7M"), "rv64imac": ("riscv", "RiscV")}


def core_class(cpu: str):
    package, name = CORES[cpu]
    return getattr(importlib.import_module(f"{__name__}.{package}.core"), name)

"""The arch-neutral machine: memory map, peripherals, run loop, clock (machine.py, clock.py)."""


def __getattr__(name: str):
    # `from sim.machine import Machine` without importing Unicorn for every user of
    # sim.machine.clock (the CLI's start-up time depends on it)
    if name in ("Machine", "StopReason"):
        from . import machine
        return getattr(machine, name)
    raise AttributeError(name)

"""The arch-neutral machine: memory map, peripherals, run loop, clock (machine.py, clock.py)."""

"""ARMv7-M (Cortex-M3): core.py for the machine, its exception model and core devices."""

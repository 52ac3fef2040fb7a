"""The interpreter view: what mpsim knows of MicroPython, per version."""

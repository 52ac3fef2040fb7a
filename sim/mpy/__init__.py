"""The interpreter seen from the host: everything that knows MicroPython's insides.

``state`` (mp_state_ctx and the GC heap of a running firmware), ``geometry`` (the
one heap-geometry type), ``walk`` (the precise heap walk), ``relocate`` (moving a
saved heap), ``picture`` (census and heap maps), ``heap_config`` (the firmware's
boot-parameter block), ``bytecode`` (one decoder per bytecode generation).
Nothing here knows about hibernation, flash or the CLI.
"""

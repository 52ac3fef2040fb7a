"""The interpreter seen from the host: everything that knows MicroPython's insides.

``profiles`` (what each MicroPython generation keeps where, as data; picked by the
version in the firmware's banner), ``support`` (what an ELF supports, and why not),
``state`` (mp_state_ctx and the GC heap of a running firmware), ``words`` (the
target's machine word: 4 or 8 bytes, from the ELF), ``geometry`` (the one
heap-geometry type), ``objects`` (type-object slots per layout), ``qstr_pools``,
``walk`` and ``walk_context`` (the precise heap walk; 1.19+ code objects),
``relocate`` (moving a saved heap), ``picture`` (census and heap maps),
``heap_config`` (the firmware's boot-parameter block), ``bytecode`` (one decoder per
bytecode generation). Nothing here knows about hibernation, flash or the CLI.
"""

"""Hibernate while a program runs (issue 17).

``live``: which RAM a running firmware depends on (used C stack, statics, used heap).
``image``: capture that and the whole machine state into a RUN_STATE image, and put
it back after a power cycle. ``powerfail``: the board's power-fail warning and
hold-up budget. ``preerase``: keep the next slot erased so a hibernate only programs.
``sweep``: fail the power at many moments of a program, resume, compare.
"""

"""One module per group of ``mpsim`` commands; importing registers them."""

from . import demo, flash, heap, info, repl, session, snapshot, soak  # noqa: F401

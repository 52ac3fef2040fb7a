"""One module per group of ``mpsim`` commands; importing registers them."""

from . import demo, flash, heap, info, repl, serve, session, snapshot, soak  # noqa: F401

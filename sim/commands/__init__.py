"""One module per group of ``mpsim`` commands; importing registers them."""

from . import demo, flash, info, repl, session, snapshot  # noqa: F401

"""One module per group of ``mpsim`` commands; importing registers them."""

from . import flash, info  # noqa: F401

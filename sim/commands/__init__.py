"""One module per group of ``mpsim`` commands; importing registers them."""

from . import info  # noqa: F401

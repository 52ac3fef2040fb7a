"""``python -m sim ARGS...``: the ``mpsim`` command, for when its script is not on PATH."""

from .cli import main

main()

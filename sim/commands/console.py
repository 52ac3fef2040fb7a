"""rich consoles fit for where they write.

A terminal gets its own width and colours. A pipe or a file (a CI log, ``| tee``)
gets plain text, and lines as long as they need: rich would otherwise assume 80
columns and cut a table's values to ``0x604…``. ``COLUMNS``, when set, still wins.
"""

from __future__ import annotations

import os
import sys

UNCUT_WIDTH = 1000     # wider than any table mpsim prints


def console(stderr: bool = False, **kw):
    from rich.console import Console       # ~50 ms: only when something is printed
    stream = sys.stderr if stderr else sys.stdout
    if not _isatty(stream):
        kw.setdefault("no_color", True)
        if "COLUMNS" not in os.environ:
            kw.setdefault("width", UNCUT_WIDTH)
    return Console(stderr=stderr, **kw)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

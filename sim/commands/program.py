"""A script wrapped so that the host learns its exit status, on any MicroPython version.

The raw REPL reports an uncaught exception as text but swallows SystemExit and its
code (1.9.2 even leaves the raw REPL for a soft reset; 1.2x carries on as if the
code had ended). So the script runs inside ``try: ... except SystemExit``, which
keeps the code in a global the host reads and deletes afterwards (``STATUS_QUERY``).
``try``/``except``, ``globals()`` and ``dict.pop`` are in every MicroPython.

Two shapes of the same wrapper:

- **indented** (the usual one): every line of the script, one space in, under
  ``try:``. The board holds the source once, as it would without the wrapper. Lines
  that begin inside a multi-line string are left alone (indenting them would change
  the string); CPython's tokenizer finds them. Tracebacks are renumbered by the one
  line ``try:`` adds, and the wrapper's own frames removed.
- **as a string** (when the script does not tokenize, or holds a raw Ctrl-A..Ctrl-D,
  which the raw REPL would take as commands): ``exec(<source as a literal>)``. Any
  character arrives intact and a syntax error is reported by the board itself; the
  price is the board holding the source twice while it compiles (measured on the
  128 KiB 1.9.2 heap: ~15 KB scripts instead of ~23 KB).
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

STATUS = "_mpsim_exit"
STATUS_QUERY = f"print(repr(globals().pop({STATUS!r}, None)))"
_ON_EXIT = ("except SystemExit as _mpsim_e:\n"
            f" {STATUS} = _mpsim_e.args[0] if _mpsim_e.args else None\n"
            f" {STATUS} = 0 if {STATUS} is None else {STATUS}\n"
            f" {STATUS} = {STATUS} if isinstance({STATUS}, int) else str({STATUS})\n"
            " del _mpsim_e\n")
_RAW_REPL_COMMANDS = re.compile("[\x01-\x04]")
_FRAME = re.compile(r'^(  File "<stdin>", line )(\d+)(.*\n?)', re.MULTILINE)


@dataclass(frozen=True)
class Wrapped:
    code: str            # what to send
    script_lines: int    # lines of the script itself
    indented: bool

    def traceback(self, text: str) -> str:
        """The board's traceback as the script's author expects it: the script's own
        line numbers, without the wrapper's frames."""
        def frame(m: re.Match) -> str:
            if not self.indented:             # the script ran as "<string>": "<stdin>" is the wrapper
                return ""
            line = int(m.group(2)) - 1        # 'try:' is line 1
            return f"{m.group(1)}{line}{m.group(3)}" if 1 <= line <= self.script_lines else ""
        return _FRAME.sub(frame, text)


def wrap(script: str) -> Wrapped:
    lines = script.splitlines()
    inside = _lines_inside_strings(script)
    if inside is None or _RAW_REPL_COMMANDS.search(script):
        return Wrapped(f"try:\n exec({script!r})\n{_ON_EXIT}", len(lines), indented=False)
    body = "".join(line + "\n" if n in inside else " " + line + "\n" for n, line in enumerate(lines, 1))
    return Wrapped(f"try:\n{body} pass\n{_ON_EXIT}", len(lines), indented=True)


def _lines_inside_strings(script: str) -> set[int] | None:
    """Line numbers (1-based) that begin inside a multi-line string; None when the
    script does not tokenize (the board will say why)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(script).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return None
    return inside

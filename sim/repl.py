"""Talk to MicroPython's REPL over a byte link, as a person or mpremote would.

Protocols are MicroPython's own (lib/utils/pyexec.c):
- friendly REPL: prompt ``>>> ``, continuation ``... ``, echo of typed input;
- raw REPL: Ctrl-A enters (``raw REPL; CTRL-B to exit\\r\\n>``), code is sent and
  ended with Ctrl-D, the board answers ``OK``, then stdout, ``\\x04``, the exception
  text (empty if none), ``\\x04``, and a new ``>``; Ctrl-B leaves, Ctrl-D on an
  empty raw line soft-resets;
- paste mode: Ctrl-E, lines, Ctrl-D;
- Ctrl-C raises KeyboardInterrupt in running code.

The link is anything with ``write(bytes)`` and ``read(timeout_s) -> bytes``; for
the emulator, ``read`` runs the machine until output appears or it idles.
"""

from __future__ import annotations

import ast
import time
from typing import Any, Protocol

from .errors import BoardStopped, GuestFault, ReplError, ReplTimeout

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
PROMPT = b">>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


class Link(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, timeout_s: float) -> bytes: ...


class Repl:
    def __init__(self, link: Link, timeout_s: float | None = 10.0, transcript: bytearray | None = None,
                 sent: list[str] | None = None):
        self.link = link
        self.timeout_s = timeout_s
        # Everything the board sent and the code sent to it, for error reports; a Board
        # passes its own, so they outlive this Repl (a reboot or power cycle makes a new one).
        self.transcript = bytearray() if transcript is None else transcript
        self.sent = [] if sent is None else sent
        self._pending = bytearray()     # received but not yet consumed
        self.in_raw = False

    # -- low level ------------------------------------------------------------
    def write(self, data: bytes | str) -> None:
        self.link.write(data.encode() if isinstance(data, str) else data)

    def read_until(self, marker: bytes, timeout_s: float | None = None, on_data=None) -> bytes:
        """Consume and return everything up to and including ``marker``. A timeout of
        None (here and in ``self.timeout_s``) waits as long as it takes. ``on_data``,
        if given, gets the bytes before the marker as they arrive (and they are not
        returned): a program's output, streamed while it runs."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            i = self._pending.find(marker)
            if i >= 0:
                end = i + len(marker)
                out = bytes(self._pending[:end])
                del self._pending[:end]
                if on_data is not None and i:
                    on_data(out[:i])
                    out = out[i:]
                return out
            if on_data is not None and self._pending:
                keep = len(marker) - 1        # a marker may arrive split over two reads
                if len(self._pending) > keep:
                    on_data(bytes(self._pending[:len(self._pending) - keep]))
                    del self._pending[:len(self._pending) - keep]
            left = 0.5 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                tail = bytes(self._pending[-200:]).decode(errors="replace")
                raise ReplTimeout(f"no {marker!r} from the board within the timeout; last output: {tail!r}",
                                  output=bytes(self._pending).decode(errors="replace"))
            try:
                chunk = self.link.read(min(left, 0.5))
            except GuestFault as e:
                e.output = bytes(self._pending) + e.output
                self.transcript += e.output[len(self._pending):]
                self._pending.clear()
                raise
            except BoardStopped as e:
                self.transcript += e.output.encode()
                e.output = bytes(self._pending).decode(errors="replace") + e.output
                self._pending.clear()
                raise
            self.transcript += chunk
            self._pending += chunk

    def drain(self, timeout_s: float = 0.05) -> bytes:
        """Return whatever arrives within ``timeout_s`` (used to settle the link)."""
        chunk = self.link.read(timeout_s)
        self.transcript += chunk
        self._pending += chunk
        out = bytes(self._pending)
        self._pending.clear()
        return out

    # -- friendly REPL ----------------------------------------------------------
    def wait_prompt(self, timeout_s: float | None = None) -> str:
        """Wait for the friendly ``>>> `` prompt; returns what came before it."""
        return self.read_until(PROMPT, timeout_s).decode(errors="replace")

    def friendly(self, line: str, timeout_s: float | None = None) -> str:
        """Type one line (or a block ending in a blank line) at ``>>>`` and return the
        output printed before the next prompt, without the echoed input."""
        lines = line.rstrip("\n").split("\n")
        self.sent.append(line)
        for i, text in enumerate(lines):
            self.write(text.encode() + b"\r")
            if i < len(lines) - 1:
                self.read_until(b"... ", timeout_s)
        if len(lines) > 1:              # end the compound statement
            self.read_until(b"... ", timeout_s)
            self.write(b"\r")
        got = self.read_until(PROMPT, timeout_s).decode(errors="replace")[: -len(PROMPT)]
        _echo, _, output = got.partition("\r\n")      # drop the echo of the last line typed
        return output.replace("\r\n", "\n")

    def interrupt(self) -> str:
        """Ctrl-C: stop running code; returns output up to the next prompt."""
        self.write(CTRL_C)
        return self.read_until(PROMPT).decode(errors="replace")

    def paste(self, code: str, timeout_s: float | None = None) -> str:
        """Paste mode (Ctrl-E ... Ctrl-D): code runs as one unit, like a file."""
        self.sent.append(code)
        self.write(CTRL_E)
        self.read_until(b"=== ", timeout_s)
        self.write(code.replace("\n", "\r").encode())
        self.write(CTRL_D)
        got = self.read_until(PROMPT, timeout_s).decode(errors="replace")[: -len(PROMPT)]
        # Everything up to the echo of Ctrl-D ("\r\n") is the pasted-text echo.
        return _strip_paste_echo(got).replace("\r\n", "\n")

    # -- raw REPL ---------------------------------------------------------------
    def enter_raw(self) -> None:
        if self.in_raw:
            return
        self.write(b"\r" + CTRL_C + CTRL_C)     # stop whatever runs, fresh line
        self.drain(0.05)
        self.write(CTRL_A)
        self.read_until(RAW_BANNER)
        self.in_raw = True

    def exit_raw(self) -> None:
        if not self.in_raw:
            return
        self.write(CTRL_B)
        self.read_until(PROMPT)
        self.in_raw = False

    def exec_raw(self, code: str, timeout_s: float | None = None) -> tuple[str, str]:
        """Run ``code`` in the raw REPL; returns (stdout, exception text)."""
        self.sent.append(code)
        self.enter_raw()
        self.write(code.encode())
        self.write(CTRL_D)
        ok = self.read_until(b"OK", timeout_s)
        if not ok.endswith(b"OK"):
            raise ReplError(f"raw REPL did not accept the code: {ok!r}")
        out = self.read_until(CTRL_D, timeout_s)[:-1]
        err = self.read_until(CTRL_D, timeout_s)[:-1]
        self.read_until(b">", timeout_s)
        return out.decode(errors="replace").replace("\r\n", "\n"), err.decode(errors="replace").replace("\r\n", "\n")

    def exec_stream(self, code: str, on_output, timeout_s: float | None = None) -> str:
        """Run ``code`` in the raw REPL, handing its output to ``on_output(bytes)`` as the
        board prints it; returns the exception text (empty if none). ``timeout_s``
        bounds the whole run, upload included (None: no limit)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.sent.append(code)

        def left() -> float | None:
            if deadline is None:
                return None
            rest = deadline - time.monotonic()
            if rest <= 0:
                raise ReplTimeout(f"the code did not finish within {timeout_s:g} s",
                                  output=bytes(self._pending).decode(errors="replace"))
            return rest

        self.enter_raw()
        data = code.encode()
        for i in range(0, len(data), 4096):      # the deadline holds during a long upload too
            left()
            self.write(data[i:i + 4096])
        self.write(CTRL_D)
        ok = self.read_until(b"OK", left())
        if not ok.endswith(b"OK"):
            raise ReplError(f"raw REPL did not accept the code: {ok!r}")
        self.read_until(CTRL_D, left(), on_data=on_output)
        err = self.read_until(CTRL_D, left())[:-1]
        self.read_until(b">", left())
        return err.decode(errors="replace").replace("\r\n", "\n")

    def exec(self, code: str, timeout_s: float | None = None) -> str:
        """Run ``code``; return its output, or raise ReplError carrying the traceback."""
        out, err = self.exec_raw(code, timeout_s)
        if err:
            last = err.strip().splitlines()[-1] if err.strip() else "error"
            raise ReplError(f"the board raised {last}", output=out + err)
        return out

    def eval(self, expr: str, timeout_s: float | None = None) -> Any:
        """Evaluate ``expr`` on the board; literals come back as Python values, anything
        else as its repr string."""
        text = self.exec(f"print(repr(({expr})))", timeout_s).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def soft_reset(self) -> None:
        """Ctrl-D soft reset; leaves the board at the friendly prompt."""
        if self.in_raw:
            self.write(CTRL_D)
            self.read_until(b"soft reboot\r\n")
            self.read_until(RAW_BANNER)
            self.exit_raw()
        else:
            self.write(CTRL_D)
            self.read_until(PROMPT)


def _strip_paste_echo(text: str) -> str:
    """Paste mode echoes every pasted line after a ``=== `` prefix; the program's
    output starts after the final ``=== `` line."""
    idx = text.rfind("=== ")
    if idx < 0:
        return text
    nl = text.find("\r\n", idx)
    return text[nl + 2:] if nl >= 0 else ""

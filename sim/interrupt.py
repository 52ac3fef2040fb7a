"""Ctrl-C while the emulated CPU runs.

Python delivers SIGINT as KeyboardInterrupt in whatever Python code is running,
and while Unicorn runs that is usually one of mpsim's callbacks (a device
register access, a TLB fill, an exception hook). Raised there, ctypes prints
"Exception ignored on calling ctypes callback function" with a traceback and
drops it: the interrupt is lost. So the CLI installs ``handler``: inside
emulation it only stops the CPU and marks the interrupt pending, and the machine
raises it (``check``) once ``emu_start`` has returned.
"""

from __future__ import annotations

pending = False


def handler(signum, frame) -> None:
    global pending
    f = frame
    while f is not None:
        if f.f_code.co_name == "emu_start" and "unicorn" in f.f_code.co_filename:
            pending = True
            uc = f.f_locals.get("self")
            if uc is not None:
                uc.emu_stop()
            return
        f = f.f_back
    raise KeyboardInterrupt


def check() -> None:
    """Raise a Ctrl-C that arrived during emulation (call after ``emu_start``)."""
    global pending
    if pending:
        pending = False
        raise KeyboardInterrupt

"""mpsim: a Unicorn-emulated Cortex-M board running real MicroPython firmware.

The host-side controller can hibernate the interpreter (GC heap + ``mp_state_ctx``)
into an emulated NOR flash, cut power, and resume it on a fresh boot.
"""

__version__ = "0.1.0"

# Choose libunicorn (patched build if present, else the stock wheel) before any
# module imports unicorn: the binding loads its library on first import.
try:
    from . import engine as _engine  # noqa: E402,F401
except ImportError:
    pass    # a bad MPSIM_ENGINE: raised again, as a one-line UsageError, when a machine is made

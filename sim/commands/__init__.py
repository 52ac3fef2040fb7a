"""One module per group of ``mpsim`` commands; importing a module registers its commands.

``MODULES`` says which module holds each command, so ``mpsim run`` imports only
``session`` (start-up time), while ``mpsim --help`` imports them all.
"""

import importlib

MODULES = {
    "run": "run", "hibernate": "session", "resume": "session", "power-cycle": "session",
    "repl": "repl", "demo": "demo", "info": "info", "flash": "flash", "heap": "heap",
    "snapshot": "snapshot", "serve": "serve", "control": "serve", "soak": "soak", "power-loss": "soak",
    "power-fail-sweep": "powerfail", "romfs": "romfs", "state": "state",
}


def load(command: str | None = None) -> None:
    """Register ``command`` (its module only) or, with None or an unknown name, every command."""
    names = [MODULES[command]] if command in MODULES else sorted(set(MODULES.values()))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")

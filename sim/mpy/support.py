"""What a firmware ELF supports (hibernate, relocation, boot parameters), and why not.

One answer for ``mpsim info``, the README's table and the refusals: each feature
needs the ELF to carry certain things, listed here as data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FirmwareError
from . import profiles

RESTORE_POINTS = ("mpsim_restore_point", "pyexec_friendly_repl")
BOOT_PARAMS = "mpsim_boot_params"


@dataclass
class Support:
    version: str                  # "1.23.0" or "unknown"
    profile: str | None           # the profile's name, None when there is none
    hibernate: str | None         # None: supported; else why not
    relocation: str | None
    boot_params: str | None
    restore_point: str | None     # the symbol resume stops at

    def rows(self) -> list[tuple[str, str]]:
        def yes(why: str | None, detail: str = "") -> str:
            return f"yes{detail}" if why is None else f"no: {why}"
        return [("MicroPython", self.version),
                ("profile", self.profile or "none"),
                ("hibernate", yes(self.hibernate, f" (resume at {self.restore_point})" if self.restore_point else "")),
                ("boot parameters", yes(self.boot_params, f" ({BOOT_PARAMS}: heap placement)")),
                ("relocation", yes(self.relocation, " (--heap-base/--heap-size)"))]


def restore_point(firmware) -> str | None:
    return next((n for n in RESTORE_POINTS if firmware.has_symbol(n)), None)


def support(firmware) -> Support:
    v = firmware.micropython_version
    version = ".".join(map(str, v)) if v else "unknown"
    profile, why_not = None, None
    if not firmware.has_symbol("mp_state_ctx"):
        why_not = "no mp_state_ctx symbol (not a MicroPython firmware, or stripped)"
    elif not firmware.has_debug_info:
        why_not = "no debug info (build it with -g): the interpreter's layout cannot be read"
    else:
        try:
            profile = profiles.for_firmware(firmware)
        except FirmwareError as e:
            why_not = str(e)
    rp = restore_point(firmware)
    hibernate = why_not
    if hibernate is None and not firmware.has_symbol("gc_init"):
        hibernate = "no gc_init symbol"
    if hibernate is None and rp is None:
        hibernate = f"no restore point (needs one of: {', '.join(RESTORE_POINTS)})"
    boot = None if firmware.has_symbol(BOOT_PARAMS) else \
        f"no {BOOT_PARAMS} block: the heap is where the firmware puts it"
    relocation = hibernate or (boot and f"the heap cannot be moved ({boot.split(': ')[0]})")
    if relocation is None and not profile.walker:
        relocation = f"the precise heap walk does not know MicroPython {profile.versions} objects yet"
    return Support(version=version, profile=profile.versions if profile else None, hibernate=hibernate,
                   relocation=relocation, boot_params=boot, restore_point=rp if hibernate is None else None)

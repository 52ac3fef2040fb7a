"""What mpsim knows of each MicroPython generation: one data module per generation,
picked by the firmware's version (like rich's per-version Unicode tables).

The version comes from the firmware itself (``Firmware.micropython_version``: the
REPL banner every MicroPython build carries). A profile says where the interpreter
keeps what (``mp_state_ctx`` paths), how the GC heap is cut up, and which object
layouts, qstr pool layout and bytecode generation apply; offsets still come from the
ELF's DWARF. ``requires`` lists the ``mp_state_ctx`` fields the profile relies on:
each is checked against the DWARF, so a firmware that contradicts its profile (or a
firmware newer than the newest profile whose layout changed) is refused in one line
naming the field, never read wrongly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ...errors import FirmwareError

GENERATIONS = ("v1_9", "v1_18", "v1_19", "v1_20")     # oldest first
OLDEST = (1, 9)
NEWEST_TESTED = (1, 23)      # newer firmware is used with the newest profile when its DWARF agrees


@dataclass(frozen=True)
class Profile:
    name: str                       # "1.20"
    first: tuple[int, int]          # first version it describes
    last: tuple[int, int] | None    # last version (None: every newer one, when DWARF agrees)
    gc_area: str                    # mp_state_ctx path of the GC geometry fields
    gc_lock_depth: str              # mp_state_ctx path of the GC lock counter
    atb_gap: int                    # bytes between alloc table and finaliser table (ALLOC_TABLE_GAP_BYTE)
    bytecode: str                   # bytecode generation (sim.mpy.bytecode.<name>)
    qstr_obj_shift: int             # MP_OBJ_NEW_QSTR(q) is q << shift | 2 (2 in 1.9; 3 since immediate objects)
    type_layout: str                # "fixed" (named slots) or "slots" (slot_index_* + slots[], 1.20+)
    fun_bc: str                     # "const_table" (<1.19) or "context" (mp_module_context_t)
    qstr_pool: str                  # qstr pool layout generation
    repl_modes: tuple[str, ...]     # pyexec_mode_kind_t's names by value (the enum's order changed)
    walker: bool                    # the precise heap walk (relocation, census) knows this generation
    requires: tuple[str, ...]       # mp_state_ctx paths that must exist in the DWARF

    def covers(self, version: tuple[int, int]) -> bool:
        return self.first <= version and (self.last is None or version <= self.last)

    @property
    def versions(self) -> str:
        first = ".".join(map(str, self.first))
        if self.last is None:
            return first + "+"
        last = ".".join(map(str, self.last))
        return first if last == first else f"{first}-{last}"


def load(generation: str) -> Profile:
    return Profile(**importlib.import_module(f"{__name__}.{generation}").PROFILE)


def all_profiles() -> list[Profile]:
    return [load(g) for g in GENERATIONS]


def for_version(version: tuple[int, ...]) -> Profile:
    """The profile for a MicroPython version; FirmwareError names why there is none."""
    v = tuple(version[:2])
    text = ".".join(map(str, version))
    if v < OLDEST:
        raise FirmwareError(f"MicroPython {text} is older than 1.9, which mpsim does not support")
    profiles = all_profiles()
    for p in profiles:
        if p.covers(v):
            return p
    known = ", ".join(p.versions for p in profiles)
    raise FirmwareError(f"MicroPython {text} has no profile in mpsim (it knows {known})")


_CACHE: dict[str, Profile] = {}


def for_firmware(firmware, ctx_type=None) -> Profile:
    """The profile of a firmware, checked against its DWARF (cached per firmware content)."""
    key = firmware.fingerprint
    if key in _CACHE:
        return _CACHE[key]
    version = firmware.micropython_version
    if version is None:
        raise FirmwareError(f"{firmware.path.name}: cannot tell its MicroPython version "
                            "(no 'MicroPython vX.Y' banner in the firmware)")
    profile = for_version(version)
    check(firmware, profile, ctx_type or firmware.variable_type("mp_state_ctx"))
    _CACHE[key] = profile
    return profile


def check(firmware, profile: Profile, ctx_type) -> None:
    """Refuse a firmware whose mp_state_ctx lacks a field the profile relies on."""
    version = ".".join(map(str, firmware.micropython_version or ()))
    for path in profile.requires:
        try:
            ctx_type.offset_of(path)
        except FirmwareError:
            newer = tuple(firmware.micropython_version or ())[:2] > NEWEST_TESTED
            why = f"is newer than mpsim knows ({'.'.join(map(str, NEWEST_TESTED))}) and " if newer else ""
            raise FirmwareError(f"{firmware.path.name}: MicroPython {version} {why}has no mp_state_ctx.{path}, "
                                f"which the {profile.name} profile relies on") from None


def repl_mode_names(firmware) -> tuple[str, ...]:
    """pyexec_mode_kind's names by value for this firmware (1.9's order when unknown)."""
    v = firmware.micropython_version
    try:
        return for_version(v).repl_modes if v else load(GENERATIONS[0]).repl_modes
    except FirmwareError:
        return load(GENERATIONS[0]).repl_modes

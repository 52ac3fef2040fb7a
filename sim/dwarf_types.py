"""Reduce DWARF debug info entries to ``TypeInfo`` trees (used by sim.firmware only).

Pointers are not followed (only the target's name is kept), so recursive types
like linked lists terminate, and the result is small enough to cache as JSON.
"""

from __future__ import annotations

from .firmware import TypeInfo

_STRUCT_TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}
_SKIP_TAGS = {"DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type"}


def find(elf, key: str) -> TypeInfo | None:
    """The layout of ``key`` ("var:NAME" or "type:NAME"), or None.

    Parsing DIEs is what costs (pyelftools: a cold first lookup on the 1.9.2
    firmware took seconds), so as few are parsed as can be: first only the
    compile units whose raw bytes can name NAME (the name inline, or the
    offset of a .debug_str string ending in it: a C-speed byte search), then
    the rest. In each unit the top level comes first (named C types and global
    variables live there; GCC's DW_AT_sibling lets pyelftools skip function
    bodies unparsed), then every DIE (a type declared inside a function).

    A name no unit's bytes can hold is not there: walkers probe for fields that
    only some versions have, and each such miss would otherwise parse every
    DIE (2 s of CPU on the 1.23 firmware). That shortcut needs names to be
    inline or in .debug_str, as GCC writes them; with string forms it cannot
    see (.debug_str_offsets, a dwz alternate file) the full scan stays."""
    kind, name = key.split(":", 1)
    dwarf = elf.get_dwarf_info()
    want = name.encode()
    units = list(dwarf.iter_CUs())
    likely = _units_naming(elf, units, want)
    if not likely and not _other_string_forms(elf):
        return None
    order = likely + [cu for cu in units if cu not in likely]
    for top_level in (True, False):
        for cu in order:
            dies = cu.get_top_DIE().iter_children() if top_level else cu.iter_DIEs()
            for die in dies:
                found = _match(die, kind, want)
                if found is not None:
                    return found
    return None


def _units_naming(elf, units, want: bytes) -> list:
    """The units whose .debug_info bytes hold ``want`` inline or a 4-byte offset of
    a .debug_str string ending in it (strings are tail-merged by the linker). A
    superset: a false match only costs a scan; a miss (other string forms) only
    puts the unit later in the search order."""
    info = elf.get_section_by_name(".debug_info")
    strs = elf.get_section_by_name(".debug_str")
    if info is None:
        return []
    raw = info.data()
    needles = [want + b"\0"]
    if strs is not None:
        table, at = strs.data(), 0
        while (at := table.find(want + b"\0", at)) >= 0:
            needles.append(at.to_bytes(4, "little"))
            at += 1
    out = []
    for cu in units:
        start = cu.cu_offset
        end = start + cu["unit_length"] + cu.structs.initial_length_field_size()
        if any(raw.find(n, start, end) >= 0 for n in needles):
            out.append(cu)
    return out


def _other_string_forms(elf) -> bool:
    """Names might live where _units_naming does not look."""
    return any(elf.get_section_by_name(n) is not None
               for n in (".debug_str_offsets", ".gnu_debugaltlink"))


def _match(die, kind: str, want: bytes) -> TypeInfo | None:
    if die.attributes.get("DW_AT_name") is None or die.attributes["DW_AT_name"].value != want:
        return None
    if kind == "var" and die.tag == "DW_TAG_variable":
        t = _type_of(die)
        if t is not None and t.size:
            return t
    elif kind == "type" and (die.tag in _STRUCT_TAGS or die.tag == "DW_TAG_typedef"):
        if die.tag in _STRUCT_TAGS and "DW_AT_declaration" in die.attributes:
            return None
        t = _convert(die)
        if t.size or t.kind in ("struct", "union"):
            if t.kind in ("struct", "union") and not t.fields and t.size == 0:
                return None
            return t
    return None


def _type_of(die) -> TypeInfo | None:
    if "DW_AT_type" not in die.attributes:
        return None
    return _convert(die.get_DIE_from_attribute("DW_AT_type"))


def _name(die) -> str | None:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode(errors="replace") if a else None


def _size(die) -> int:
    a = die.attributes.get("DW_AT_byte_size")
    return a.value if a else 0


def _convert(die, depth: int = 0) -> TypeInfo:
    if depth > 64:
        return TypeInfo("void", None, 0)
    tag = die.tag
    if tag in _SKIP_TAGS:
        inner = _type_of(die)
        if inner is None:
            return TypeInfo("void", _name(die), 0)
        if tag == "DW_TAG_typedef" and inner.name is None:
            inner.name = _name(die)
        return inner
    if tag == "DW_TAG_base_type":
        return TypeInfo("base", _name(die), _size(die))
    if tag == "DW_TAG_enumeration_type":
        return TypeInfo("enum", _name(die), _size(die) or 4)
    if tag == "DW_TAG_pointer_type":
        target = None
        if "DW_AT_type" in die.attributes:
            t = die.get_DIE_from_attribute("DW_AT_type")
            while t.tag in _SKIP_TAGS and "DW_AT_type" in t.attributes and _name(t) is None:
                t = t.get_DIE_from_attribute("DW_AT_type")
            target = _name(t)
        return TypeInfo("pointer", None, _size(die) or 4, target=target)
    if tag == "DW_TAG_subroutine_type":
        return TypeInfo("func", None, 0)
    if tag in _STRUCT_TAGS:
        info = TypeInfo(_STRUCT_TAGS[tag], _name(die), _size(die))
        for child in die.iter_children():
            if child.tag != "DW_TAG_member":
                continue
            loc = child.attributes.get("DW_AT_data_member_location")
            off = loc.value if loc is not None and isinstance(loc.value, int) else 0
            fname = _name(child)
            ftype = _convert(child.get_DIE_from_attribute("DW_AT_type"), depth + 1)
            if "DW_AT_bit_size" in child.attributes:
                # a bitfield: DWARF 4+ gives its first bit from the struct's start; keep the
                # offset of the storage unit holding it and the bits within (little endian)
                width = child.attributes["DW_AT_bit_size"].value
                unit = ftype.size or 4
                if "DW_AT_data_bit_offset" in child.attributes:
                    first = child.attributes["DW_AT_data_bit_offset"].value
                    off = first // (8 * unit) * unit
                    ftype.bits = (first - 8 * off, width)
                elif "DW_AT_bit_offset" in child.attributes:      # DWARF 2/3: counted from the MSB
                    ftype.bits = (8 * unit - child.attributes["DW_AT_bit_offset"].value - width, width)
            if fname is None and ftype.kind in ("struct", "union"):
                for k, (o, t) in ftype.fields.items():   # anonymous member: lift its fields
                    info.fields[k] = (off + o, t)
            elif fname is not None:
                info.fields[fname] = (off, ftype)
        return info
    if tag == "DW_TAG_array_type":
        element = _convert(die.get_DIE_from_attribute("DW_AT_type"), depth + 1)
        count = None
        for child in die.iter_children():
            if child.tag == "DW_TAG_subrange_type":
                if "DW_AT_count" in child.attributes:
                    count = child.attributes["DW_AT_count"].value
                elif "DW_AT_upper_bound" in child.attributes:
                    count = child.attributes["DW_AT_upper_bound"].value + 1
                break
        size = element.size * count if count is not None else 0
        return TypeInfo("array", None, size, element=element, count=count)
    return TypeInfo("void", _name(die), _size(die))

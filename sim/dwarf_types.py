"""Reduce DWARF debug info entries to ``TypeInfo`` trees (used by sim.firmware only).

Pointers are not followed (only the target's name is kept), so recursive types
like linked lists terminate, and the result is small enough to cache as JSON.
"""

from __future__ import annotations

from .firmware import TypeInfo

_STRUCT_TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}
_SKIP_TAGS = {"DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type"}


def find(elf, key: str) -> TypeInfo | None:
    kind, name = key.split(":", 1)
    dwarf = elf.get_dwarf_info()
    want = name.encode()
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            if die.attributes.get("DW_AT_name") is None or die.attributes["DW_AT_name"].value != want:
                continue
            if kind == "var" and die.tag == "DW_TAG_variable":
                t = _type_of(die)
                if t is not None and t.size:
                    return t
            elif kind == "type" and (die.tag in _STRUCT_TAGS or die.tag == "DW_TAG_typedef"):
                if die.tag in _STRUCT_TAGS and "DW_AT_declaration" in die.attributes:
                    continue
                t = _convert(die)
                if t.size or t.kind in ("struct", "union"):
                    if t.kind in ("struct", "union") and not t.fields and t.size == 0:
                        continue
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

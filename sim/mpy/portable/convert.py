"""Blocks whose layout changed between two firmwares, rebuilt in the target's layout.

Each converter takes a portable block and both firmwares' layouts and returns the
block as the target's own constructor would have made it (size, field order, flags),
with its references moved along. Written from the constructors of each release:

- ``raw_code`` (py/emitglue.h): 1.23 replaced the ``kind:3, scope_flags:7,
  n_pos_args:11`` bit-fields by bytes (``proto_fun_indicator[2]`` = 0, 0 for a raw
  code, ``kind``, ``is_generator``);
- ``type`` (py/obj.h, objtype.c, objnamedtuple.c): 1.20 replaced one named field per
  slot by ``slot_index_*`` bytes and ``slots[]``; a class (``mp_obj_new_type``) gets its
  slots in the order make_new, print, call, unary_op, binary_op, attr, subscr, iter,
  buffer, locals_dict, [parent], [protocol] and the new MP_TYPE_FLAG_INSTANCE_TYPE; a
  namedtuple class (``mp_obj_new_namedtuple_type``) make_new, print, unary_op,
  binary_op, attr, subscr, iter, parent, in 8 inline slots before its fields.
"""

from __future__ import annotations

from ..objects import FIXED_NAMES
from . import MigrationError
from .export import PBlock

BLOCK = 16
INSTANCE_TYPE = 0x0200          # MP_TYPE_FLAG_INSTANCE_TYPE (1.20+)
CLASS_SLOTS = ("make_new", "print", "call", "unary_op", "binary_op", "attr", "subscr", "iter", "buffer",
               "locals_dict", "parent", "protocol")
NAMEDTUPLE_SLOTS = ("make_new", "print", "unary_op", "binary_op", "attr", "subscr", "iter", "parent")


def _round(n: int) -> int:
    return n + (-n % BLOCK)


def _uint(L, path: str, data: bytes) -> int:
    return L.read_uint(path, 0, lambda a, n: bytes(data[a:a + n]))


def _put(buf: bytearray, L, path: str, value: int) -> None:
    t, off = L.field(path), L.off(path)
    size = t.size if t.bits is None else 4
    cur = int.from_bytes(buf[off:off + size], "little")
    if t.bits is not None:
        shift, width = t.bits
        mask = ((1 << width) - 1) << shift
        cur = (cur & ~mask) | ((value << shift) & mask)
    else:
        cur = value
    buf[off:off + size] = cur.to_bytes(size, "little")


def raw_code(b: PBlock, src, dst) -> PBlock:
    kind = _uint(src, "mp_raw_code_t.kind", b.data)
    if src.has("mp_raw_code_t.is_generator"):
        gen = _uint(src, "mp_raw_code_t.is_generator", b.data)
    else:
        gen = _uint(src, "mp_raw_code_t.scope_flags", b.data) & 1       # MP_SCOPE_FLAG_GENERATOR
    out = bytearray(b.size)
    refs = []
    for f in ("fun_data", "children"):
        so, do = src.off(f"mp_raw_code_t.{f}"), dst.off(f"mp_raw_code_t.{f}")
        out[do:do + 4] = b.data[so:so + 4]
        refs += [(do, r) for off, r in b.refs if off == so]
    _put(out, dst, "mp_raw_code_t.kind", kind)
    if dst.has("mp_raw_code_t.is_generator"):
        _put(out, dst, "mp_raw_code_t.is_generator", gen)
    else:
        _put(out, dst, "mp_raw_code_t.scope_flags", _uint(src, "mp_raw_code_t.scope_flags", b.data)
             if src.has("mp_raw_code_t.scope_flags") else gen)
    return PBlock(b.role, b.label, b.size, bytes(out), sorted(refs), b.finaliser)


def type_fixed_to_slots(b: PBlock, src, dst) -> PBlock:
    """A class or namedtuple class made at run time, 1.19's fixed fields -> 1.20's slots."""
    if src.has("mp_obj_type_t.slots") or not dst.has("mp_obj_type_t.slots"):
        raise MigrationError(f"cannot migrate {b.label}: no converter between these type layouts")
    refs = dict(b.refs)

    def slot(name):
        off = src.off("mp_obj_type_t." + FIXED_NAMES.get(name, name))
        return off, int.from_bytes(b.data[off:off + 4], "little")
    make_new = refs.get(slot("make_new")[0], (None, ""))[1]
    if make_new == "namedtuple_make_new":
        order, n_inline = NAMEDTUPLE_SLOTS, 8
    elif make_new == "mp_obj_instance_make_new":
        order, n_inline = [s for s in CLASS_SLOTS if s not in ("parent", "protocol") or slot(s)[1]], None
    else:
        raise MigrationError(f"cannot migrate {b.label}: a type made at run time by {make_new or 'unknown code'}")
    flags = _uint(src, "mp_obj_type_t.flags", b.data)
    if n_inline is None:
        flags |= INSTANCE_TYPE
    slots_off = dst.off("mp_obj_type_t.slots")
    if n_inline is None:
        size = _round(slots_off + 4 * len(order))
        tail = b""
    else:
        nf_src = src.off("mp_obj_namedtuple_type_t.n_fields")
        n_fields = int.from_bytes(b.data[nf_src:nf_src + 4], "little")
        qsize = dst.field("mp_obj_namedtuple_type_t.fields").element.size
        if qsize != src.field("mp_obj_namedtuple_type_t.fields").element.size:
            raise MigrationError(f"cannot migrate {b.label}: its field names are stored in another width")
        f_src, f_dst = src.off("mp_obj_namedtuple_type_t.fields"), dst.off("mp_obj_namedtuple_type_t.fields")
        size = _round(f_dst + qsize * n_fields)
        tail = (n_fields, f_src, f_dst, qsize)
    out = bytearray(size)
    new_refs = [(0, refs[0])]
    out[0:4] = b.data[0:4]
    _put(out, dst, "mp_obj_type_t.flags", flags)
    name_src, name_dst = src.off("mp_obj_type_t.name"), dst.off("mp_obj_type_t.name")
    new_refs.append((name_dst, refs[name_src]))
    for i, name in enumerate(order):
        off, value = slot(name)
        out[dst.off(f"mp_obj_type_t.slot_index_{name}")] = i + 1
        d = slots_off + 4 * i
        out[d:d + 4] = value.to_bytes(4, "little")
        if off in refs:
            new_refs.append((d, refs[off]))
    if tail:
        n_fields, f_src, f_dst, qsize = tail
        nf_dst = dst.off("mp_obj_namedtuple_type_t.n_fields")
        out[nf_dst:nf_dst + 4] = n_fields.to_bytes(4, "little")
        for i in range(n_fields):
            s, d = f_src + qsize * i, f_dst + qsize * i
            out[d:d + qsize] = b.data[s:s + qsize]
            new_refs.append((d, refs[s]))
    return PBlock(b.role, b.label, size, bytes(out), sorted(new_refs), b.finaliser)


CONVERTERS = {"raw_code": raw_code, "type": type_fixed_to_slots}


def move_sys_path(portable, vm_fields: dict) -> bool:
    """1.21 moved ``sys.path`` from an inline list in ``vm`` (``mp_sys_path_obj``) to a heap
    list in ``sys_mutable[MP_SYS_MUTABLE_PATH]``, the first entry (py/mpstate.h,
    runtime.c). The inline list becomes a heap block, first in the new ``sys_mutable``;
    pointers to the old one point to it. True when it did so."""
    roots = portable.roots
    if "mp_sys_path_obj" not in roots or "mp_sys_path_obj" in vm_fields or "sys_mutable" not in roots:
        return False
    old, old_refs = roots["sys_mutable"]
    want = vm_fields.get("sys_mutable")
    if want is None or want[1].size != len(old) + 4:
        raise MigrationError("cannot migrate: sys.path moved out of vm.mp_sys_path_obj, and the new firmware's "
                             "sys_mutable is not the old one with the path in front")
    data, refs = roots.pop("mp_sys_path_obj")
    index = len(portable.blocks)
    portable.blocks.append(PBlock("list", "sys.path", _round(len(data)), data + bytes(_round(len(data)) - len(data)),
                                  list(refs)))

    def redirect(r):
        return ("heap", index, r[2]) if r[0] == "ctx" and r[1] == "mp_sys_path_obj" else r
    for b in portable.blocks:
        b.refs = [(o, redirect(r)) for o, r in b.refs]
    for name, (d, rs) in list(roots.items()):
        roots[name] = (d, [(o, redirect(r)) for o, r in rs])
    roots["sys_mutable"] = (bytes(4) + old, [(0, ("heap", index, 0))] + [(o + 4, r) for o, r in old_refs])
    return True

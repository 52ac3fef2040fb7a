"""The portable form as a standalone file: what a firmware update carries across.

zlib-compressed JSON (readable with any tool; no addresses that mean anything outside
their block, no qstr numbers): a header with the widths that matter to the loader
(word size, byte order, float format, qstr hash bytes) and the source firmware, then
the blocks (role, label, size, bytes, references, finaliser bit), the ``vm`` root
fields by name, and the GC settings. References are the lists of
sim.mpy.portable.export (heap / sym / ctx / qobj / qword / qshort / qvar).

The state file (sim.mpy.portable.statefile) carries this form; a migration inside one
process (``mpsim resume --firmware``) loads the exported form as it is, without making
the bytes (that took a fifth of the step): tests/portable/test_format.py keeps what the
file decodes to equal to what was exported.
"""

from __future__ import annotations

import base64
import json
import zlib

from . import MigrationError
from .export import PBlock, Portable

MAGIC = "mpsim-portable"
VERSION = 1


def widths(fw) -> dict:
    """The representation facts a loader must agree with (DWARF)."""
    from ..objects import Layout
    from .qstrs import QstrPools
    L = Layout(fw)
    return {"word": 4, "endian": "little", "float_bytes": fw.struct("mp_obj_float_t").fields["value"][1].size,
            "qstr_hash_bytes": QstrPools(L).hash_size}


def encode(p: Portable, fw) -> bytes:
    doc = {
        "format": MAGIC, "version": VERSION, "widths": widths(fw), "source": p.source,
        "blocks": [[b.role, b.label, b.size, _b64(b.data), b.refs, int(b.finaliser)] for b in p.blocks],
        "roots": {n: [_b64(d), refs] for n, (d, refs) in p.roots.items()},
        "mem": p.mem,
        "qstrs": sorted(t.decode("latin-1") for t in p.qstrs),
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)


def decode(data: bytes) -> tuple[Portable, dict]:
    """(the portable state, its widths)."""
    try:
        doc = json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as e:
        raise MigrationError(f"not a portable state file ({e})") from None
    if doc.get("format") != MAGIC or doc.get("version") != VERSION:
        raise MigrationError(f"not a portable state file of version {VERSION}")
    # references stay JSON lists ([offset, [kind, ...]]): the loader reads them by position
    blocks = [PBlock(role, label, size, base64.b64decode(d), refs, bool(fin))
              for role, label, size, d, refs, fin in doc["blocks"]]
    roots = {n: (base64.b64decode(d), refs) for n, (d, refs) in doc["roots"].items()}
    p = Portable(source=doc["source"], blocks=blocks, roots=roots, mem=doc["mem"],
                 qstrs={t.encode("latin-1") for t in doc["qstrs"]})
    return p, doc["widths"]


def check_widths(have: dict, target_fw) -> None:
    """Refuse a target whose representation differs where the loader cannot convert."""
    want = widths(target_fw)
    for key in ("word", "endian", "float_bytes", "qstr_hash_bytes"):
        if have.get(key) != want[key]:
            what = {"float_bytes": "floats", "qstr_hash_bytes": "string hashes"}.get(key, key)
            raise MigrationError(f"cannot migrate: {what} are {have.get(key)} bytes/kind in the saved state and "
                                 f"{want[key]} in the new firmware (not converted exactly)")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()

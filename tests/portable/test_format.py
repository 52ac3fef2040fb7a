"""The standalone portable form: what export makes of a real image comes back equal from
the file, and what is not such a file is refused in one line."""

from __future__ import annotations

import pytest

from sim.device import Board
from sim.mpy.portable import MigrationError
from sim.mpy.portable import format as portable_format
from sim.mpy.portable.export import export_image
from tests.firmware_versions import firmware_for


def _norm(refs):
    return sorted((o, tuple(r)) for o, r in refs)


def test_a_real_image_round_trips_through_the_file(tmp_path):
    with Board(firmware=firmware_for("1.22"), flash_path=tmp_path / "f.bin") as b:
        b.boot()
        b.repl.exec("x = {'k': [1, 2.5, 'made_' + 'here', b'\\x00', 2**90]}\nclass C:\n    pass\nc = C()")
        b.hibernate()
        image = b.hibernator.latest_usable_image()[0]
        p = export_image(b.firmware, image)
        data = portable_format.encode(p, b.firmware)
        q, widths = portable_format.decode(data)
        portable_format.check_widths(widths, b.firmware)
    assert widths == {"word": 4, "endian": "little", "float_bytes": 4, "qstr_hash_bytes": 2}
    assert q.source == p.source and q.mem == p.mem and q.qstrs == p.qstrs and b"made_here" not in q.qstrs
    assert [(b.role, b.label, b.size, b.data, _norm(b.refs), b.finaliser) for b in q.blocks] == \
        [(b.role, b.label, b.size, b.data, _norm(b.refs), b.finaliser) for b in p.blocks]
    assert {n: (d, _norm(r)) for n, (d, r) in q.roots.items()} == {n: (d, _norm(r)) for n, (d, r) in p.roots.items()}
    assert any(b.label == "instance of C" for b in q.blocks)


@pytest.mark.parametrize("data", [b"", b"not zlib", __import__("zlib").compress(b'{"format": "other"}')])
def test_what_is_not_a_portable_file_is_refused(data):
    with pytest.raises(MigrationError, match="not a portable state file"):
        portable_format.decode(data)

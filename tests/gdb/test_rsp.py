"""Packet framing on its own: checksums, escapes, a stream cut anywhere."""

from hypothesis import given, strategies as st

from sim.gdb import rsp


def test_frame_and_checksum():
    assert rsp.frame(b"OK") == b"$OK#9a"
    assert rsp.frame(b"") == b"$#00"


@given(st.binary(max_size=200))
def test_escape_round_trip_and_no_special_bytes(data):
    esc = rsp.escape(data)
    assert not set(esc) & set(b"#$*")
    assert rsp.unescape(esc) == data


@given(st.lists(st.binary(min_size=0, max_size=40).filter(lambda b: not set(b) & set(b"#$}")), max_size=5),
       st.integers(1, 7))
def test_packets_survive_any_split(payloads, step):
    stream = b"+".join(rsp.frame(p) for p in payloads)
    r = rsp.Reader(1000)
    events = []
    for i in range(0, len(stream), step):
        events += r.feed(stream[i:i + step])
    assert [e.payload for e in events if e.kind == "packet"] == payloads
    assert not r.mid_packet


def test_bad_checksum_interrupt_garbage_and_oversize():
    r = rsp.Reader(8)
    evs = r.feed(b"xx$g#00\x03$" + b"a" * 20 + b"#00" + b"$m0,4#fd")
    assert [e.kind for e in evs] == ["garbage", "bad_checksum", "interrupt", "too_long", "packet"]
    assert evs[-1].payload == b"m0,4"


def test_a_dollar_inside_a_packet_starts_a_new_one():
    r = rsp.Reader(100)
    evs = r.feed(b"$m1,2$g#67")
    assert [e.kind for e in evs] == ["garbage", "packet"] and evs[-1].payload == b"g"

"""GDB Remote Serial Protocol framing: ``$payload#cs``, acks, escapes, interrupts.

Only the byte level lives here (GDB's manual, "Overview" of the Remote Protocol):
a packet is ``$`` + payload + ``#`` + two hex digits of the payload's byte sum mod
256; the receiver acks ``+`` or asks for a resend with ``-``. A lone 0x03 outside a
packet is GDB's Ctrl-C. Binary data (``X`` packets, ``qXfer`` replies) escapes
``#$}*`` as ``}`` + (byte ^ 0x20). Replies are sent without run-length encoding.

``Reader`` is an incremental parser fed whatever the socket returned: it never
raises on bad input; it reports events, including the ones worth a line on stderr
(bad checksum, oversized packet, bytes outside any packet).
"""

from __future__ import annotations

from dataclasses import dataclass

INTERRUPT = 0x03
_ESCAPED = frozenset(b"#$}*")


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """A packet ready to send."""
    return b"$" + payload + b"#%02x" % checksum(payload)


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            b = next(it, 0x20 ^ 0x7D) ^ 0x20    # a trailing escape: keep the brace
        out.append(b)
    return bytes(out)


@dataclass(frozen=True)
class Event:
    """What the reader saw. kind: packet | interrupt | ack | nak | bad_checksum |
    too_long | garbage. ``payload``: the packet's payload (escapes left in place)."""
    kind: str
    payload: bytes = b""


class Reader:
    """Byte stream in, events out. ``max_payload``: longer packets are dropped whole
    (a ``too_long`` event, so the caller can ask for a resend)."""

    def __init__(self, max_payload: int):
        self.max_payload = max_payload
        self._state = "idle"            # idle | body | sum1 | sum2
        self._body = bytearray()
        self._sum = bytearray()
        self._overflow = False
        self._garbage = 0

    @property
    def mid_packet(self) -> bool:
        return self._state != "idle"

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for b in data:
            if self._state == "idle":
                if b == 0x24:                                    # '$'
                    self._flush_garbage(events)
                    self._state, self._overflow = "body", False
                    self._body.clear()
                elif b in (0x2B, 0x2D):                          # '+', '-'
                    self._flush_garbage(events)
                    events.append(Event("ack" if b == 0x2B else "nak"))
                elif b == INTERRUPT:
                    self._flush_garbage(events)
                    events.append(Event("interrupt"))
                else:
                    self._garbage += 1
            elif self._state == "body":
                if b == 0x23:                                    # '#'
                    self._state = "sum1"
                elif b == 0x24:                                  # '$' inside a packet: start over
                    self._garbage += len(self._body) + 1
                    self._flush_garbage(events)
                    self._body.clear()
                    self._overflow = False
                elif len(self._body) >= self.max_payload:
                    self._overflow = True
                else:
                    self._body.append(b)
            else:
                self._sum.append(b)
                if self._state == "sum1":
                    self._state = "sum2"
                    continue
                self._state = "idle"
                events.append(self._finish())
        self._flush_garbage(events)
        return events

    def _finish(self) -> Event:
        text, self._sum = bytes(self._sum), bytearray()
        payload = bytes(self._body)
        self._body.clear()
        if self._overflow:
            return Event("too_long", payload[:32])
        try:
            ok = int(text, 16) == checksum(payload)
        except ValueError:
            ok = False
        return Event("packet", payload) if ok else Event("bad_checksum", payload[:32])

    def _flush_garbage(self, events: list[Event]) -> None:
        if self._garbage:
            events.append(Event("garbage", str(self._garbage).encode()))
            self._garbage = 0

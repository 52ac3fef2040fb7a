"""Type into ``mpsim serve``'s TCP console, then hang up: ``serial_send.py PORT TEXT``.

Run by GDB's ``shell`` command in the tests, so that serial input arrives at a
known point of a GDB script (the board is halted then: the bridge holds it until
GDB continues). ``\\r`` in TEXT is a carriage return."""

import socket
import sys

with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    s.sendall(sys.argv[2].replace("\\r", "\r").encode())

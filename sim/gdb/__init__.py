"""A GDB remote stub for the emulated board (``mpsim serve --gdb PORT``).

    rsp.py      packet framing: checksums, acks, escapes, Ctrl-C
    targets.py  registers and memory as data: target description and memory-map XML
    session.py  the commands of one connection (no sockets)
    server.py   TCP, one client at a time, and the small interface a board loop calls

The stub drives the board only through ``Machine``'s public methods; breakpoints
and watchpoints are Unicorn hooks bound to their addresses (Machine.add_breakpoint),
so a board with none set runs exactly as fast as without a debugger.
"""

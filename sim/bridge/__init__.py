"""The board's console UART on a host serial endpoint: a pseudo-terminal or TCP.

What ``mpsim serve`` runs. Like QEMU's ``-serial pty`` / ``-serial tcp::N,server``:
a stock serial tool (mpremote, picocom, screen, pyserial) attaches to the
simulated board exactly as to a real one, and may come and go while the board
keeps running.

- ``endpoint``: what every serial endpoint offers the loop (at most one client);
- ``pty``: a pseudo-terminal pair, clients open ``/dev/pts/N``;
- ``tcp``: a loopback TCP server, raw bytes;
- ``control``: the unix-socket line protocol (hibernate, power-cycle, ...);
- ``loop``: the one thread that runs the machine and moves bytes between all of them.
"""

"""Differential test: the same ELF and the same typed input through mpsim and QEMU.

The reference is ``qemu-system-arm -M mps2-an385 -nographic -monitor none
-semihosting -serial stdio -kernel ELF`` (``-monitor none``: with ``-nographic``
alone the monitor shares stdio, which QEMU refuses next to ``-serial stdio``, and
its mux would eat Ctrl-A, the raw REPL's key). mpsim runs the same ELF on a
``sim.device.Board``, in default and in deterministic mode, driven through the
Board's own byte link (``board.repl.link``).

Both sides get the same transcript, step by step: bytes to send and the marker
that ends the step's output (a prompt). Input is paced like a host serial tool:
one byte at a time ("typed") or in 32-byte chunks, each followed by its time on a
115200-baud wire; a step starts only when the previous one has ended at its
prompt, so the output does not depend on host speed. The UART output is compared
BYTE FOR BYTE, with nothing normalised: banner, echo, prompts, results, tracebacks.

Skipped with the reason when QEMU or the firmware is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from sim.paths import default_firmware
from tests.firmware_versions import firmware_for

ELF = default_firmware("mps2-an385")
# The byte-for-byte comparison runs on each of these (issue 13: the oldest core and the default);
# a version not built is skipped with where its ELF was looked for.
VERSIONS = ("1.9.2", "1.23")
QEMU = shutil.which("qemu-system-arm")

pytestmark = [
    pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm): "
                                            "no reference to compare mpsim with"),
    pytest.mark.skipif(not ELF.exists(), reason=f"firmware not built ({ELF}); run: bash tools/setup"),
]

PROMPT = b">>> "
MORE = b"... "
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
RAW_END = b"\x04>"
BYTE_S = 10 / 115200          # one byte on a 115200-baud 8N1 wire
STEP_TIMEOUT = 20.0

# -- the transcript ------------------------------------------------------------------------------------
# (bytes to send, marker that ends the output of this step[, "burst": sent at once whatever the
# pacing]). "\r" is Enter, as a terminal sends it.
F = [
    (b"", PROMPT),                                                  # the banner
    (b"print(1 + 1)\r", PROMPT),
    (b"7 * 6, 7 / 2, 7 // 2, -7 // 2, -7 % 3, 2 ** 10, divmod(-17, 5)\r", PROMPT),
    (b"1 << 200\r", PROMPT),
    (b"2 ** 100, (1 << 70) // 3, -(2 ** 65) >> 3, (2 ** 64 - 1) & ~0xFFFF\r", PROMPT),
    (b"pow(3, 200, 10 ** 9 + 7), int('123456789' * 5) * 987654321, hex(2 ** 80), bin(-37)\r", PROMPT),
    (b"12345678901234567890 // 987654321, 12345678901234567890 % 987654321, -(10 ** 30) // 7\r", PROMPT),
    (b"1 / 3, 2 / 3, 0.1 + 0.2, 1e100, 1.5e-7, -0.0, 123456789.0, 1e16, 3.14159265358979\r", PROMPT),
    (b"float('inf'), float('-inf'), float('nan'), round(2.675, 2), int(-2.5), 7.0 // 2, 7.5 % 2\r", PROMPT),
    (b"'%.3f|%10.4e|%g|%08.2f' % (3.14159, 12345.678, 0.00001234, -3.5)\r", PROMPT),
    (b"import math; math.sqrt(2), math.sin(1), math.exp(10), math.log(7), math.pi, math.atan2(1, -1)\r", PROMPT),
    (b"1/0\r", PROMPT),
    (b"[1, 2][5]\r", PROMPT),
    (b"undefined_name\r", PROMPT),
    (b"int('12x')\r", PROMPT),
    (b"def twice(n):\r", MORE),
    (b"return 2 * n\r", MORE),
    (b"\r\r\r", PROMPT),
    (b"twice(21), twice('ab')\r", PROMPT),
    (b"def fails(x):\r", MORE),
    (b"y = x + 1\r", MORE),
    (b"return y / 0\r", MORE),
    (b"\r\r\r", PROMPT),
    (b"fails(1)\r", PROMPT),
    (b"for i in range(3):\r", MORE),
    (b"print(i, i * i)\r", MORE),
    (b"\r\r\r", PROMPT),
    (b"import time; time.sleep_ms(50); print('slept')\r", PROMPT),
    (b"time.sleep_us(1500); time.sleep(0); print('slept again')\r", PROMPT),
    (b"time.sleep_ms(200)\r", b"\r\n"),                               # typed ahead while the board sleeps
    (b"print('typed ahead')\r", b"typed ahead\r\n>>> "),
    (b"import board; board.leds(0); board.LED(0).on(); board.leds()\r", PROMPT),
    (b"board.LED(1).toggle(); board.leds(), board.LED(0).value(), board.LED(1).value()\r", PROMPT),
    (b"board.LED(0).toggle(); board.leds(3); board.leds(), board.LED(0).value()\r", PROMPT),
    (b"board.leds(0); board.leds()\r", PROMPT),
    (b"import struct, array, collections\r", PROMPT),
    (b"struct.pack('<hHiIbB', -2, 65535, -100000, 4000000000, -1, 255)\r", PROMPT),
    (b"struct.unpack('<IhB', b'\\x01\\x02\\x03\\x04\\xff\\xfe\\x07'), struct.calcsize('<iHb')\r", PROMPT),
    (b"struct.pack('>f', 1.5), struct.pack('<d', -2.25), struct.unpack('<f', b'\\x00\\x00\\xc0\\x3f')\r", PROMPT),
    (b"a = array.array('i', [3, -1, 7]); a.append(9); a, sum(a), array.array('B', b'xyz')\r", PROMPT),
    (b"collections.OrderedDict([('z', 1), ('a', 2)]), collections.namedtuple('P', 'x y')(1, 2)\r", PROMPT),
    (b"d = {}\r", PROMPT),
    (b"for k in ('zeta', 'alpha', 'mid', 1, 2.5, 'k2', b'raw', None, -3, (1, 2)): d[k] = len(d)\r", MORE),
    (b"\r", PROMPT),
    (b"d\r", PROMPT),
    (b"list(d.keys()), {1, 2, 3, 'a', 'b'}, {'x': [1, {'y': (2,)}]}\r", PROMPT),
    (b"s = 'Hello, World'; s.upper(), s.lower(), s.split(', '), s.find('o'), s.rfind('o'), s[1:-1]\r", PROMPT),
    (b"'  pad '.strip(), '-'.join(['a', 'b', 'c']), 'a,b,,c'.split(','), 'abcabc'.replace('b', 'XY', 1)\r",
     PROMPT),
    (b"'{:>8}|{:<4}|{:^6}|{:05d}|{!r}'.format('r', 'l', 'c', 42, 'q'), '%s=%d %r' % ('k', 7, b'\\x00')\r",
     PROMPT),
    (b"'x'.join(map(str, range(5))), 'AbC'.isupper(), '123'.isdigit(), 'caf\xc3\xa9', len('caf\xc3\xa9')\r",
     PROMPT),
    (b"b'\\x00\\xffabc', bytes(range(5)), bytearray(b'hi') + b'!', str(b'q', 'utf-8'), repr('\\n\\t\\x01')\r",
     PROMPT),
    (b"[x * x for x in range(10) if x % 2], sorted([3, 1, 2], reverse=True), list(zip('ab', [1, 2]))\r",
     PROMPT),
    (b"import gc; _ = gc.collect(); gc.mem_free() > 1000, gc.mem_alloc() > 0\r", PROMPT),
    (b"import sys; sys.platform, sys.byteorder, sys.maxsize, sys.implementation.name\r", PROMPT),
    (b"try:\r", MORE),
    (b"raise ValueError('boom', 42)\r", MORE),
    (b"\x08\x08\x08\x08except ValueError as e:\r", MORE),      # backspace out of the auto-indent
    (b"print('caught', e.args)\r", MORE),
    (b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7ffinally:\r", MORE),        # DEL works as backspace too
    (b"print('finally')\r", MORE),
    (b"\r\r\r", PROMPT),
    (b"class Point:\r", MORE),
    (b"def __init__(self, x): self.x = x\r", MORE),
    (b"def __repr__(self): return 'Point(%d)' % self.x\r", MORE),
    (b"\r\r\r", PROMPT),
    (b"[Point(i) for i in range(3)]\r", PROMPT),
    (b"name = input('name? ')\r", b"name? "),                       # input() reads the UART too
    (b"bob\r", PROMPT),
    (b"name, len(name)\r", PROMPT),
    (b"board.buttons(), board.NUM_LEDS, sorted(dir(board))\r", PROMPT),
    (b"help()\r", PROMPT),
    (b"help('modules')\r", PROMPT),
    (b"\x05", b"=== "),                                               # paste mode
    (b"def fact(n):\r    return 1 if n < 2 else n * fact(n - 1)\rprint(fact(30))\r\x04", PROMPT),
    (b"while True: pass\r", MORE),                                    # Ctrl-C out of a loop
    (b"\r", None),                                                    # runs; no marker: wait, then interrupt
    (b"\x03", PROMPT),
    (b"i = 0\r", PROMPT),
    (b"while True: i += 1\r", MORE),
    (b"\r", None),
    (b"\x03", PROMPT),
    (b"i > 0\r", PROMPT),
    (b"12345\x1b[D\x1b[D\x08\x1b[C9\r", PROMPT),                         # cursor keys in the line editor
    (b"print('alive')\r", PROMPT),
]

R = [
    (b"\x01", RAW_PROMPT),                                           # raw REPL
    (b"print(6 * 7)\x04", RAW_END),
    (b"x = [i ** 3 for i in range(20)]\nprint(sum(x), x[-1])\nprint(2 ** 99)\x04", RAW_END),
    (b"def g(n):\n    for i in range(n):\n        yield i * 2\nprint(list(g(6)))\x04", RAW_END),
    (b"import struct\nprint(struct.pack('<Ii', 1, -2), 1.0 / 7)\x04", RAW_END),
    (b"def bad():\n    return {}['missing']\nbad()\x04", RAW_END),      # traceback in the second section
    (b"raise ValueError('x')\x04", RAW_END),
    (b"print('partial'); 1/0\x04", RAW_END),
    (b"syntax error here\x04", RAW_END),
    ("s = 'café ✓'\nprint(s, len(s), s.encode(), s.upper(), s[3:])\x04".encode(), RAW_END),
    (b"import board\nboard.LED(1).on()\nprint(board.leds())\nboard.leds(0)\x04", RAW_END),
    # A program longer than the firmware's receive ring: the pacing must get it through intact.
    (b"\n".join(b"v%d = %d * %d  # line %d padding padding padding" % (i, i, i + 1, i) for i in range(30))
     + b"\nprint(v29, v0, v15)\x04", RAW_END),
    (b"import time\ntime.sleep_ms(20)\nprint('raw slept')\x04", RAW_END),
    (b"\x02", PROMPT),                                               # back to the friendly REPL
    (b"print('friendly again')\r", PROMPT),
    (b"\x04", PROMPT),                                               # soft reset: banner again
    (b"x\r", PROMPT),
]

# Edges: control keys where they do nothing much, the interpreter's own limits, long output,
# input typed ahead while the board is busy, interrupting the raw REPL, soft reset from it.
E = [
    (b"", PROMPT),
    (b"\x03", PROMPT),                                               # Ctrl-C at the prompt
    (b"\x02", PROMPT),                                               # Ctrl-B: banner again
    (b"\x05", b"=== "),
    (b"print(1)\r", b"=== "),
    (b"\x03", PROMPT),                                               # paste mode cancelled
    (b"def r(n): return r(n + 1)\r", MORE),
    (b"\r", PROMPT),
    (b"r(0)\r", PROMPT),                                             # RuntimeError: recursion depth
    (b"bytearray(10 ** 7)\r", PROMPT),                               # MemoryError
    (b"x = [0] * 100000; len(x)\r", PROMPT),
    (b"print('0123456789' * 300)\r", PROMPT),                        # 3 KB of output at once
    (b"for i in range(30000): pass\r", MORE),
    (b"\r", b"\r\n"),
    (b"print('typed during work')\r", b"work\r\n>>> "),            # typed while the loop runs
    (b"import time; time.sleep_ms(300)\r", b"\r\n"),
    (b"".join(b"a%d = %d\r" % (i, i) for i in range(20)), b"a19 = 19\r\n>>> "),   # 170 B typed ahead
    (b"a0 + a19\r", PROMPT),
    # 340 B typed during a sleep: the firmware's 256-byte receive ring overflows and drops the
    # rest (uart.c), on QEMU and on mpsim alike: the REPL sees a0..a29 and a partial "a30 = ".
    (b"time.sleep_ms(2000)\r", b"\r\n"),
    (b"".join(b"a%d = %d\r" % (i, i) for i in range(40)), b">>> a30 = ", "burst"),
    (b"\x03", PROMPT),
    (b"a29, 'a30' in globals()\r", PROMPT),
    (b"\x01", RAW_PROMPT),
    (b"while True: time.sleep_ms(1)\x04", b"OK"),
    (b"", None),                                                     # let it run, as a person would
    (b"\x03", RAW_END),                                              # KeyboardInterrupt in the raw REPL
    (b"\x04", RAW_PROMPT),                                           # Ctrl-D on an empty raw line: soft reset
    (b"print('after raw soft reset')\x04", RAW_END),
    (b"\x02", PROMPT),
    (b"time\r", PROMPT),                                             # NameError: the reset cleared it
]

TRANSCRIPTS = {"friendly": F, "raw": R, "edges": E}
PACING = {"typed": 1, "chunks": 32}


# -- the two sides --------------------------------------------------------------------------------------
class Side:
    """Send bytes paced; collect output up to a marker. ``steps`` is the output per step."""

    def run(self, steps, chunk: int) -> list[bytes]:
        out = []
        for send, marker, *burst in steps:
            self.send(send, len(send) or 1 if burst else chunk)   # a burst: all at once, whatever the pacing
            if marker is None:               # code left running (a loop): give it time, then go on
                self.spin(0.3)
                out.append(self.take())
            else:
                out.append(self.expect(marker))
        out.append(self.settle())
        return out


def boot_params(heap: tuple[int, int] | None, elf=ELF) -> list[str]:
    """QEMU generic-loader devices that fill the firmware's boot-parameter block (magic,
    heap start, heap end at mpsim_boot_params) before reset, as mpsim's Board(heap=...) does."""
    if heap is None:
        return []
    from sim.firmware import Firmware
    addr = Firmware.load(elf).symbol("mpsim_boot_params").addr
    args = []
    for i, value in enumerate((0x4D505348, *heap)):
        args += ["-device", f"loader,addr={addr + 4 * i:#x},data={value:#x},data-len=4"]
    return args


class QemuSide(Side):
    def __init__(self, heap: tuple[int, int] | None = None, trace_leds: bool = False, elf=ELF):
        trace = ["-trace", "led_change_intensity"] if trace_leds else []
        self.proc = subprocess.Popen(
            [QEMU, "-M", "mps2-an385", "-nographic", "-monitor", "none", "-semihosting",
             "-serial", "stdio", "-kernel", str(elf), *boot_params(heap, elf), *trace],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if trace_leds else subprocess.DEVNULL)
        self.buf = bytearray()
        self.trace = bytearray()      # QEMU's LED trace events (stderr)
        self.cond = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.buf), daemon=True).start()
        if trace_leds:
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.trace), daemon=True).start()

    def _pump(self, stream, buf):
        while chunk := stream.read1(4096):
            with self.cond:
                buf += chunk
                self.cond.notify_all()

    def leds(self) -> int:
        """The LED mask as QEMU's trace events left it ("'USERLEDn' ... X% -> Y%")."""
        import re
        time.sleep(0.05)                      # the trace pipe is separate from the UART's
        mask = 0
        with self.cond:
            for n, pct in re.findall(rb"'USERLED(\d+)' color:\w+ intensity \d+% -> (\d+)%", bytes(self.trace)):
                mask = mask | (1 << int(n)) if int(pct) else mask & ~(1 << int(n))
        return mask

    def send(self, data: bytes, chunk: int) -> None:
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            self.proc.stdin.write(piece)
            self.proc.stdin.flush()
            time.sleep(len(piece) * BYTE_S + 0.0005)

    def expect(self, marker: bytes) -> bytes:
        deadline = time.monotonic() + STEP_TIMEOUT
        with self.cond:
            while (i := self.buf.find(marker)) < 0:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"QEMU: no {marker!r} within {STEP_TIMEOUT} s; got {bytes(self.buf)!r}")
                self.cond.wait(left)
            got = bytes(self.buf[:i + len(marker)])
            del self.buf[:i + len(marker)]
            return got

    def spin(self, seconds: float) -> None:
        time.sleep(seconds)

    def take(self) -> bytes:
        with self.cond:
            got = bytes(self.buf)
            self.buf.clear()
            return got

    def settle(self) -> bytes:
        time.sleep(0.2)
        return self.take()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


class SimSide(Side):
    """A ``Board`` booted by power-on reset; everything through ``board.repl.link``
    (the Board's byte link over the console UART), banner included."""

    def __init__(self, board, host_paced_waits: bool = False, power_on: bool = True):
        from sim.mpy import heap_config
        self.board = board
        self.host_paced_waits = host_paced_waits
        if power_on:            # else: the board as it is (e.g. just resumed, at its prompt)
            board.machine.reset()
            heap_config.apply(board.machine, board.heap)
        self.link = board.repl.link
        self.buf = bytearray()

    def send(self, data: bytes, chunk: int) -> None:
        m = self.board.machine
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            self.link.write(piece)
            # the piece's time on the wire, in the board's time
            m.run(until_ns=m.now_ns + int(len(piece) * BYTE_S * 1e9), timeout_s=1.0, stop_on_idle=False)
            self.buf += m.console.take_output()

    def expect(self, marker: bytes) -> bytes:
        deadline = time.monotonic() + STEP_TIMEOUT
        while (i := self.buf.find(marker)) < 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"mpsim: no {marker!r} within {STEP_TIMEOUT} s; got {bytes(self.buf)!r}")
            self.buf += self.link.read(0.2)
        got = bytes(self.buf[:i + len(marker)])
        del self.buf[:i + len(marker)]
        return got

    def spin(self, seconds: float) -> None:
        """A person's pause: ``seconds`` of the board's time (default), or -- as ``mpsim
        repl`` waits -- of host time with the board running freely (sleeps fast-forwarded)."""
        if self.host_paced_waits:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                self.buf += self.link.read(left)
            return
        m = self.board.machine
        m.run(until_ns=m.now_ns + int(seconds * 1e9), timeout_s=seconds * 3, stop_on_idle=False)
        self.buf += m.console.take_output()

    def take(self) -> bytes:
        got = bytes(self.buf)
        self.buf.clear()
        return got

    def settle(self) -> bytes:
        self.buf += self.link.read(0.2)
        return self.take()


# -- comparison -----------------------------------------------------------------------------------------
def first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def explain(name: str, steps, want: list[bytes], got: list[bytes]) -> str:
    lines = [f"{name}: mpsim's UART output differs from QEMU's"]
    for k, (w, g) in enumerate(zip(want, got)):
        if w != g:
            sent = steps[k][0] if k < len(steps) else b"(after the last step)"
            i = first_difference(w, g)
            lines += [f"first differing step {k}: sent {sent!r}",
                      f"  at byte {i}: QEMU {w[max(0, i - 40):i + 60]!r}",
                      f"            mpsim {g[max(0, i - 40):i + 60]!r}",
                      f"  QEMU step output:  {w!r}", f"  mpsim step output: {g!r}"]
            break
    return "\n".join(lines)


def compare(name: str, steps, mode: str, pacing: str, make_board, heap=None, **side) -> None:
    want = reference(name, pacing, steps, heap)
    board = make_board(boot=False, deterministic=(mode == "deterministic"), heap=heap)
    got = SimSide(board, **side).run(steps, PACING[pacing])
    assert got == want, explain(f"{name}/{mode}/{pacing}", steps, want, got)


_reference: dict[tuple, list[bytes]] = {}


def reference(name: str, pacing: str, steps=None, heap=None, elf=ELF) -> list[bytes]:
    key = (name, pacing, heap, elf)
    if key not in _reference:
        q = QemuSide(heap, elf=elf)
        try:
            _reference[key] = q.run(TRANSCRIPTS[name] if steps is None else steps, PACING[pacing])
        finally:
            q.close()
    return _reference[key]


@pytest.fixture
def board_on(tmp_path):
    """Factory: a Board (not booted) on the given firmware ELF; closed after the test."""
    from sim.device import Board
    made = []

    def make(elf, deterministic: bool):
        made.append(Board("mps2-an385", elf, flash_path=tmp_path / f"flash{len(made)}.bin",
                          deterministic=deterministic))
        return made[-1]
    yield make
    for b in made:
        b.close()


@pytest.mark.parametrize("pacing", list(PACING))
@pytest.mark.parametrize("name", list(TRANSCRIPTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_qemu_reference_is_stable(version, name, pacing):
    """The reference itself: QEMU gives the same bytes however the input is paced."""
    elf = firmware_for(version)
    other = "chunks" if pacing == "typed" else "typed"
    a, b = reference(name, pacing, elf=elf), reference(name, other, elf=elf)
    assert a == b, explain(f"QEMU {pacing} vs {other}", TRANSCRIPTS[name], a, b)


@pytest.mark.parametrize("pacing", list(PACING))
@pytest.mark.parametrize("mode", ["default", "deterministic"])
@pytest.mark.parametrize("name", list(TRANSCRIPTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_mpsim_matches_qemu_byte_for_byte(board_on, version, name, mode, pacing):
    elf = firmware_for(version)
    want = reference(name, pacing, elf=elf)
    board = board_on(elf, deterministic=(mode == "deterministic"))
    got = SimSide(board).run(TRANSCRIPTS[name], PACING[pacing])
    assert got == want, explain(f"{name}/{mode}/{pacing}", TRANSCRIPTS[name], want, got)
    # and the transcript did what it is for (guards against both sides failing alike)
    text = b"".join(want)
    assert b"MicroPython v%s" % version.encode() in text and b"Traceback" in text
    if name == "edges":
        assert b"RuntimeError: maximum recursion depth exceeded" in text and b"MemoryError" in text
        assert b"typed during work\r\n" in text and b"a0 + a19\r\n19\r\n" in text and b"after raw soft reset" in text
    elif name == "friendly":
        assert b"KeyboardInterrupt" in text and b"265252859812191058636308480000000" in text
        assert b"(3, 1, 1)" in text and b"slept again" in text and b"caught ('boom', 42)" in text
    else:
        assert b"OK42\r\n\x04\x04>" in text and b"friendly again" in text


# -- known divergences, kept visible ----------------------------------------------------------------------
SLEEP_INTERRUPTED = [
    (b"", PROMPT),
    (b"import time; time.sleep_ms(5000)\r", b"\r\n"),
    (b"", None),                  # a person's pause (the Ctrl-C must come after the line starts running)
    (b"\x03", PROMPT),
    (b"print('next')\r", PROMPT),
]


def test_ctrl_c_during_a_long_sleep_paused_in_board_time(make_board):
    """Waiting in the board's time, mpsim's sleep is interruptible exactly like QEMU's."""
    for mode in ("default", "deterministic"):
        compare("sleep-interrupted", SLEEP_INTERRUPTED, mode, "chunks", make_board)


@pytest.mark.xfail(strict=True, reason="by design (sim/machine/clock.py): a free-running mpsim (Board.repl, mpsim serve; mpsim repl keeps to the wall clock only on a terminal) "
                                       "fast-forwards a sleeping firmware's clock, so time.sleep_ms(5000) is over "
                                       "before a person's Ctrl-C arrives; QEMU sleeps in real time and the Ctrl-C "
                                       "interrupts it (KeyboardInterrupt). Deterministic mode only: in the "
                                       "default mode how far the clock runs ahead in a host pause depends on "
                                       "host load")
def test_ctrl_c_during_a_long_sleep_paused_in_host_time(make_board):
    compare("sleep-interrupted", SLEEP_INTERRUPTED, "deterministic", "chunks", make_board, host_paced_waits=True)


# -- heap-exact: the interpreter's memory, not just its answers ----------------------------------------------
# Addresses, free/used counts, the GC block map and stack use depend on every allocation the
# firmware made since reset: equal bytes here mean the same instructions ran with the same effects.
HEAP = [
    (b"", PROMPT),
    (b"import gc, micropython; gc.collect(); gc.mem_free(), gc.mem_alloc()\r", PROMPT),
    (b"x = [1, 2, 3]; d = {'k': x}; hex(id(x)), hex(id(d)), hex(id(None)), hex(id(print))\r", PROMPT),
    (b"micropython.mem_info()\r", PROMPT),
    (b"micropython.mem_info(1)\r", PROMPT),
    (b"micropython.qstr_info()\r", PROMPT),
    (b"micropython.stack_use()\r", PROMPT),
    (b"big = [bytearray(100) for i in range(50)]; del big[10:30]; gc.collect(); gc.mem_free()\r", PROMPT),
]


@pytest.mark.parametrize("heap", [None, (0x2010_0000, 0x2014_0000)], ids=["static-heap", "moved-heap"])
def test_heap_dependent_output_is_identical(make_board, heap):
    """Deterministic mode only: gc.collect() scans the C stack conservatively, and where a
    SysTick interrupt happens to land decides which stale words it sees there, so heap
    counts legitimately vary with host timing (in QEMU as well as in mpsim's default mode;
    seen once in ~50 loaded runs as a block's difference in gc.mem_free())."""
    compare("heap", HEAP, "deterministic", "chunks", make_board, heap=heap)


# -- hibernate in the middle: mpsim resumed vs QEMU never interrupted -----------------------------------------
BEFORE = [
    (b"", PROMPT),
    (b"import board; x = [i * i for i in range(10)]; d = {'a': x, 'b': 2 ** 90, 'c': 'text'}\r", PROMPT),
    (b"def f(n):\r", MORE), (b"return n + len(x)\r", MORE), (b"\r\r\r", PROMPT),
    (b"g = (i for i in range(5)); next(g); board.leds(0); board.LED(1).on()\r", PROMPT),
    (b"class C:\r", MORE), (b"def __init__(self): self.v = [1.5, b'\\x00']\r", MORE), (b"\r\r\r", PROMPT),
    (b"c = C()\r", PROMPT),
]
AFTER = [
    (b"\r", PROMPT),
    (b"x, d, f(1), next(g), list(g), board.leds(), c.v, type(c).__name__\r", PROMPT),
    (b"d['b'] * 3 + 1, sorted(d), [k for k in globals() if not k.startswith('_')]\r", PROMPT),
    (b"1/0\r", PROMPT),
]


@pytest.mark.parametrize("mode", ["default", "deterministic"])
def test_resumed_session_answers_like_an_uninterrupted_one(make_board, mode):
    """mpsim: BEFORE, hibernate, power cycle, resume, AFTER. QEMU: BEFORE then AFTER with no
    interruption. AFTER's output must be the same bytes. (Heap statistics are not compared:
    the resumed REPL allocates its line buffer afresh, so gc.mem_free() may differ by a block.)"""
    want = reference("hibernate", "chunks", BEFORE + AFTER)[len(BEFORE):]
    board = make_board(boot=False, deterministic=(mode == "deterministic"))
    SimSide(board).run(BEFORE, PACING["chunks"])
    board.hibernate()
    board.power_cycle()
    board.resume()
    got = SimSide(board, power_on=False).run(AFTER, PACING["chunks"])
    assert got == want, explain(f"resumed/{mode}", AFTER, want, got)
    assert b"1237940039285380274899124224" in b"".join(want)


# -- LEDs as the hardware shows them (not as the firmware reads them back) -------------------------------------
LED_STEPS = [
    (b"", PROMPT),
    (b"import board; board.leds(0)\r", PROMPT),
    (b"board.LED(0).on()\r", PROMPT),
    (b"board.LED(1).toggle()\r", PROMPT),
    (b"board.LED(0).off()\r", PROMPT),
    (b"board.leds(3)\r", PROMPT),
    (b"board.LED(1).off(); board.LED(1).off()\r", PROMPT),
    (b"for i in range(7): board.LED(i % 2).toggle()\r", MORE),
    (b"\r", PROMPT),
    (b"board.leds(0)\r", PROMPT),
]


@pytest.mark.parametrize("mode", ["default", "deterministic"])
def test_led_hardware_state_matches_qemus_led_model(make_board, mode):
    """After every step, the FPGA I/O LED outputs: QEMU's led_change_intensity trace vs the
    mpsim fpgaio model's register. (The UART text is compared as everywhere else.)"""
    q = QemuSide(trace_leds=True)
    want, want_leds = [], []
    try:
        for send, marker in LED_STEPS:
            q.send(send, PACING["chunks"])
            want.append(q.expect(marker))
            want_leds.append(q.leds())
    finally:
        q.close()
    board = make_board(boot=False, deterministic=(mode == "deterministic"))
    side = SimSide(board)
    fpgaio = next(p for p in board.machine.peripherals.values() if p.type_name == "mps2_fpgaio")
    got, got_leds = [], []
    for send, marker in LED_STEPS:
        side.send(send, PACING["chunks"])
        got.append(side.expect(marker))
        got_leds.append(fpgaio.led0)
    assert got == want, explain(f"leds/{mode}", LED_STEPS, want, got)
    # Power-on, before the firmware first writes LED0: QEMU 7.2's LED devices come out of reset
    # lit (trace: 'USERLEDn' 0% -> 100%) while its FPGA register reads 0 (board.leds() == 0);
    # mpsim shows the register's 0. A QEMU quirk, so the comparison starts at the first write.
    assert got_leds[0] == 0 and want_leds[0] in (0, 3)
    assert got_leds[1:] == want_leds[1:], f"LED masks per step: QEMU {want_leds}, mpsim {got_leds}"
    assert want_leds[1:] == [0, 1, 3, 2, 3, 1, 1, 3, 0]

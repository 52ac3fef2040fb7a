"""ROMFS: a directory packed by ``mpsim romfs`` (sim.romfs), loaded at 0x21000000, read
by the firmware (firmware/romfs.c) -- the same as upstream MicroPython does it.

- The writer against upstream's: ``mpremote``'s own ROMFS builder (mpremote 1.25+, a
  dev dependency) packs the same tree into the same bytes.
- The firmware against QEMU: the same ELF and the same image, loaded with ``mpsim``'s
  ``--load IMG@0x21000000`` and with QEMU's ``-device loader,file=IMG,addr=0x21000000,
  force-raw=on``, give byte-identical UART output (mps2-an385: 1.9.2, 1.19, 1.23; virt-rv64: 1.23)
  for a session that imports modules
  from the image (top level, a package on an added sys.path entry, a module with a
  syntax error), reads files and lists directories, soft-resets and uses the raw REPL;
  and that output holds what the files say. Also for a truncated image, noise after a
  valid header, garbage where the image should be, and no image at all (the firmware
  then has no ROMFS: ENODEV).
- Refusals of the writer, one line each; ``--load`` refusals are in tests/machine/test_load.py.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sim import romfs
from sim.firmware import Firmware
from sim.machine import loads
from sim.paths import firmware_elf
from tests.fidelity.test_differential import MORE, PROMPT, QEMU, RAW_END, RAW_PROMPT, QemuSide, SimSide, explain
from tests.firmware_versions import firmware_for

ROOT = Path(__file__).resolve().parents[2]
MPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
BIG = bytes(random.Random(18).randbytes(20000))      # 3-byte varuint lengths


def make_tree(top: Path) -> Path:
    (top / "lib" / "pkg").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "greet.py").write_text('X = 42\ndef hello(n):\n    return "hello " + str(n)\nprint("greet from", __file__)\n')
    (top / "broken.py").write_text("def f(:\n    pass\n")
    (top / "data.bin").write_bytes(b"\x00\x01 ROMFS \xfe\xff")
    (top / "weights.bin").write_bytes(BIG)              # sorts last: a cut image keeps the rest
    (top / "lib" / "pkg" / "__init__.py").write_text("print('pkg init')\n")
    (top / "lib" / "pkg" / "mod.py").write_text("from . import helper\nY = helper.TWICE(21)\n")
    (top / "lib" / "pkg" / "helper.py").write_text("def TWICE(n):\n    return 2 * n\n")
    return top


# -- the writer ----------------------------------------------------------------------------------------
def test_writer_matches_upstream_mpremote(tmp_path):
    upstream = pytest.importorskip("mpremote.romfs", reason="mpremote 1.25+ (a dev dependency) has the reference writer")
    tree = make_tree(tmp_path / "tree")
    padded = set()
    for extra in ("", "x"):                 # both parities of the contents (one needs a padded length)
        (tree / "odd.txt").write_text(extra)
        ours, files, dirs = romfs.pack(tree)
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = upstream.make_romfs(str(tree), mpy_cross=False)
        assert ours == theirs
        assert (files, dirs) == (8, 3) and ours[:3] == b"\xd2\xcd\x31" and len(ours) % 2 == 0
        padded.add(ours[3] == 0x80)
    assert padded == {True, False}


@pytest.mark.parametrize("board", list(romfs.PARTITIONS))
def test_writer_agrees_with_the_firmware_and_the_board(board):
    """The partition the firmware reads (board.h) is the writer's, and plain RAM on the board."""
    base, size = romfs.PARTITIONS[board]
    board_h = (ROOT / f"firmware/boards/{board}/board.h").read_text()
    defined = dict(re.findall(r"#define (BOARD_ROMFS_\w+)\s+\((0x[0-9a-fA-F]+)u\)", board_h))
    assert (int(defined["BOARD_ROMFS_BASE"], 16), int(defined["BOARD_ROMFS_SIZE"], 16)) == (base, size)
    assert size <= romfs.ROMFS_SIZE                                    # what the writer allows fits everywhere
    from sim.board import load_board
    ram = next(r for r in load_board(board).memory if r.base <= base < r.end)
    assert base + size <= ram.end and ram.alias is None and not ram.rom


def _mpsim(*args, cwd=ROOT):
    return subprocess.run([*MPSIM, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_command_writes_an_image(tmp_path):
    tree = make_tree(tmp_path / "tree")
    r = _mpsim("romfs", tree)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tree.romfs").read_bytes() == romfs.pack(tree)[0]
    assert "7 files, 3 directories" in r.stdout and "--load" in r.stdout


@pytest.mark.parametrize("case", ["missing", "a file", "a loop", "too big"])
def test_the_command_refuses_in_one_line_and_keeps_the_old_image(tmp_path, case):
    tree = make_tree(tmp_path / "tree")
    out = tmp_path / "old.romfs"
    out.write_bytes(b"the image from before")
    arg, words = {"missing": (tmp_path / "nope", "is not a directory"),
                  "a file": (tree / "data.bin", "is not a directory"),
                  "a loop": (tree, "symlink loop"),
                  "too big": (tree, "the firmware reads at most 4194304")}[case]
    if case == "a loop":
        os.symlink("../..", tree / "lib" / "up")
    if case == "too big":
        (tree / "huge.bin").write_bytes(bytes(romfs.ROMFS_SIZE - 100))
    r = _mpsim("romfs", arg, "-o", out)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("mpsim: romfs: ") and words in lines[0], r.stderr
    assert "Traceback" not in r.stderr and out.read_bytes() == b"the image from before"


# -- the firmware: mpsim and QEMU, byte for byte ----------------------------------------------------------
SESSION = [
    (b"", PROMPT),
    (b"import romfs; romfs.ls(), romfs.ls('lib'), romfs.ls('/rom/./lib/pkg/'), romfs.ls('empty')\r", PROMPT),
    (b"import greet\r", PROMPT),
    (b"greet.hello(greet.X), greet.__file__\r", PROMPT),
    (b"romfs.read('data.bin'), romfs.read('/rom/greet.py')[:6]\r", PROMPT),
    (b"b = romfs.read('weights.bin'); len(b), sum(b), b[:4], b[-4:]\r", PROMPT),
    (b"import sys; sys.path.append('/rom/lib')\r", PROMPT),
    (b"import pkg.mod; pkg.mod.Y\r", PROMPT),
    (b"import broken\r", PROMPT),
    (b"import not_there\r", PROMPT),
    (b"romfs.read('nope')\r", PROMPT),
    (b"romfs.read('lib')\r", PROMPT),
    (b"romfs.ls('data.bin')\r", PROMPT),
    (b"romfs.read('/flash/greet.py')\r", PROMPT),
    (b"\x04", PROMPT),                                               # soft reset: sys.path and modules gone
    (b"import greet, romfs; len(romfs.ls())\r", PROMPT),
    (b"\x01", RAW_PROMPT),
    (b"import greet\nprint(greet.hello(7))\nprint(romfs.read('data.bin'))\x04", RAW_END),
    (b"\x02", PROMPT),
    (b"print('alive')\r", PROMPT),
]


QEMU_MACHINES = {"mps2-an385": (QEMU, "-M", "mps2-an385"),
                 "virt-rv64": (shutil.which("qemu-system-riscv64"), "-M", "virt", "-bios", "none")}


class QemuWithImage(QemuSide):
    """QEMU with the image where upstream's ports/qemu test target puts it."""

    def __init__(self, elf: Path, image: Path | None, board: str = "mps2-an385"):
        addr = romfs.PARTITIONS[board][0]
        loader = ["-device", f"loader,file={image},addr={addr:#x},force-raw=on"] if image else []
        self.proc = subprocess.Popen(
            [*QEMU_MACHINES[board], "-nographic", "-monitor", "none", "-semihosting", "-serial", "stdio",
             "-kernel", str(elf), *loader], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf, self.trace, self.cond = bytearray(), bytearray(), threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.buf), daemon=True).start()


def images(tmp: Path) -> dict[str, Path | None]:
    good = tmp / "good.romfs"
    good.write_bytes(romfs.pack(make_tree(tmp / "tree"))[0])
    cut = tmp / "truncated.romfs"
    cut.write_bytes(good.read_bytes()[:-len(BIG) // 2])           # weights.bin ends in the zeros of RAM
    noise = tmp / "noise.romfs"
    noise.write_bytes(b"\xd2\xcd\x31" + random.Random(7).randbytes(4093))   # the header, then noise
    junk = tmp / "garbage.bin"
    junk.write_bytes(b"\x00" + random.Random(8).randbytes(4095))            # not an image at all
    return {"good": good, "truncated": cut, "noise": noise, "garbage": junk, "none": None}


def session_output(side) -> bytes:
    try:
        return side.run(SESSION, 32)
    finally:
        if isinstance(side, QemuSide):
            side.close()


@pytest.mark.parametrize("board_name, version", [("mps2-an385", "1.9.2"), ("mps2-an385", "1.19"),
                                                ("mps2-an385", "1.23"), ("virt-rv64", "1.23")])
@pytest.mark.parametrize("kind", ["good", "truncated", "noise", "garbage", "none"])
def test_mpsim_reads_the_image_as_qemu_does(tmp_path, board_name, version, kind):
    from sim.device import Board
    if QEMU_MACHINES[board_name][0] is None:
        pytest.skip(f"no QEMU for {board_name} (apt-get install qemu-system-arm qemu-system-misc): no reference")
    elf = firmware_for(version) if board_name == "mps2-an385" else firmware_elf(board_name, version)
    if not elf.exists() or not Firmware.load(elf).has_symbol("mpsim_module_romfs"):
        pytest.skip(f"{elf} is not built, or without ROMFS support: make -C firmware BOARD={board_name} "
                    f"MPY_VERSION={version}")
    image = images(tmp_path)[kind]
    want = session_output(QemuWithImage(elf, image, board_name))
    board = Board(board_name, elf, flash_path=tmp_path / "flash.bin")
    try:
        addr = romfs.PARTITIONS[board_name][0]
        board.machine.loads = loads.read([f"{image}@{addr:#x}"], board.spec) if image else []
        got = session_output(SimSide(board))
    finally:
        board.machine.close()
    assert got == want, explain(f"romfs/{kind}/{board_name}/{version}", SESSION, want, got)

    out = b"".join(got)
    assert b"Traceback" in out and b"alive" in out                     # it ran to the end, errors and all
    # the package on an added sys.path entry (1.9.2 has no sys.path: it imports from the root only)
    package = b"'module' object has no attribute 'path'" if version == "1.9.2" else b"pkg init\r\n42"
    if kind == "good":                                                  # and it read what the files hold
        for fact in (b"(['broken.py', 'data.bin', 'empty/', 'greet.py', 'lib/', 'weights.bin'], ['pkg/'], "
                     b"['__init__.py', 'helper.py', 'mod.py'], [])",
                     b"greet from greet.py", b"('hello 42', 'greet.py')",
                     b"(b'\\x00\\x01 ROMFS \\xfe\\xff', b'X = 42')",
                     f"({len(BIG)}, {sum(BIG)}, {BIG[:4]!r}, {BIG[-4:]!r})".encode(),
                     package, b'File "broken.py", line 1', b"no module named 'not_there'",
                     b"[Errno 2] ENOENT", b"[Errno 21] EISDIR", b"OSError: 20\r\n", b"hello 7\r\n"):
            assert fact in out, (fact, out)
        assert out.count(b"greet from greet.py") == 2                   # imported again after the soft reset
    elif kind == "truncated":                                           # what was loaded reads as it is
        assert out.count(b"greet from greet.py") == 2 and package in out
        assert f"({len(BIG)}, {sum(BIG[:len(BIG) // 2])}, {BIG[:4]!r}, {bytes(4)!r})".encode() in out
    else:
        assert b"no module named 'greet'" in out and b"greet from" not in out
    if kind in ("garbage", "none"):                                     # no ROMFS at all
        assert b"OSError: [Errno 19] ENODEV" in out and b"ENOENT" not in out
    if kind == "noise":                                                 # a ROMFS, nothing readable in it
        assert b"ENODEV" not in out and b"ENOENT" in out


# -- the firmware against damaged images: answers, never faults or hangs --------------------------------
WALK = """
import romfs, sys
def walk(d=''):
    n = 0
    for name in romfs.ls(d):
        n = max(n, walk(d + name) if name.endswith('/') else len(romfs.read(d + name)))
    return n
def probe():
    got = []
    for step in (walk, lambda: __import__('greet').X, lambda: romfs.read('/rom/lib/pkg/mod.py')):
        sys.modules.pop('greet', None)
        try:
            got.append(step())
        except Exception as e:
            got.append(type(e).__name__)
    return got
"""


def damaged(good: bytes, rng: random.Random) -> bytes:
    """``good`` with a few bytes flipped, a varuint made endless or huge, or cut short,
    past the header and before the big file's bytes (damage there would change no
    structure)."""
    data = bytearray(good)
    where = range(3, len(good) - len(BIG))
    how = rng.randrange(4)
    if how == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.choice(where)] ^= 1 << rng.randrange(8)
    elif how == 1:                                 # a varuint far past the end, or past 32 bits
        at = rng.choice(where)
        big = rng.choice((b"\x8f\xff\xff\x7f", b"\x81\x80\x80\x00", b"\xff" * 6 + b"\x7f"))
        data[at:at + len(big)] = big
    elif how == 2:
        data[rng.choice(where)] = rng.choice((0x00, 0x80, 0x7F, 0x05, 0x04, 0x03))
    else:
        del data[rng.choice(where):]
    return bytes(data)


def test_damaged_images_are_answered_not_crashed_on(make_board, tmp_path):
    """Damaged images written under a running firmware (it checks the image on every
    use, so no reboot is needed): each probe returns values or Python exceptions, no
    file reaches past the image, the board never faults, hangs or stops answering."""
    board = make_board()
    if not board.firmware.has_symbol("mpsim_module_romfs"):
        pytest.skip(f"{board.firmware.path} was built without ROMFS support; rebuild it")
    tree = make_tree(tmp_path / "tree")
    good = romfs.pack(tree)[0]
    board.repl.exec(WALK)

    def probe() -> list:
        out = board.repl.exec("print(repr(probe()))", timeout_s=10)     # greet's own print comes first
        return ast.literal_eval(out.strip().splitlines()[-1])

    board.machine.write(romfs.ROMFS_BASE, good)
    assert probe() == [len(BIG), 42, b"from . import helper\nY = helper.TWICE(21)\n"]
    rng = random.Random(18)
    answers = set()
    for _ in range(400):
        image = damaged(good, rng)
        board.machine.write(romfs.ROMFS_BASE, image + bytes(len(good)))
        got = probe()
        assert isinstance(got, list) and len(got) == 3, got
        # no file reaches past the image: a reader that trusted a damaged length would
        # hand out the memory after it (or fail to allocate gigabytes)
        assert "MemoryError" not in got and (not isinstance(got[0], int) or got[0] <= len(image)), (got, image)
        answers.add(repr(got))
    assert len(answers) > 30, answers                                  # the damage did reach the reader


def test_a_module_from_the_image_survives_hibernation_without_it(tmp_path):
    """Imported code lives in the heap, not in the image: a resume (here into a bigger,
    relocated heap) needs no image, and then the firmware simply has none."""
    elf = firmware_for("1.23")
    image = images(tmp_path)["good"]
    flash = tmp_path / "flash.bin"
    r = _mpsim("hibernate", "--firmware", elf, "--flash", flash, "--load", f"{image}@{romfs.ROMFS_BASE:#x}",
               "-c", "import greet, romfs; d = romfs.read('data.bin')")
    assert r.returncode == 0 and "greet from greet.py" in r.stdout, r.stderr
    r = _mpsim("resume", "--firmware", elf, "--flash", flash, "--heap-size", "256K",
               "-c", "print(greet.hello(3), d)\ntry:\n romfs.ls()\nexcept OSError as e:\n print(e)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["hello 3 b'\\x00\\x01 ROMFS \\xfe\\xff'", "[Errno 19] ENODEV"], r.stdout

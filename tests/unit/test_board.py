"""The board file is the machine's specification: loading must reject mistakes
with a message that names the key, and the default board must mirror QEMU."""

import os

import pytest

from sim.board import BoardSpec, available_boards, load_board, parse_board
from sim.errors import BoardError


def test_default_board_mirrors_qemu_mps2_an385():
    b = load_board("mps2-an385")
    assert b.cpu == "cortex-m3" and b.clock_hz == 25_000_000 and b.num_irq == 32
    assert (b.region("ssram1").base, b.region("ssram1").size) == (0x0, 0x400000)
    assert (b.region("ssram23").base, b.region("ssram23").size) == (0x20000000, 0x400000)
    assert b.region("ssram1_mirror").alias == "ssram1"
    assert (b.region("psram").base, b.region("psram").size) == (0x21000000, 0x1000000)
    assert b.console.name == "uart0" and b.console.base == 0x40004000
    assert b.console.irq == {"rx": 0, "tx": 1, "overflow": 12}
    assert b.peripheral("fpgaio").base == 0x40028000
    assert b.peripheral("timer0").irq == {"timer": 8}
    assert b.flash.settings["sector_size"] == 4096


def test_available_boards_lists_the_default():
    assert "mps2-an385" in available_boards()


def test_unknown_board_names_the_known_ones():
    with pytest.raises(BoardError, match=r"unknown board 'nope' \(known: .*mps2-an385"):
        load_board("nope")


def _minimal(**over):
    d = {"name": "b", "cpu": "cortex-m3", "clock_hz": 1, "refclk_hz": 1, "num_irq": 32,
         "memory": [{"name": "ram", "base": 0, "size": 0x1000, "boot": True}],
         "peripheral": [{"name": "u", "type": "cmsdk_uart", "base": 0x40000000, "size": 0x1000, "console": True},
                        {"name": "scs", "type": "scs", "base": 0xE000E000, "size": 0x1000}]}
    d.update(over)
    return d


def test_minimal_board_parses():
    assert isinstance(parse_board(_minimal()), BoardSpec)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("clock_hz"), "missing key 'clock_hz'"),
    (lambda d: d.update(clock_hz="fast"), "key 'clock_hz' must be int"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
    (lambda d: d.update(cpu="cortex-a53"), "cpu 'cortex-a53' is not supported"),
    (lambda d: d["memory"][0].update(sise=4), r"memory\[0\]: unknown key 'sise'"),
    (lambda d: d["peripheral"][0].update(base=0x0), "overlaps"),
    (lambda d: d["peripheral"][0].update(base=0x40000100), "multiples of 4 KiB"),
    (lambda d: d["memory"][0].update(boot=False), "exactly one memory region must have boot"),
    (lambda d: d["memory"].append({"name": "m", "base": 0x10000, "size": 0x1000, "alias": "zz"}),
     "alias 'zz' is not a plain memory region"),
    (lambda d: d["peripheral"][0].update(irq={"rx": "zero"}), "'irq' must be a table"),
    # numbers the machine computes with (each was a traceback before)
    (lambda d: d.update(clock_hz=0), "clock_hz must be 1..100000000000, not 0"),
    (lambda d: d.update(clock_hz=-5), "clock_hz must be"),
    (lambda d: d.update(refclk_hz=-1), "refclk_hz must be"),
    (lambda d: d.update(num_irq=0), "num_irq must be 1..496"),
    (lambda d: d.update(num_irq=10 ** 9), "num_irq must be 1..496"),
    (lambda d: d["peripheral"][0].update(irq={"rx": 32}), "irq rx = 32 is not below num_irq"),
    (lambda d: d["peripheral"][0].update(irq={"rx": -1}), "irq rx = -1 is not below num_irq"),
    (lambda d: d["peripheral"][0].update(console=False), "no peripheral is marked console"),
    (lambda d: d["peripheral"].pop(1), "needs its system block: a scs peripheral at 0xe000e000"),
    (lambda d: d["peripheral"][1].update(base=0xE0000000), "needs its system block"),
    (lambda d: d["peripheral"].append({"name": "t", "type": "cmsdk_timer", "base": 0x1000_0000, "size": 0x1000,
                                       "settings": {"pclk_hz": 0}}), "setting pclk_hz must be 1.."),
    (lambda d: d["memory"][0].update(rom="yes"), "key 'rom' must be bool"),
    # a name becomes a file name: never a path
    (lambda d: d.update(name="../x"), "board name '../x' is not a valid name"),
    (lambda d: d.update(name=".hidden"), "is not a valid name"),
    (lambda d: d.update(name="a/b"), "is not a valid name"),
    (lambda d: d.update(description=3), "description"),
])
def test_malformed_board_is_rejected_naming_the_problem(mutate, message):
    d = _minimal()
    mutate(d)
    with pytest.raises(BoardError, match=message):
        parse_board(d)


def test_malformed_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = \n")
    with pytest.raises(BoardError, match="malformed TOML"):
        load_board(p)


def test_a_deeply_nested_board_file_is_one_error(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(BoardError, match="nested too deeply|malformed TOML"):
        load_board(p)


def test_a_board_name_is_a_name_not_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BoardError, match="board file not found|cannot read board file"):
        load_board("../x")
    with pytest.raises(BoardError, match="not a valid name"):
        load_board("a..b")


@pytest.mark.parametrize("path", ["/dev/zero", "fifo"])
def test_a_board_file_that_is_no_regular_file_is_refused_unread(tmp_path, path):
    if path == "fifo":
        path = tmp_path / "b.toml"
        os.mkfifo(path)
    with pytest.raises(BoardError, match="not a regular file"):
        load_board(path)

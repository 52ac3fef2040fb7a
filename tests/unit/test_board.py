"""The board file is the machine's specification: loading must reject mistakes
with a message that names the key, and the default board must mirror QEMU."""

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
         "peripheral": [{"name": "u", "type": "cmsdk_uart", "base": 0x40000000, "size": 0x1000}]}
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

"""One instruction as text, for fault reports, through capstone (a dev dependency):
"" when capstone is missing or the bytes at the address cannot be read, so a report
never fails for want of it. Each core names its capstone architecture and modes."""

from __future__ import annotations

from typing import Callable


def one_instruction(read: Callable[[int, int], bytes], pc: int, arch: str, modes: tuple[str, ...]) -> str:
    try:
        import capstone
        mode = 0
        for name in modes:
            mode |= getattr(capstone, name)
        for insn in capstone.Cs(getattr(capstone, arch), mode).disasm(read(pc, 4), pc):
            return f"{insn.mnemonic} {insn.op_str}".strip()
    except Exception:            # capstone missing, or PC not readable
        return ""
    return ""

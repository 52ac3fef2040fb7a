"""RISC-V PLIC (platform-level interrupt controller) as QEMU's ``-M virt`` configures
hw/intc/sifive_plic.c for one hart with contexts "MS": context 0 = hart 0 M-mode
(drives MEIP), context 1 = hart 0 S-mode (modelled, drives nothing: mpsim runs M-mode).

Layout: source priorities at +0x0 (4 bytes per source, source 0 reserved), pending
bits at +0x1000, enable bits at +0x2000 (0x80 per context), and per context at
+0x200000 (0x1000 apart) the priority threshold (+0) and claim/complete (+4).

Semantics as QEMU's: a source line at level high sets its pending bit (each time a
device updates it, so a line still high re-pends after a claim); claim returns the
highest-priority pending, enabled, unclaimed source above the threshold (ties: the
lowest id), clears its pending bit and marks it claimed; writing its id to
claim/complete releases it. The context's interrupt output is "something claimable".
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Peripheral, register

PRIORITY, PENDING, ENABLE, CONTEXT = 0x0, 0x1000, 0x2000, 0x200000
ENABLE_STRIDE, CONTEXT_STRIDE = 0x80, 0x1000
NUM_CONTEXTS = 2
PRIORITY_MASK = 0x7                 # virt: 3 priority bits


@register
class RiscvPlic(Peripheral):
    type_name = "riscv_plic"

    def __init__(self, spec, board, irq=None):
        super().__init__(spec, board, irq)
        self.num_sources = board.num_irq         # sources 1..num_irq-1 (virt: 96)
        self.on_change: Callable[[], None] = lambda: None
        self.reset()

    # -- device side -------------------------------------------------------------------
    def set_source(self, n: int, level: bool) -> None:
        if 0 < n < self.num_sources and level:
            self.pending |= 1 << n
            self._update()

    def claimable(self, ctx: int) -> int:
        """The source a claim by ``ctx`` would return (0: none)."""
        cand = self.pending & ~self.claimed & self.enable[ctx]
        best, best_prio = 0, self.threshold[ctx]
        while cand:
            low = cand & -cand
            n = low.bit_length() - 1
            if self.priority[n] > best_prio:
                best, best_prio = n, self.priority[n]
            cand ^= low
        return best

    def _update(self) -> None:
        meip = self.claimable(0) != 0
        if meip != self.meip:
            self.meip = meip
            self.on_change()

    # -- bus ----------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset < PENDING:
            n = offset // 4
            return self.priority[n] if n < self.num_sources else 0
        if offset < ENABLE:
            return (self.pending >> (8 * (offset - PENDING))) & 0xFFFFFFFF
        if offset < CONTEXT:
            ctx, word = divmod(offset - ENABLE, ENABLE_STRIDE)
            return (self.enable[ctx] >> (8 * word)) & 0xFFFFFFFF if ctx < NUM_CONTEXTS else 0
        ctx, reg = divmod(offset - CONTEXT, CONTEXT_STRIDE)
        if ctx >= NUM_CONTEXTS:
            return 0
        if reg == 0:
            return self.threshold[ctx]
        if reg == 4:
            n = self.claimable(ctx)
            if n:
                self.pending &= ~(1 << n)
                self.claimed |= 1 << n
                self._update()
            return n
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFFFFFFFF
        if offset < PENDING:
            n = offset // 4
            if 0 < n < self.num_sources:
                self.priority[n] = value & PRIORITY_MASK
        elif offset < ENABLE:
            return                                       # pending bits are read-only
        elif offset < CONTEXT:
            ctx, word = divmod(offset - ENABLE, ENABLE_STRIDE)
            if ctx < NUM_CONTEXTS and word < (self.num_sources + 31) // 32 * 4:
                shift = 8 * word
                valid = (1 << self.num_sources) - 2       # source 0 does not exist
                e = self.enable[ctx] & ~(0xFFFFFFFF << shift) | (value << shift)
                self.enable[ctx] = e & valid
        else:
            ctx, reg = divmod(offset - CONTEXT, CONTEXT_STRIDE)
            if ctx >= NUM_CONTEXTS:
                return
            if reg == 0:
                self.threshold[ctx] = value & PRIORITY_MASK
            elif reg == 4 and 0 < value < self.num_sources and self.enable[ctx] >> value & 1:
                self.claimed &= ~(1 << value)
        self._update()

    # -- life cycle ----------------------------------------------------------------------
    def reset(self) -> None:
        self.priority = [0] * self.num_sources
        self.pending = 0
        self.claimed = 0
        self.enable = [0] * NUM_CONTEXTS
        self.threshold = [0] * NUM_CONTEXTS
        self.meip = False

    def state(self) -> dict[str, Any]:
        return {"priority": list(self.priority), "pending": self.pending, "claimed": self.claimed,
                "enable": list(self.enable), "threshold": list(self.threshold)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.priority = list(state["priority"])
        self.pending, self.claimed = state["pending"], state["claimed"]
        self.enable, self.threshold = list(state["enable"]), list(state["threshold"])
        self._update()

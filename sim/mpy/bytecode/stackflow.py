"""The value-stack analysis of bytecode since 1.12 (py/vm.c is the reference).

It types every slot of the Python value stack at every opcode, as the heap walker
needs for a suspended generator: a data flow over the instructions, with the
exception-stack entries and the unwinder's markers tracked exactly.
Slot tokens:
  "o"  an object             "c"  the exception an except handler was entered with
  "C"  the exception a finally or with handler was entered with: only compiler-made
       code tests it (async with: "is TOS a BaseException?"), so the test is known true
  ("m", bool)                the known result of that EXCEPTION_MATCH (False for the
                             small-int markers below), so the infeasible branch is not taken
  "I"  first slot of an inline for-loop iterator (MP_OBJ_NULL, or the type)
  "i"  its other slots       "u"  the unwind-return marker, small int -1
  "0"  MP_OBJ_NULL pushed by LOAD_NULL (a generator expression builds its
       iterator slots by hand: NULL, the iterator, NULL, NULL)
  ("n", count, pop_iter)     the unwind-jump marker, a small int
  ("p", dest)                a bytecode address pushed by UNWIND_JUMP
Exception-stack entries are (kind, handler, base shape), kind "e" except,
"f" finally, "w" with; ``base`` is the stack at the entry's val_sp.
"""

from __future__ import annotations

from .format import BytecodeError, Insn, Prelude
from .opcodes import ARG_EFFECTS, EXCEPTION_MATCH, SIMPLE_EFFECTS

ITER_NSLOTS = 4                 # MP_OBJ_ITER_BUF_NSLOTS: base + 3 words
MAX_STATES_PER_IP = 24


class StackFlow:
    """Mixed into Bytecode: needs ``self.format``."""

    def effect(self, ins: Insn) -> tuple[int, int] | None:
        """(pop, push) of a straight-line opcode; None for control flow, blocks and permutations."""
        if ins.name in SIMPLE_EFFECTS:
            return SIMPLE_EFFECTS[ins.name]
        if ins.name in ARG_EFFECTS:
            return ARG_EFFECTS[ins.name](ins.arg, ins.extra, self.format)
        return None

    # How a slot is relocated, by token (tuples by their first item): 'obj', 'iter' (the
    # first slot of an inline iterator), 'iterpart', 'code' (a bytecode address), 'raw'.
    TOKEN_KINDS = {"o": "obj", "c": "obj", "C": "obj", "u": "obj", "0": "obj", "I": "iter", "i": "iterpart"}
    TAG_KINDS = {"n": "obj", "m": "obj", "p": "code"}

    def slot_kind(self, tok) -> str:
        kind = self.TAG_KINDS.get(tok[0]) if isinstance(tok, tuple) else self.TOKEN_KINDS.get(tok)
        if kind is None:
            raise BytecodeError(f"unknown stack token {tok!r}")
        return kind

    def stack_shapes(self, pre: Prelude, insns: list[Insn]) -> dict[int, set]:
        """For each opcode offset, the set of (shape, exc_blocks) states it can start with."""
        by_pos = {i.pos: i for i in insns}
        states: dict[int, set] = {}
        work = [(pre.code_start, ((), ()))]
        while work:
            pos, st = work.pop()
            if pos not in by_pos:
                raise BytecodeError(f"control flow reaches offset {pos}, not an opcode")
            seen = states.setdefault(pos, set())
            if st in seen:
                continue
            if len(seen) >= MAX_STATES_PER_IP:
                raise BytecodeError(f"too many stack shapes at offset {pos}")
            seen.add(st)
            work.extend(self.successors(by_pos[pos], st))
        return states

    def _active(self, handler: int, vm_ip: int) -> bool:
        """Is the finally at ``handler`` already running when the VM unwinds at ``vm_ip``?"""
        return handler <= vm_ip if self.format.active_when_handler_is_ip else handler < vm_ip

    @staticmethod
    def _cancel_active_finally(shape):
        """CANCEL_ACTIVE_FINALLY: drop the running finally's state under the top slot."""
        below = shape[-2:-1]
        if below and _is_small_int(below[0]):
            return _pop(shape, 3) + shape[-1:]
        return _pop(shape, 2) + shape[-1:]

    def _unwind_return(self, shape, blocks, vm_ip):
        while blocks:
            kind, handler, base = blocks[-1]
            if kind in ("f", "w"):
                if not self._active(handler, vm_ip):
                    return [(handler, (base + (shape[-1], "u"), blocks))]
                shape = self._cancel_active_finally(shape)
            blocks = blocks[:-1]
        return []

    def _unwind_jump(self, shape, blocks, count, pop_iter, vm_ip):
        """``shape`` has the destination ("p", dest) on top."""
        while count > 0:
            if not blocks:
                raise BytecodeError("UNWIND_JUMP unwinds more blocks than are set up")
            kind, handler, base = blocks[-1]
            count -= 1
            if kind in ("f", "w"):
                if not self._active(handler, vm_ip):
                    return [(handler, (shape + (("n", count, pop_iter),), blocks))]
                shape = self._cancel_active_finally(shape)
            blocks = blocks[:-1]
        dest = shape[-1]
        if not (isinstance(dest, tuple) and dest[0] == "p"):
            raise BytecodeError("unwind jump without its destination on the stack")
        shape = _pop(shape, 1)
        if pop_iter:
            shape = _pop_iter(shape, None)
        return [(dest[1], (shape, blocks))]

    def successors(self, ins: Insn, st):
        """The states after one instruction: [(offset, (shape, blocks)), ...]."""
        shape, blocks = st
        name, nxt = ins.name, ins.next

        def fall(sh, bl=blocks):
            return [(nxt, (sh, bl))]

        if name == "BINARY_OP_MULTI" and ins.arg == EXCEPTION_MATCH:
            tested = _top(shape, 2)[0]
            res = ("m", True) if tested == "C" else ("m", False) if _is_small_int(tested) else "o"
            return fall(_pop(shape, 2) + (res,))
        eff = self.effect(ins)
        if eff is not None:
            return fall(_pop(shape, eff[0]) + ("o",) * eff[1])
        if name == "LOAD_NULL":
            return fall(shape + ("0",))
        if name == "DUP_TOP":
            return fall(shape + _top(shape, 1))
        if name == "DUP_TOP_TWO":
            return fall(shape + _top(shape, 2))
        if name == "ROT_TWO":
            a, b = _top(shape, 2)
            return fall(shape[:-2] + (b, a))
        if name == "ROT_THREE":
            a, b, c = _top(shape, 3)
            return fall(shape[:-3] + (c, a, b))
        if name == "JUMP":
            return [(ins.target, st)]
        if name in ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"):
            cond, rest = _top(shape, 1)[0], _pop(shape, 1)
            jump, stay = [(ins.target, (rest, blocks))], fall(rest)
            if isinstance(cond, tuple) and cond[0] == "m":
                return jump if cond[1] == (name == "POP_JUMP_IF_TRUE") else stay
            return jump + stay
        if name in ("JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"):
            _top(shape, 1)
            return [(ins.target, st)] + fall(_pop(shape, 1))
        if name in ("SETUP_EXCEPT", "SETUP_FINALLY"):
            kind, exc = ("e", "c") if name == "SETUP_EXCEPT" else ("f", "C")
            blk = (kind, ins.target, shape)
            return [(ins.target, (shape + (exc,), blocks + (blk,)))] + fall(shape, blocks + (blk,))
        if name == "SETUP_WITH":              # ctx -> __exit__, ctx, as-value; val_sp at ctx
            base = _pop(shape, 1) + ("o", "o")
            blk = ("w", ins.target, base)
            return [(ins.target, (base + ("C",), blocks + (blk,)))] + fall(base + ("o",), blocks + (blk,))
        if name == "WITH_CLEANUP":
            top = _top(shape, 1)[0]
            if top == "o":                    # None: the body ended normally
                return fall(_pop(shape, 3) + ("o",))
            if top in ("c", "C"):             # __exit__ swallowed it (None) or it is re-raised
                return fall(_pop(shape, 3) + ("o",)) + fall(_pop(shape, 3) + (top,))
            if _is_small_int(top):
                return fall(_pop(shape, 4) + shape[-2:])
            raise BytecodeError(f"WITH_CLEANUP at offset {ins.pos} with an unknown stack top")
        if name == "END_FINALLY":             # pops its block first
            if not blocks:
                raise BytecodeError(f"END_FINALLY at offset {ins.pos} with no block")
            top, rest, outer = _top(shape, 1)[0], _pop(shape, 1), blocks[:-1]
            if top == "o":
                return fall(rest, outer)
            if top in ("c", "C"):
                return []                     # re-raised
            if top == "u":
                return self._unwind_return(rest, outer, ins.pos + 1)
            if isinstance(top, tuple) and top[0] == "n":
                return self._unwind_jump(rest, outer, top[1], top[2], ins.pos + 1)
            raise BytecodeError(f"END_FINALLY at offset {ins.pos} with an unknown stack top")
        if name == "GET_ITER_STACK":
            return fall(_pop(shape, 1) + ("I",) + ("i",) * (ITER_NSLOTS - 1))
        if name == "FOR_ITER":
            return [(ins.target, (_pop_iter(shape, ins), blocks))] + fall(shape + ("o",))
        if name == "POP_EXCEPT_JUMP":
            if not blocks:
                raise BytecodeError(f"POP_EXCEPT_JUMP at offset {ins.pos} with no block")
            return [(ins.target, (shape, blocks[:-1]))]
        if name == "UNWIND_JUMP":
            return self._unwind_jump(shape + (("p", ins.target),), blocks, ins.extra & 0x7F,
                                     bool(ins.extra & 0x80), ins.next - 1)
        if name == "RETURN_VALUE":
            _top(shape, 1)
            return self._unwind_return(shape, blocks, ins.pos + 1)
        if name in ("RAISE_LAST", "RAISE_OBJ", "RAISE_FROM"):
            _pop(shape, {"RAISE_LAST": 0, "RAISE_OBJ": 1, "RAISE_FROM": 2}[name])
            return []
        raise BytecodeError(f"no stack effect known for {name} at offset {ins.pos}")


def _is_small_int(tok) -> bool:
    """The unwind markers, the only small ints the analysis knows as such."""
    return tok == "u" or isinstance(tok, tuple) and tok[0] == "n"


def _pop(shape, n):
    if n > len(shape):
        raise BytecodeError("value stack underflow in the analysis")
    return shape[:len(shape) - n] if n else shape


def _top(shape, n):
    if n > len(shape):
        raise BytecodeError("value stack underflow in the analysis")
    return shape[len(shape) - n:]


INLINE_ITER = ("I",) + ("i",) * (ITER_NSLOTS - 1)


def _pop_iter(shape, ins):
    """Pop a for-loop's iterator slots: GET_ITER_STACK's, or NULL, iterator, NULL, NULL."""
    top = shape[-ITER_NSLOTS:]
    if top != INLINE_ITER and not (len(top) == ITER_NSLOTS and top[0] == top[2] == top[3] == "0"):
        where = f"FOR_ITER at offset {ins.pos}" if ins else "an unwind jump"
        raise BytecodeError(f"{where} without an iterator on the stack")
    return shape[:-ITER_NSLOTS]

"""The heap walk's code objects since MicroPython 1.19 (module contexts, mpy v6).

1.19 moved constants out of the bytecode (py/bc.h, py/emitglue.h, py/objfun.h):
- ``mp_obj_fun_bc_t`` = base, ``context`` (an ``mp_module_context_t``: a module object
  followed by ``constants``: ``obj_table`` and, with a qstr table, ``qstr_table``
  sharing one block with the objects), ``child_table`` (raw codes of the functions
  it makes), ``bytecode`` (holds indexes, never pointers: a leaf), ``extra_args[]``
  (default positional args, then the default keyword dict);
- ``mp_raw_code_t`` = kind (a byte since 1.23, 3 bits of a word before), ``fun_data``
  (bytecode), ``children``;
- a generating function is an ``mp_obj_fun_bc_t`` whose type is ``mp_type_gen_wrap``;
- a generator's ``mp_code_state_t`` holds ``n_state`` and ``exc_sp_idx`` itself.
A suspended generator's value stack is typed by the bytecode generation's stack
analysis (sim.mpy.bytecode); without one the generator is reported, not guessed.
"""

from __future__ import annotations

MP_CODE_BYTECODE = 2


def gen_errors():
    from .bytecode import BytecodeError
    return (BytecodeError, IndexError, ValueError)

SCOPE_DEFKWARGS = 0x08


def prelude_signature(code: bytes) -> tuple[int, int, int, int, int, int]:
    """MP_BC_PRELUDE_SIG_DECODE (py/bc.h, 1.12+): n_state, n_exc_stack, scope_flags,
    n_pos_args, n_kwonly_args, n_def_pos_args."""
    z = code[0]
    s, e, f, a, k, d = (z >> 3) & 0xF, (z >> 2) & 1, 0, z & 3, 0, 0
    i, n = 1, 0
    while z & 0x80:
        z = code[i]
        i += 1
        s |= (z & 0x30) << (2 * n)
        e |= (z & 0x02) << n
        f |= ((z & 0x40) >> 6) << n
        a |= (z & 0x4) << n
        k |= ((z & 0x08) >> 3) << n
        d |= (z & 0x1) << n
        n += 1
    return s + 1, e, f, a, k, d


class ContextCode:
    """Mixed into sim.mpy.walk.Walker for profiles with ``fun_bc == "context"``."""

    def ctx_fun_bc(self, a, parent):
        L = self.L
        ctx_slot = a + L.off("mp_obj_fun_bc_t.context")
        ctx = self.w(ctx_slot)
        if self.in_pool(ctx) and self.w(ctx) == 0:
            # the REPL's and exec's contexts (mp_compile) are never given a type: not objects
            self.buf(ctx_slot, "module_context", a, self.ctx_context, allow_interior=False)
        else:
            self.obj(ctx_slot, a)                   # an imported module's context is a module object
        self.buf(a + L.off("mp_obj_fun_bc_t.child_table"), "child_table", a, self.ctx_child_table,
                 allow_interior=False)
        code = self.w(a + L.off("mp_obj_fun_bc_t.bytecode"))
        self.buf(a + L.off("mp_obj_fun_bc_t.bytecode"), "bytecode", a, None, allow_interior=False)
        try:
            _, _, flags, _, _, n_def = prelude_signature(self.read(code, 8))
        except Exception:  # noqa: BLE001 - unreadable bytecode: reported below
            self.problem(a, "function whose bytecode prelude cannot be read", parent, "fun_bc")
            return
        n_extra = n_def + bool(flags & SCOPE_DEFKWARGS)
        extra = a + L.off("mp_obj_fun_bc_t.extra_args")
        if extra + self.W * n_extra > a + self.block_size(a):
            self.problem(a, f"function with {n_extra} default args does not fit its block", parent, "fun_bc")
            return
        self.objs(extra, n_extra, a)

    def ctx_child_table(self, start, parent, arg):
        """An array of raw-code pointers (zeroed past its end: gc_alloc clears whole blocks)."""
        for i in range(self.block_size(start) // self.W):
            self.buf(start + self.W * i, "raw_code", start, self.ctx_raw_code, allow_interior=False)

    def ctx_raw_code(self, start, parent, arg):
        L = self.L
        kind = L.read_uint("mp_raw_code_t.kind", start, self.read)
        if kind != MP_CODE_BYTECODE:
            self.problem(start, f"raw code of kind {kind} (native code in the heap is not relocatable)", parent)
            return
        self.buf(start + L.off("mp_raw_code_t.fun_data"), "bytecode", start, None, allow_interior=False)
        self.buf(start + L.off("mp_raw_code_t.children"), "child_table", start, self.ctx_child_table,
                 allow_interior=False)

    def bytecode_generation(self):
        """The decoder of this firmware's bytecode (sim.mpy.bytecode), made once."""
        if getattr(self, "_bcgen", None) is None:
            from . import bytecode
            if self.profile.fun_bc == "context":
                persistent = self.L.has("mp_module_constants_t.qstr_table")
            else:
                persistent = bytecode.built_with_persistent_code(self.fw.has_symbol)
            self._bcgen = bytecode.for_version(self.fw.micropython_version, persistent_code=persistent)
        return self._bcgen

    def ctx_code(self, code, parent):
        """(prelude, instructions) of the bytecode block at ``code``, or None after a problem."""
        if code in self._bc_cache:
            return self._bc_cache[code]
        out = None
        if self.block_start(code) != code:
            self.problem(code, "bytecode pointer is not the start of a heap block", parent)
        else:
            gen = self.bytecode_generation()
            try:
                out = gen.decode(self.read(code, self.block_size(code)), code)
            except gen_errors() as e:
                self.problem(code, f"bytecode does not decode: {e}", parent)
        self._bc_cache[code] = out
        return out

    def ctx_gen_instance(self, a, parent):
        """A generator (py/objgenerator.c): its code state, locals, exception stack and,
        typed by the stack analysis at its ip, its value stack."""
        L = self.L
        cs = a + L.off("mp_obj_gen_instance_t.code_state")

        def f(name):
            return cs + L.off("mp_code_state_t." + name)
        self.obj(a + L.off("mp_obj_gen_instance_t.pend_exc"), a)
        self.obj(f("fun_bc"), a)
        self.obj(f("old_globals"), a)
        size = self.block_size(a)
        ip_slot, sp_slot, state = f("ip"), f("sp"), f("state")
        self.result.slots[ip_slot] = "ptr"
        self.result.slots[sp_slot] = "ptr"
        fun = self.w(f("fun_bc"))
        if not (self.in_pool(fun) and self.w(fun) in (self.t.get("mp_type_fun_bc"), self.t.get("mp_type_gen_wrap"))):
            self.problem(a, "generator whose function is not a bytecode function", parent, "generator")
            return
        ip = self.w(ip_slot)
        if ip == 0:
            return                                   # finished: nothing in the state is live
        sp = self.w(sp_slot)
        if not a <= sp < a + size:
            self.problem(a, f"generator sp {sp:#x} outside its block", parent, "generator")
            return
        code = self.w(fun + L.off("mp_obj_fun_bc_t.bytecode"))
        info = self.ctx_code(code, a)
        if info is None:
            return
        pre, insns = info
        W = self.W
        n_state = L.read_uint("mp_code_state_t.n_state", cs, self.read)
        n_exc = L.read_uint("mp_code_state_t.exc_sp_idx", cs, self.read)
        if n_state != pre.n_state or n_exc > pre.n_exc_stack or \
                state + W * n_state + self.exc_entry_size() * pre.n_exc_stack > a + size:
            self.problem(a, "generator state does not match its bytecode's prelude", parent, "generator")
            return
        if self.block_start(ip) != code:
            self.problem(a, "generator ip is not inside its function's bytecode", parent, "generator")
            return
        self.buf(ip_slot, "bytecode", a, None)
        nl = self.bytecode_generation().n_locals(pre, insns)
        self.objs(state + W * (n_state - nl), nl, a)
        self.exc_stack(a, state + W * n_state, n_exc)
        self.value_stack(a, parent, state, sp, n_state, nl, n_exc, ip - code, pre, insns)

    def ctx_context(self, start, parent, arg):
        self.obj(start + self.L.off("mp_obj_module_t.globals"), start)
        self.ctx_module_constants(start, parent)

    def ctx_module_constants(self, a, parent):
        """The constants of an mp_module_context_t (a module object with more fields;
        a plain module's block is zero there)."""
        L = self.L
        if self.block_size(a) < L.size("mp_module_context_t"):
            return
        c = a + L.off("mp_module_context_t.constants")
        obj_slot = c + L.off("mp_module_constants_t.obj_table")
        if not L.has("mp_module_constants_t.qstr_table"):
            self.buf(obj_slot, "const_table", a, self.h_const_table, allow_interior=False)
            return
        # qstr_table and obj_table share one block: [qstr shorts, word-padded][objects]
        qt_slot = c + L.off("mp_module_constants_t.qstr_table")
        self.buf(qt_slot, "const_table", a, None, allow_interior=False)
        self.result.slots[obj_slot] = "ptr"
        ot, qt = self.w(obj_slot), self.w(qt_slot)
        if ot == 0:
            return
        if qt == 0 or self.block_start(ot) != qt:
            self.problem(a, "module context whose obj_table is not in its qstr_table's block", parent, "module")
            return
        self.objs(ot, (qt + self.block_size(qt) - ot) // self.W, qt)

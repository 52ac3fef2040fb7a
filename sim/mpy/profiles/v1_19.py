"""MicroPython 1.19: GC geometry in ``mem``, ``gc_lock_depth`` per thread, fixed-layout
type objects, bytecode functions with a module context (``mp_module_context_t``),
qstr pools with separate hash and length arrays, mpy v6 bytecode."""

PROFILE = dict(
    name="1.19",
    first=(1, 19), last=(1, 19),
    gc_area="mem",
    gc_lock_depth="thread.gc_lock_depth",
    atb_gap=0,
    bytecode="mpy_v6",
    qstr_obj_shift=3,
    type_layout="fixed",
    fun_bc="context",
    qstr_pool="1.19",
    repl_modes=("friendly", "raw"),      # pyexec_mode_kind values, in order
    walker=True,
    requires=("mem.gc_alloc_table_start", "mem.gc_alloc_table_byte_len", "mem.gc_pool_start", "mem.gc_pool_end",
              "thread.gc_lock_depth", "vm.last_pool", "vm.qstr_last_chunk"),
)

"""MicroPython 1.9.x: the GC geometry directly in ``mem``, ``gc_lock_depth`` in ``mem``,
fixed-layout type objects, bytecode functions with a const table, qstr pools of
(hash, length, text) entries, bytecode format 1.9 (no persistent code)."""

PROFILE = dict(
    name="1.9",
    first=(1, 9), last=(1, 9),
    gc_area="mem",
    gc_lock_depth="mem.gc_lock_depth",
    atb_gap=0,
    bytecode="v1_9",
    qstr_obj_shift=2,
    type_layout="fixed",
    fun_bc="const_table",
    qstr_pool="1.9",
    repl_modes=("raw", "friendly"),      # pyexec_mode_kind values, in order
    walker=True,
    requires=("mem.gc_alloc_table_start", "mem.gc_alloc_table_byte_len", "mem.gc_pool_start", "mem.gc_pool_end",
              "mem.gc_lock_depth", "vm.last_pool", "vm.qstr_last_chunk"),
)

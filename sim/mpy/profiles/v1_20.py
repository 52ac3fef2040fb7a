"""MicroPython 1.20 and later: GC geometry in ``mem.area`` (``mp_state_mem_area_t``,
split heaps possible), one gap byte after the alloc table, ``gc_lock_depth`` per
thread, variable-slot type objects (``slot_index_*`` bytes + ``slots[]``), module
contexts, mpy v6 bytecode. 1.22 adds ``area.gc_last_used_block`` (sweep limit) and a
sorted-pool bit in ``qstr_pool_t``; both are read from DWARF where present."""

PROFILE = dict(
    name="1.20",
    first=(1, 20), last=None,
    gc_area="mem.area",
    gc_lock_depth="thread.gc_lock_depth",
    atb_gap=1,
    bytecode="mpy_v6",
    qstr_obj_shift=3,
    type_layout="slots",
    fun_bc="context",
    qstr_pool="1.19",
    repl_modes=("friendly", "raw"),      # pyexec_mode_kind values, in order
    walker=True,
    requires=("mem.area.gc_alloc_table_start", "mem.area.gc_alloc_table_byte_len", "mem.area.gc_pool_start",
              "mem.area.gc_pool_end", "thread.gc_lock_depth", "vm.last_pool", "vm.qstr_last_chunk"),
)

// Everything that differs between the MicroPython cores our port builds
// against (versions.txt), in one place; the port's C files use only the
// macros below. Included at the end of mpconfigport.h, so MICROPY_VERSION
// and MPSIM_CORE_AT_LEAST are known. The make side is mk/core-*.mk.
#ifndef MPSIM_CORE_COMPAT_H
#define MPSIM_CORE_COMPAT_H

// ---- configuration ----

#if MPSIM_CORE_AT_LEAST(1, 18)
// Start from upstream's "extra features" level (what ports/qemu uses), then
// switch off what needs streams or extmod/ (not in the sdists). Imports
// look for files as on 1.9.2 (mp_import_stat finds none): 1.18/1.19 without
// that path would not find `sys` as `usys`.
#define MICROPY_CONFIG_ROM_LEVEL    (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_PY_SYS_STDFILES     (0)
#define MICROPY_PY_UCTYPES          (0) // extmod/; the parser would refer to it
#if !MPSIM_CORE_AT_LEAST(1, 19)
// 1.18 lists extmod/'s modules in its own table: none of them is built.
#define MICROPY_PY_UASYNCIO (0)
#define MICROPY_PY_UZLIB (0)
#define MICROPY_PY_UJSON (0)
#define MICROPY_PY_URE (0)
#define MICROPY_PY_UHEAPQ (0)
#define MICROPY_PY_UTIMEQ (0)
#define MICROPY_PY_UHASHLIB (0)
#define MICROPY_PY_UBINASCII (0)
#define MICROPY_PY_URANDOM (0)
#define MICROPY_PY_USELECT (0)
#define MICROPY_PY_FRAMEBUF (0)
#define MICROPY_PY_UPLATFORM (0)
#endif
#define MICROPY_PY_BUILTINS_EXECFILE (0)
#define MICROPY_PY_COLLECTIONS_DEQUE (1)
#define MICROPY_PY_BUILTINS_PROPERTY (1)
#ifdef __thumb__
#define MICROPY_EMIT_INLINE_THUMB   (1) // @micropython.asm_thumb (no FPU: no float instructions)
#endif
#define MICROPY_EMIT_INLINE_THUMB_FLOAT (0)
#define MICROPY_ENABLE_SCHEDULER    (1)
#else
// 1.9.2: the micro:bit fork rewrote emitinlinethumb.c for its parse2.c/compile2.c.
#define MICROPY_EMIT_INLINE_THUMB   (0)
#endif

// ---- modules and root pointers ----

// mpsim_clock_hi: the time base's high word (systime.c), kept in
// mp_state_ctx so that a hibernated interpreter keeps its clock (a small
// count, never a pointer). From 1.20 each file registers its own root
// pointers (shared/readline does readline_hist).
#if MPSIM_CORE_AT_LEAST(1, 20)
#define MPSIM_REGISTER_ROOT_POINTERS MP_REGISTER_ROOT_POINTER(mp_uint_t mpsim_clock_hi);
#else
#define MICROPY_PORT_ROOT_POINTERS \
    const char *readline_hist[8]; \
    mp_uint_t mpsim_clock_hi;
#define MPSIM_REGISTER_ROOT_POINTERS
#endif

// From 1.21 core modules have their CPython names (time, struct, ...) and
// `import utime` finds an "extensible" time; before, they were u-names and
// weak links find them under the CPython name.
#if MPSIM_CORE_AT_LEAST(1, 21)
#define MPSIM_QSTR_TIME MP_QSTR_time
#define MPSIM_REGISTER_TIME(obj) MP_REGISTER_EXTENSIBLE_MODULE(MP_QSTR_time, obj);
#else
#define MPSIM_QSTR_TIME MP_QSTR_utime
#define MPSIM_REGISTER_TIME(obj) MPSIM_REGISTER_MODULE(MP_QSTR_utime, obj)
#endif

#if MPSIM_CORE_AT_LEAST(1, 19)
#define MPSIM_REGISTER_MODULE(name, obj) MP_REGISTER_MODULE(name, obj);
#else
// 1.9.2 and 1.18: a table in mpconfigport.h; 1.9.2 also needs explicit weak links.
#define MPSIM_REGISTER_MODULE(name, obj)
extern const struct _mp_obj_module_t board_module;
extern const struct _mp_obj_module_t mpsim_module_time;
extern const struct _mp_obj_module_t mpsim_module_romfs;
#define MICROPY_PORT_BUILTIN_MODULES \
    { MP_ROM_QSTR(MP_QSTR_board), MP_ROM_PTR(&board_module) }, \
    { MP_ROM_QSTR(MP_QSTR_utime), MP_ROM_PTR(&mpsim_module_time) }, \
    { MP_ROM_QSTR(MP_QSTR_romfs), MP_ROM_PTR(&mpsim_module_romfs) }, \

#define MICROPY_PORT_BUILTIN_MODULE_WEAK_LINKS \
    { MP_ROM_QSTR(MP_QSTR_time), MP_ROM_PTR(&mpsim_module_time) }, \
    { MP_ROM_QSTR(MP_QSTR_struct), MP_ROM_PTR(&mp_module_ustruct) }, \
    { MP_ROM_QSTR(MP_QSTR_collections), MP_ROM_PTR(&mp_module_collections) }, \
    { MP_ROM_QSTR(MP_QSTR_errno), MP_ROM_PTR(&mp_module_uerrno) }, \

#endif

// ---- C API ----

// Type objects: a fixed struct before 1.20, variable slots since.
#if MPSIM_CORE_AT_LEAST(1, 20)
#define MPSIM_DEFINE_TYPE(type, name_qstr, make_new_fn, print_fn, locals) \
    MP_DEFINE_CONST_OBJ_TYPE(type, name_qstr, MP_TYPE_FLAG_NONE, \
        make_new, make_new_fn, print, print_fn, locals_dict, locals)
#else
#define MPSIM_DEFINE_TYPE(type, name_qstr, make_new_fn, print_fn, locals) \
    const mp_obj_type_t type = { { &mp_type_type }, .name = name_qstr, \
        .print = print_fn, .make_new = make_new_fn, .locals_dict = (mp_obj_dict_t *)(locals) }
#endif

// Error messages are wrapped since 1.13 (for compressed ROM text).
#if !MPSIM_CORE_AT_LEAST(1, 13)
#define MP_ERROR_TEXT(x) (x)
#endif

// mp_hal_stdout_tx_strn returns the bytes written since 1.22.
#if MPSIM_CORE_AT_LEAST(1, 22)
typedef mp_uint_t mpsim_tx_ret_t;
#define MPSIM_TX_RETURN(n) return (n)
#else
typedef void mpsim_tx_ret_t;
#define MPSIM_TX_RETURN(n) (void)(n)
#endif

// mp_lexer_new_from_file takes a qstr since 1.22.
#if MPSIM_CORE_AT_LEAST(1, 22)
#define MPSIM_LEXER_FILENAME_T qstr
#else
#define MPSIM_LEXER_FILENAME_T const char *
#endif

// A str from a vstr: the type argument went away in 1.20 (which also checks UTF-8).
#if MPSIM_CORE_AT_LEAST(1, 20)
#define MPSIM_STR_FROM_VSTR(vstr) mp_obj_new_str_from_vstr(vstr)
#else
#define MPSIM_STR_FROM_VSTR(vstr) mp_obj_new_str_from_vstr(&mp_type_str, vstr)
#endif

// Ctrl-C from an interrupt handler, and raising it in thread code: the
// pending exception moved to the thread state and mp_handle_pending() takes
// "raise?" since 1.13; the scheduler owns the interrupt since 1.13.
#if MPSIM_CORE_AT_LEAST(1, 18)
#define MPSIM_HANDLE_PENDING() mp_handle_pending(true)
#define MPSIM_PENDING_EXCEPTION() MP_STATE_THREAD(mp_pending_exception)
#define MPSIM_KEYBOARD_INTERRUPT() mp_sched_keyboard_interrupt()
#else
#define MPSIM_HANDLE_PENDING() mp_handle_pending()
#define MPSIM_PENDING_EXCEPTION() MP_STATE_VM(mp_pending_exception)
#define MPSIM_KEYBOARD_INTERRUPT() mp_keyboard_interrupt()
#endif

// gc_sweep_all() (free everything at soft reboot) exists since 1.13; on 1.9.2
// a collection sweeps what is dead.
#if MPSIM_CORE_AT_LEAST(1, 18)
#define MPSIM_GC_SWEEP_ALL() gc_sweep_all()
#else
#define MPSIM_GC_SWEEP_ALL() gc_collect()
#endif

// The micro:bit fork's help() asks the port about objects first.
#define MPSIM_CORE_HAS_PLAT_HELP (!MPSIM_CORE_AT_LEAST(1, 10))

#endif // MPSIM_CORE_COMPAT_H

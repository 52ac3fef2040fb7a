// MicroPython configuration for the mpsim firmware: a full-featured
// interpreter for a 4 MiB-RAM Cortex-M3, the same on every core we build
// against. What differs between cores (ROM levels, module and root-pointer
// registration, API changes) is in core_compat.h, included at the end.
#include <stdint.h>
#include <alloca.h>
#include "board.h"
#include "mcu.h"

// Core 1.9.2 defines MICROPY_VERSION only in our generated header.
#ifndef MICROPY_VERSION
#include "genhdr/mpversion.h"
#endif
#define MPSIM_CORE_AT_LEAST(major, minor) (MICROPY_VERSION >= ((major) << 16 | (minor) << 8))

// object model and memory
#define MICROPY_OBJ_REPR            (MICROPY_OBJ_REPR_A) // the plain tagging; sim.mpstate decodes it
#define MICROPY_ENABLE_GC           (1)
#define MICROPY_ALLOC_PATH_MAX      (128)
#define MICROPY_STACK_CHECK         (1)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE (256)
#define MICROPY_ENABLE_FINALISER    (0)
#define MICROPY_LONGINT_IMPL        (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL          (MICROPY_FLOAT_IMPL_FLOAT) // no FPU; single precision keeps it small
#define MICROPY_OPT_COMPUTED_GOTO   (1)
#define MICROPY_OPT_MPZ_BITWISE     (1)

// compiler and emitters: native/viper code for Thumb-2 (the inline
// assembler is enabled in core_compat.h where the core can build it)
#ifdef __thumb__
#define MICROPY_EMIT_THUMB          (1)
#endif
#define MICROPY_COMP_MODULE_CONST   (1)
#define MICROPY_COMP_TRIPLE_TUPLE_ASSIGN (1)
#define MICROPY_COMP_RETURN_IF_EXPR (1)

// REPL (shared/runtime/pyexec.c + shared/readline; lib/ in core 1.9.2)
#define MICROPY_KBD_EXCEPTION       (1)
#define MICROPY_HELPER_REPL         (1)
#define MICROPY_REPL_EMACS_KEYS     (1)
#define MICROPY_REPL_AUTO_INDENT    (1)
#define MICROPY_ENABLE_SOURCE_LINE  (1)
#define MICROPY_ENABLE_DOC_STRING   (0)
#define MICROPY_ERROR_REPORTING     (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_WARNINGS            (1)
#define MICROPY_CPYTHON_COMPAT      (1)
#define MICROPY_MODULE_BUILTIN_INIT (1)
#define MICROPY_CAN_OVERRIDE_BUILTINS (1)
#define MICROPY_USE_INTERNAL_ERRNO  (1)

// builtins
#define MICROPY_PY_FUNCTION_ATTRS   (1)
#define MICROPY_PY_DESCRIPTORS      (1)
#define MICROPY_PY_DELATTR_SETATTR  (1)
#define MICROPY_PY_BUILTINS_STR_UNICODE (1)
#define MICROPY_PY_BUILTINS_STR_CENTER (1)
#define MICROPY_PY_BUILTINS_STR_PARTITION (1)
#define MICROPY_PY_BUILTINS_STR_SPLITLINES (1)
#define MICROPY_PY_BUILTINS_MEMORYVIEW (1)
#define MICROPY_PY_BUILTINS_FROZENSET (1)
#define MICROPY_PY_BUILTINS_SLICE_ATTRS (1)
#define MICROPY_PY_BUILTINS_NOTIMPLEMENTED (1)
#define MICROPY_PY_BUILTINS_INPUT   (1)
#define MICROPY_PY_BUILTINS_POW3    (1)
#define MICROPY_PY_BUILTINS_HELP    (1)
#define MICROPY_PY_BUILTINS_HELP_MODULES (1)
#define MICROPY_PY_ALL_SPECIAL_METHODS (1)
#define MICROPY_PY_BUILTINS_COMPLEX (0)

// modules
#define MICROPY_PY_MICROPYTHON_MEM_INFO (1)
#define MICROPY_PY_GC               (1)
#define MICROPY_PY_GC_COLLECT_RETVAL (1)
#define MICROPY_PY_ARRAY            (1)
#define MICROPY_PY_ARRAY_SLICE_ASSIGN (1)
#define MICROPY_PY_COLLECTIONS      (1)
#define MICROPY_PY_COLLECTIONS_ORDEREDDICT (1)
#define MICROPY_PY_MATH             (1)
#define MICROPY_PY_MATH_SPECIAL_FUNCTIONS (1)
#define MICROPY_PY_CMATH            (0)
#define MICROPY_PY_IO               (0) // no files or streams
#define MICROPY_PY_STRUCT           (1)
#define MICROPY_PY_SYS              (1)
#define MICROPY_PY_SYS_MAXSIZE      (1)
#define MICROPY_PY_SYS_EXIT         (1)
#define MICROPY_PY_SYS_MODULES      (1)
#ifdef BOARD_SYS_PLATFORM
#define MICROPY_PY_SYS_PLATFORM     BOARD_SYS_PLATFORM
#else
#define MICROPY_PY_SYS_PLATFORM     "mps2"
#endif
#define MICROPY_PY_UERRNO           (1) // MICROPY_PY_ERRNO from 1.21
#define MICROPY_PY_ERRNO            (1)
#define MICROPY_MODULE_WEAK_LINKS   (1) // `import time` finds utime, etc.
// port modules: `board` (modboard.c), `time`/`utime` (modtime.c), `romfs` (romfs.c)

// interrupts: atomic sections mask them (mcu.h)
#define MICROPY_BEGIN_ATOMIC_SECTION() mpsim_irq_disable()
#define MICROPY_END_ATOMIC_SECTION(state) mpsim_irq_restore(state)

// type definitions for the machine
#ifdef __thumb__
#define MICROPY_MAKE_POINTER_CALLABLE(p) ((void *)((uintptr_t)(p) | 1))
#endif
#define MP_PLAT_PRINT_STRN(str, len) mp_hal_stdout_tx_strn_cooked(str, len)
#define MP_STATE_PORT MP_STATE_VM
#define MP_SSIZE_MAX (INTPTR_MAX)
#if UINTPTR_MAX > 0xffffffffu
#define UINT_FMT "%lu"
#define INT_FMT "%ld"
#else
#define UINT_FMT "%u"
#define INT_FMT "%d"
#endif
typedef intptr_t mp_int_t;   // must be pointer size
typedef uintptr_t mp_uint_t; // must be pointer size
typedef long mp_off_t;
void mp_hal_stdout_tx_strn_cooked(const char *str, size_t len);

#include "core_compat.h"

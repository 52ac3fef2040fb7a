// Configuration of the plain firmware: upstream's "extra features" level,
// single-precision floats, big ints, no filesystem. Nothing mpsim-specific.
#include <stdint.h>
#include <alloca.h>

#define MICROPY_CONFIG_ROM_LEVEL    (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_ENABLE_GC           (1)
#define MICROPY_HELPER_REPL         (1)
#define MICROPY_KBD_EXCEPTION       (1)
#define MICROPY_LONGINT_IMPL        (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL          (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_PY_SYS_PLATFORM     "mps2"
#define MICROPY_PY_SYS_STDFILES     (0)
#define MICROPY_PY_UCTYPES          (0)
#define MICROPY_PY_IO               (0) // no files
#define MICROPY_HW_BOARD_NAME       "mps2-an385 (plain)"
#define MICROPY_HW_MCU_NAME         "Cortex-M3"
#define MICROPY_HEAP_SIZE           (64 * 1024)

// Before 1.20 the port declares the root pointers shared/readline needs.
#if MICROPY_VERSION < 0x011400
#define MICROPY_PORT_ROOT_POINTERS const char *readline_hist[8];
#endif

#define MICROPY_MAKE_POINTER_CALLABLE(p) ((void *)((uintptr_t)(p) | 1))
#define MP_STATE_PORT MP_STATE_VM
#define MP_SSIZE_MAX (0x7fffffff)
typedef intptr_t mp_int_t;
typedef uintptr_t mp_uint_t;
typedef long mp_off_t;

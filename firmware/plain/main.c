// A plain MicroPython firmware for QEMU's mps2-an385, as a third party would
// write one: MicroPython's own REPL (shared/runtime/pyexec.c, readline), a
// polled CMSDK UART0 console, a static GC heap, and nothing for mpsim: no
// restore point, no boot parameters, no interrupts. mpsim uses it to prove
// that firmware without its hooks can be emulated (and hibernated).
#include <stdint.h>
#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"

static char gc_heap[MICROPY_HEAP_SIZE];
extern char _sstack[], _estack[]; // the C stack, from the linker script

// ---- CMSDK APB UART0, polled ----

typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;     // bit0 TX full, bit1 RX full
    volatile uint32_t CTRL;      // bit0 TX enable, bit1 RX enable
    volatile uint32_t INTSTATUS;
    volatile uint32_t BAUDDIV;
} uart_t;
#define UART0 ((uart_t *)0x40004000)

void uart_tx_strn(const char *str, size_t len) {
    while (len--) {
        while (UART0->STATE & 1) {
        }
        UART0->DATA = (uint8_t)*str++;
    }
}

int mp_hal_stdin_rx_chr(void) {
    while (!(UART0->STATE & 2)) {
    }
    return UART0->DATA & 0xff;
}

#if MICROPY_VERSION >= 0x011600 // returns the count since 1.22
mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_tx_strn(str, len);
    return len;
}
#else
void mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_tx_strn(str, len);
}
#endif

// ---- the interpreter ----

int main(void) {
    UART0->BAUDDIV = 25000000 / 115200;
    UART0->CTRL = 3;
    for (;;) {
        mp_stack_set_top(_estack);
        mp_stack_set_limit(_estack - _sstack - 1024);
        gc_init(gc_heap, gc_heap + sizeof(gc_heap));
        mp_init();
        readline_init0();
        for (;;) {
            int ret = pyexec_mode_kind == PYEXEC_MODE_RAW_REPL
                ? pyexec_raw_repl() : pyexec_friendly_repl();
            if (ret != 0) {
                break;
            }
        }
        mp_hal_stdout_tx_str("MPY: soft reboot\r\n");
        gc_sweep_all();
        mp_deinit();
    }
}

void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    gc_collect_end();
}

mp_import_stat_t mp_import_stat(const char *path) {
    return MP_IMPORT_STAT_NO_EXIST;
}

#if MICROPY_VERSION >= 0x011600 // takes a qstr since 1.22
mp_lexer_t *mp_lexer_new_from_file(qstr filename) {
#else
mp_lexer_t *mp_lexer_new_from_file(const char *filename) {
#endif
    mp_raise_OSError(MP_ENOENT);
}

void nlr_jump_fail(void *val) {
    mp_hal_stdout_tx_str("FATAL: uncaught NLR\r\n");
    for (;;) {
    }
}

void __assert_func(const char *file, int line, const char *func, const char *expr) {
    mp_hal_stdout_tx_str("assertion failed: ");
    mp_hal_stdout_tx_str(expr);
    nlr_jump_fail(NULL);
}

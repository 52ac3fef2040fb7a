// mpsim firmware entry: the soft-reboot loop around MicroPython's REPL, the
// GC heap and root scan, and the two hooks the mpsim hibernate controller uses
// (boot-parameter block, restore point). See README.md.
#include <stdint.h>
#include "py/compile.h"
#include "py/runtime.h"
#include "py/builtin.h"
#include "py/gc.h"
#include "py/stackctrl.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "shared/runtime/pyexec.h"
#include "shared/readline/readline.h"

void mp_hal_init(void);
extern char _ebss[], _sstack[], _estack[];

// The default GC heap: a plain array in its own section (.heap, not zeroed
// by startup), so its address and size are visible in the ELF and map file.
#ifndef MPSIM_HEAP_SIZE
#define MPSIM_HEAP_SIZE (128 * 1024)
#endif
__attribute__((section(".heap"), aligned(16), used))
uint8_t mpsim_heap[MPSIM_HEAP_SIZE];

// Boot-parameter block, first word of RAM (section .noinit, which startup
// never writes). A host may fill it before reset to put the heap elsewhere;
// it is honoured only when magic is 'MPSH' and the bounds are sane.
#define MPSIM_BOOT_MAGIC (0x4D505348u)
typedef struct {
    uint32_t magic;
    uint32_t heap_start;
    uint32_t heap_end;
} mpsim_boot_params_t;
__attribute__((section(".noinit"), used))
volatile mpsim_boot_params_t mpsim_boot_params;

// The bounds of .heap from the linker script (which PROVIDEs them only when
// referenced, so a port without this heap has no such symbols).
extern uint8_t mpsim_heap_start[], mpsim_heap_end[];

static void heap_bounds(uint8_t **start, uint8_t **end) {
    *start = mpsim_heap_start;
    *end = mpsim_heap_end;
    if (mpsim_boot_params.magic != MPSIM_BOOT_MAGIC) {
        return;
    }
    uint32_t s = mpsim_boot_params.heap_start, e = mpsim_boot_params.heap_end;
    // Must be 16-byte aligned, at least 16 KiB, in data RAM above .bss (it may
    // cover the unused static heap) and clear of the C stack.
    if ((s | e) & 15 || e < s + 16 * 1024
        || s < (uintptr_t)_ebss || e > BOARD_RAM_END
        || (s < (uintptr_t)_estack && e > (uintptr_t)_sstack)) {
        mp_hal_stdout_tx_str("mpsim: boot parameters rejected, using static heap\r\n");
        return;
    }
    *start = (uint8_t *)(uintptr_t)s;
    *end = (uint8_t *)(uintptr_t)e;
}

// The hibernate controller breaks here: the interpreter is initialised but no
// C frame yet holds a heap pointer (the REPL allocates its line buffer later),
// so a saved heap and mp_state_ctx can be restored in place. Must stay a real,
// out-of-line call.
__attribute__((noinline, used)) void mpsim_restore_point(void) {
    __asm volatile ("" ::: "memory");
}

int main(void) {
    mp_hal_init();
    for (;;) {
        mp_stack_set_top(_estack);
        mp_stack_set_limit((_estack - _sstack) - 1024);
        uint8_t *heap_start, *heap_end;
        heap_bounds(&heap_start, &heap_end);
        gc_init(heap_start, heap_end);
        mp_init();
        readline_init0();

        mpsim_restore_point();

        for (;;) {
            int ret = pyexec_mode_kind == PYEXEC_MODE_RAW_REPL
                ? pyexec_raw_repl() : pyexec_friendly_repl();
            if (ret != 0) {
                break; // Ctrl-D: soft reboot
            }
        }
        mp_hal_stdout_tx_str("MPY: soft reboot\r\n");
        MPSIM_GC_SWEEP_ALL();
        mp_deinit();
    }
}

// Roots: r4-r11 (spilled into a stack array) and the whole live C stack.
void gc_collect(void) {
    gc_collect_start();
    uintptr_t regs[MCU_CALLEE_SAVED_REGS];
    mcu_spill_callee_saved(regs);
    gc_collect_root((void **)regs,
        ((uintptr_t)MP_STATE_THREAD(stack_top) - (uintptr_t)regs) / sizeof(uintptr_t));
    gc_collect_end();
}

#if MPSIM_CORE_HAS_PLAT_HELP
// The micro:bit fork's help() asks the port about objects first; we add nothing.
bool mp_plat_specific_help(mp_obj_t obj) {
    (void)obj;
    return false;
}
#endif

// Imports find built-in modules and .py files in a ROMFS image (romfs.c).

// Unrecoverable: report and stop (the core calls these with no handler left).
__attribute__((noreturn)) static void halt(const char *msg) {
    mp_hal_stdout_tx_str("\r\nFATAL: ");
    mp_hal_stdout_tx_str(msg);
    mp_hal_stdout_tx_str("\r\n");
    for (;;) {
    }
}

void nlr_jump_fail(void *val) {
    (void)val;
    halt("uncaught NLR");
}

// newlib's assert() would pull in its stdio; report through the UART instead.
void __assert_func(const char *file, int line, const char *func, const char *expr) {
    (void)line;
    (void)func;
    mp_hal_stdout_tx_str(file);
    mp_hal_stdout_tx_str(": assertion failed: ");
    halt(expr);
}

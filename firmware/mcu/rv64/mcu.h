// What the port needs from an RV64 hart in M-mode: interrupt masking
// (mstatus.MIE), waiting for an interrupt, the callee-saved registers for the GC
// root scan, and the machine-level CSRs the drivers use.
#ifndef MPSIM_MCU_H
#define MPSIM_MCU_H

#include <stddef.h>
#include <stdint.h>

#define MSTATUS_MIE (1ul << 3)
#define MIE_MTIE    (1ul << 7)
#define MIE_MEIE    (1ul << 11)

#define csr_read(csr) ({ unsigned long v_; __asm volatile ("csrr %0, " #csr : "=r" (v_)); v_; })
#define csr_set(csr, v) __asm volatile ("csrs " #csr ", %0" :: "r" ((unsigned long)(v)) : "memory")
#define csr_clear(csr, v) __asm volatile ("csrc " #csr ", %0" :: "r" ((unsigned long)(v)) : "memory")

// mstatus.MIE-based atomic sections; the state is the old MIE bit.
static inline uintptr_t mpsim_irq_disable(void) {
    unsigned long old;
    __asm volatile ("csrrci %0, mstatus, 8" : "=r" (old) :: "memory");
    return old & MSTATUS_MIE;
}
static inline void mpsim_irq_restore(uintptr_t state) {
    if (state) {
        __asm volatile ("csrsi mstatus, 8" ::: "memory");
    }
}

// Wait for an interrupt (wakes on a pending one even with MIE clear). Every
// caller re-checks its condition in a loop, so this is only a hint.
static inline void mp_hal_wfi(void) {
    __asm volatile ("wfi" ::: "memory");
}

// s0-s11 may hold the only reference to a heap object: spill them where the
// GC's stack scan sees them.
#define MCU_CALLEE_SAVED_REGS 12
static inline void mcu_spill_callee_saved(uintptr_t regs[MCU_CALLEE_SAVED_REGS]) {
    __asm volatile (
        "sd s0, 0(%0)\n sd s1, 8(%0)\n sd s2, 16(%0)\n sd s3, 24(%0)\n"
        "sd s4, 32(%0)\n sd s5, 40(%0)\n sd s6, 48(%0)\n sd s7, 56(%0)\n"
        "sd s8, 64(%0)\n sd s9, 72(%0)\n sd s10, 80(%0)\n sd s11, 88(%0)\n"
        : : "r" (regs) : "memory");
}

// No native code emitter for RV64 in the cores we build against.
#define MCU_EMIT_NATIVE 0

#endif // MPSIM_MCU_H

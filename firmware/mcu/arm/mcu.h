// What the port needs from an ARMv7-M core: interrupt masking, waiting for
// an interrupt, and the callee-saved registers for the GC root scan.
#ifndef MPSIM_MCU_H
#define MPSIM_MCU_H

#include <stdint.h>

// PRIMASK-based atomic sections.
static inline uint32_t mpsim_irq_disable(void) {
    uint32_t primask;
    __asm volatile ("mrs %0, primask\n cpsid i" : "=r" (primask) :: "memory");
    return primask;
}
static inline void mpsim_irq_restore(uint32_t primask) {
    __asm volatile ("msr primask, %0" :: "r" (primask) : "memory");
}

// Wait for an interrupt. Every caller re-checks its condition in a loop, so
// this is only a hint: a host that treats WFI as a no-op still works, and a
// host that stops on WFI knows the firmware is idle and may skip time ahead.
static inline void mp_hal_wfi(void) {
    __asm volatile ("wfi" ::: "memory");
}

// r4-r11 may hold the only reference to a heap object: spill them where the
// GC's stack scan sees them.
#define MCU_CALLEE_SAVED_REGS 8
static inline void mcu_spill_callee_saved(uintptr_t regs[MCU_CALLEE_SAVED_REGS]) {
    __asm volatile ("stmia %0, {r4-r11}" : : "r" (regs) : "memory");
}

#endif // MPSIM_MCU_H

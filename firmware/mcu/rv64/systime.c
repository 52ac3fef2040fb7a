// Time for MicroPython on QEMU's RISC-V virt machine, without a periodic tick.
//
// The CLINT's mtime counts at 10 MHz from reset and is 64 bits wide: ticks_ms,
// ticks_us and ticks_cpu all derive from it, so they agree and never step back.
// mtimecmp is a one-shot alarm that wakes the hart from WFI at a sleep's
// deadline and is parked at all ones otherwise, so a board that sleeps or waits
// for input takes no timer interrupts at all and a simulator can skip a whole
// time.sleep(10) in one step. mtime is device state: hibernating the board
// saves the CLINT with it, so ticks go on from where they stopped.
#include <stdint.h>
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "board.h"

#define MTIMECMP (*(volatile uint64_t *)(uintptr_t)(BOARD_CLINT_BASE + 0x4000u))
#define MTIME (*(volatile uint64_t *)(uintptr_t)(BOARD_CLINT_BASE + 0xbff8u))
#define TICKS_PER_MS (BOARD_MTIME_HZ / 1000u)
#define TICKS_PER_US (BOARD_MTIME_HZ / 1000000u)
#define NEVER (~(uint64_t)0)

void systime_alarm_irq_handler(void) {
    MTIMECMP = NEVER;
}

void systime_init(void) {
    MTIMECMP = NEVER;
    csr_set(mie, MIE_MTIE);
}

// mtime as one 64-bit value; a 32-bit bus splits the read (low word first), so
// read high, low, high and retry when the high word moved.
static uint64_t now(void) {
    volatile uint32_t *t = (volatile uint32_t *)&MTIME;
    for (;;) {
        uint32_t hi = t[1], lo = t[0];
        if (t[1] == hi) {
            return ((uint64_t)hi << 32) | lo;
        }
    }
}

mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(now() / TICKS_PER_MS);
}

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)(now() / TICKS_PER_US);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    return (mp_uint_t)now();
}

// Wait in WFI until mtime reaches `end`. The check and the WFI run with
// interrupts masked (WFI still wakes on a pending one), so an alarm that fires
// in between cannot be missed. Any interrupt wakes the loop early: a received
// Ctrl-C then raises KeyboardInterrupt from mp_handle_pending().
static void sleep_until(uint64_t end) {
    for (;;) {
        if (MPSIM_PENDING_EXCEPTION() != MP_OBJ_NULL) {
            MTIMECMP = NEVER;
            MPSIM_HANDLE_PENDING();
        }
        uintptr_t irq = mpsim_irq_disable();
        if (now() >= end) {
            mpsim_irq_restore(irq);
            break;
        }
        MTIMECMP = end;
        mp_hal_wfi();
        mpsim_irq_restore(irq);
    }
    MTIMECMP = NEVER;
}

void mp_hal_delay_ms(mp_uint_t ms) {
    sleep_until(now() + (uint64_t)ms * TICKS_PER_MS);
}

void mp_hal_delay_us(mp_uint_t us) {
    sleep_until(now() + (uint64_t)us * TICKS_PER_US);
}

// Time for MicroPython on mps2-an385, without a periodic tick.
//
// CMSDK APB Timer1 runs free at the APB clock, counting down from 0xFFFFFFFF;
// its wrap interrupt (every 2^32 cycles, ~172 s at 25 MHz) extends it to a
// 64-bit cycle count, from which ticks_ms/us/cpu are all derived, so they
// agree with each other and never step back. Timer0 is a one-shot alarm that
// wakes the CPU from WFI at a sleep's deadline. A board that sleeps or waits
// for input therefore takes no interrupts at all: a real chip could stay in a
// low-power state that long, and a simulator can skip a whole time.sleep(10)
// in one step (a 1 kHz tick would wake it 10,000 times).
//
// The count's high word lives in MicroPython's state (MP_STATE_PORT) rather
// than in .bss: hibernating the interpreter saves it together with Timer1's
// registers (peripheral state), so after a resume ticks_ms() goes on from
// where it stopped, and tick values kept in Python objects stay comparable.
#include <stdint.h>
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "board.h"

MPSIM_REGISTER_ROOT_POINTERS

typedef struct {
    volatile uint32_t CTRL;      // +0x0 bit0 EN, bit3 IRQEN
    volatile uint32_t VALUE;     // +0x4 counts down; 1 -> 0 interrupts, then RELOAD is loaded
    volatile uint32_t RELOAD;    // +0x8 (writing it also sets VALUE)
    volatile uint32_t INTSTATUS; // +0xC bit0; write 1 to clear
} cmsdk_timer_t;

#define CLOCK ((cmsdk_timer_t *)BOARD_TIMER1_BASE)
#define ALARM ((cmsdk_timer_t *)BOARD_TIMER0_BASE)
#define CTRL_EN (1u << 0)
#define CTRL_IRQEN (1u << 3)
#define CYCLES_PER_MS (BOARD_APB_CLOCK_HZ / 1000u)
#define CYCLES_PER_US (BOARD_APB_CLOCK_HZ / 1000000u)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100)

void systime_clock_irq_handler(void) {
    CLOCK->INTSTATUS = 1;
    MP_STATE_PORT(mpsim_clock_hi) += 1;
}

void systime_alarm_irq_handler(void) {
    ALARM->CTRL = 0;
    ALARM->INTSTATUS = 1;
}

void systime_init(void) {
    CLOCK->CTRL = 0;
    CLOCK->RELOAD = 0xFFFFFFFFu;
    CLOCK->INTSTATUS = 1;
    CLOCK->CTRL = CTRL_EN | CTRL_IRQEN;
    ALARM->CTRL = 0;
    ALARM->INTSTATUS = 1;
    NVIC_ISER0 = (1u << BOARD_TIMER0_IRQ) | (1u << BOARD_TIMER1_IRQ);
}

// Cycles since power-on, safe with interrupts enabled or masked: a wrap whose
// interrupt has not run yet shows in INTSTATUS. VALUE is read again after
// seeing it, when the counter has reloaded -- unless it still sits at 0 (the
// clock between the interrupt and the reload), which counts as the old period.
static uint64_t cycles(void) {
    uint32_t irq = mpsim_irq_disable();
    uint32_t hi = MP_STATE_PORT(mpsim_clock_hi);
    uint32_t v = CLOCK->VALUE;
    if (CLOCK->INTSTATUS) {
        v = CLOCK->VALUE;
        if (v != 0) {
            hi += 1;
        }
    }
    mpsim_irq_restore(irq);
    return ((uint64_t)hi << 32) | (0xFFFFFFFFu - v);
}

mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(cycles() / CYCLES_PER_MS);
}

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)(cycles() / CYCLES_PER_US);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    return (mp_uint_t)cycles();
}

static void alarm_off(void) {
    ALARM->CTRL = 0;
    ALARM->INTSTATUS = 1;
}

// Wait in WFI until the cycle count reaches `end`. The check and the WFI run
// with interrupts masked (WFI still wakes on a pending one), so an alarm that
// fires in between cannot be missed. Any interrupt wakes the loop early: a
// received Ctrl-C then raises KeyboardInterrupt from mp_handle_pending().
static void sleep_until(uint64_t end) {
    for (;;) {
        if (MPSIM_PENDING_EXCEPTION() != MP_OBJ_NULL) {
            alarm_off();
            MPSIM_HANDLE_PENDING();
        }
        uint32_t irq = mpsim_irq_disable();
        uint64_t now = cycles();
        if (now >= end) {
            mpsim_irq_restore(irq);
            break;
        }
        uint64_t left = end - now;
        ALARM->CTRL = 0;
        ALARM->RELOAD = 0xFFFFFFFFu;   // not 0: QEMU's model disables a zero-period timer noisily
        ALARM->VALUE = left > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)left;
        ALARM->INTSTATUS = 1;
        ALARM->CTRL = CTRL_EN | CTRL_IRQEN;
        mp_hal_wfi();
        mpsim_irq_restore(irq);
    }
    alarm_off();
}

void mp_hal_delay_ms(mp_uint_t ms) {
    sleep_until(cycles() + (uint64_t)ms * CYCLES_PER_MS);
}

void mp_hal_delay_us(mp_uint_t us) {
    sleep_until(cycles() + (uint64_t)us * CYCLES_PER_US);
}

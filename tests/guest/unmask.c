/* An interrupt that becomes pending while masked is taken right after the
   instruction that unmasks it (ARMv7-M: CPSIE, MSR PRIMASK/BASEPRI/FAULTMASK),
   and a WFI with interrupts masked wakes on it without taking it -- the
   race-free sleep idiom of tickless firmware:  cpsid i; wfi; cpsie i.
   Exit status: a bit per check that failed (0: all passed). */
#include "hal.h"
static volatile uint32_t taken;
void TIMER0_Handler(void) {
    TIMER0_CTRL = 0;
    TIMER0_INTSTATUS = 1;
    NVIC_ICPR0 = 1u << 8;
    taken++;
}
static void pend(void) { NVIC_ISPR0 = 1u << 8; }
int main(void) {
    uart_init();
    NVIC_ISER0 = 1u << 8;
    int bad = 0;
    uint32_t seen;

    /* CPSIE: taken before the next instruction */
    disable_irq();
    pend();
    seen = taken;
    enable_irq();
    if (seen != 0 || taken != 1) bad |= 1;

    /* MSR PRIMASK, Rn (how a saved mask is restored) */
    uint32_t zero = 0;
    disable_irq();
    pend();
    seen = taken;
    __asm__ volatile("msr primask, %0" :: "r"(zero) : "memory");
    if (seen != 1 || taken != 2) bad |= 2;

    /* BASEPRI: priority 0x80 masked by BASEPRI 0x40, then BASEPRI cleared */
    NVIC_IPR(8) = 0x80;
    uint32_t mask = 0x40;
    __asm__ volatile("msr basepri, %0" :: "r"(mask) : "memory");
    pend();
    seen = taken;
    __asm__ volatile("msr basepri, %0" :: "r"(zero) : "memory");
    if (seen != 2 || taken != 3) bad |= 4;

    /* FAULTMASK */
    __asm__ volatile("cpsid f" ::: "memory");
    pend();
    seen = taken;
    __asm__ volatile("cpsie f" ::: "memory");
    if (seen != 3 || taken != 4) bad |= 8;

    /* Masked WFI woken by a timer, 100 times: wakes, not taken until CPSIE */
    for (int i = 0; i < 100; i++) {
        disable_irq();
        TIMER0_RELOAD = 0xFFFFFFFFu;
        TIMER0_VALUE = 25000;                /* 1 ms */
        TIMER0_CTRL = 9;                     /* EN | IRQEN */
        while (!(NVIC_ISPR0 & (1u << 8))) {
            wfi();                           /* may also wake spuriously: the architecture allows it */
        }
        seen = taken;
        enable_irq();
        if (seen != 4 + (uint32_t)i || taken != 5 + (uint32_t)i) { bad |= 16; break; }
    }
    puts_("taken=");
    putu(taken);
    puts_("\n");
    return bad;
}

/* Sleeps by busy-waiting, with no WFI and no interrupts, the way a simple HAL's
   delay_ms does: polling TIMER0's VALUE, then SysTick's COUNTFLAG (1 ms periods).
   Each sleep is measured with TIMER1 (free-running at the 25 MHz APB clock) and
   printed in microseconds, so the firmware-visible time can be compared with
   what was asked, with the number of times the loop polled. A test may shorten
   `sleeps` in memory once start-up has copied .data (at main). */
#include "hal.h"

#define TIMER1_CTRL REG(0x40001000)
#define TIMER1_VALUE REG(0x40001004)
#define TIMER1_RELOAD REG(0x40001008)
#define TICKS_PER_MS 25000u

volatile uint32_t sleeps[4] = {1, 10, 250, 10000};
static uint32_t polls;

static void delay_timer0(uint32_t ms) {
    uint32_t start = TIMER0_VALUE;
    while (start - TIMER0_VALUE < ms * TICKS_PER_MS)         /* a down-counter */
        polls++;
}

static void delay_systick(uint32_t ms) {
    SYST_RVR = TICKS_PER_MS - 1;
    SYST_CVR = 0;
    SYST_CSR = 5;                                              /* ENABLE, core clock */
    for (uint32_t i = 0; i < ms; i++)
        while (!(SYST_CSR & (1u << 16)))                      /* COUNTFLAG: one wrap */
            polls++;
    SYST_CSR = 0;
}

static void report(const char *what, uint32_t ms, uint32_t t0) {
    uint32_t us = (t0 - TIMER1_VALUE) / (TICKS_PER_MS / 1000);
    puts_(what);
    puts_(" ");
    putu(ms);
    puts_(" ms: ");
    putu(us);
    puts_(" us, ");
    putu(polls);
    puts_(" polls\n");
}

int main(void) {
    uart_init();
    TIMER0_RELOAD = 0xFFFFFFFF;
    TIMER0_CTRL = 1;
    TIMER1_RELOAD = 0xFFFFFFFF;
    TIMER1_CTRL = 1;
    for (unsigned i = 0; i < sizeof sleeps / sizeof sleeps[0]; i++) {
        uint32_t t0 = TIMER1_VALUE;
        polls = 0;
        delay_timer0(sleeps[i]);
        report("timer0", sleeps[i], t0);
    }
    for (unsigned i = 0; i < sizeof sleeps / sizeof sleeps[0]; i++) {
        uint32_t t0 = TIMER1_VALUE;
        polls = 0;
        delay_systick(sleeps[i]);
        report("systick", sleeps[i], t0);
    }
    return 0;
}

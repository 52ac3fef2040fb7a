/* SysTick at 1 ms (25 MHz core clock): count ticks in the handler while the main
   loop sleeps in WFI; print the tick count and CVR sanity, exit 0. */
#include "hal.h"
static volatile uint32_t ticks;
void SysTick_Handler(void) { ticks++; }
int main(void) {
    uart_init();
    SYST_RVR = 25000 - 1;
    SYST_CVR = 0;
    SYST_CSR = 7;                        /* enable, interrupt, core clock */
    uint32_t n = 0;
    while (ticks < 100) { wfi(); n++; }
    puts_("ticks=");
    putu(ticks);
    puts_(" wakeups>=100:");
    putu(n >= 100);
    puts_("\n");
    uint32_t v = SYST_CVR;
    puts_("cvr_ok=");
    putu(v < 25000);
    puts_("\n");
    return 0;
}

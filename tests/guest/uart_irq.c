/* UART0 RX interrupt: the handler upper-cases each received byte and echoes it;
   the main loop sleeps in WFI and exits when it sees 'q'. */
#include "hal.h"
static volatile char last;
static volatile uint32_t count;
void UART0RX_Handler(void) {
    while (UART0_STATE & 2) {
        char c = (char)UART0_DATA;
        if (c >= 'a' && c <= 'z') c -= 32;
        putc_(c);
        last = c;
        count++;
    }
    UART0_INTSTATUS = 2;
}
int main(void) {
    uart_init();
    UART0_CTRL = 3 | 8;                  /* TX, RX, RX interrupt */
    NVIC_ISER0 = 1 << 0;
    puts_("ready\n");
    while (last != 'Q') wfi();
    puts_("\ncount=");
    putu(count);
    puts_("\n");
    return 0;
}

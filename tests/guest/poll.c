/* Busy-polls UART0 STATE for input (no WFI, no interrupts), echoes lines, exits on 'q'. */
#include "hal.h"
int main(void) {
    uart_init();
    puts_("> ");
    for (;;) {
        while (!(UART0_STATE & 2)) ;
        char c = (char)UART0_DATA;
        if (c == 'q') break;
        putc_(c);
        if (c == '\r') puts_("\n> ");
    }
    return 0;
}

// Interrupt handlers of the mpsim port, placed in the vector table by
// mcu/arm/startup.c: UART0 RX (uart.c), the sleep alarm and the clock's wrap
// (systime.c).
#include "uart.h"
void systime_alarm_irq_handler(void);
void systime_clock_irq_handler(void);
#define PORT_IRQ_VECTORS \
    [16 + BOARD_UART0_RX_IRQ] = uart_rx_irq_handler, \
    [16 + BOARD_TIMER0_IRQ] = systime_alarm_irq_handler, \
    [16 + BOARD_TIMER1_IRQ] = systime_clock_irq_handler,

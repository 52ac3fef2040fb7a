// CMSDK APB UART0 driver: the four functions the HAL needs plus the RX ISR.
#ifndef MPSIM_UART_H
#define MPSIM_UART_H

#include <stddef.h>

void uart_init(void);
void uart_tx_strn(const char *str, size_t len);
int uart_rx_any(void);          // number of buffered received bytes
int uart_rx_chr(void);          // next received byte, or -1 if none (never blocks)
void uart_rx_irq_handler(void); // UART0 RX interrupt (vector 16 + BOARD_UART0_RX_IRQ)

#endif // MPSIM_UART_H

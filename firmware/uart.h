// The console UART's driver (uart.c on the MPS2, mcu/rv64/uart.c on virt): what
// the HAL needs. Its RX interrupt hands every received byte to mpsim_console_rx.
#ifndef MPSIM_UART_H
#define MPSIM_UART_H

#include <stddef.h>

void uart_init(void);
void uart_tx_strn(const char *str, size_t len);
void uart_rx_irq_handler(void); // RX interrupt: drains the receiver (also polled, IRQs masked)

void mpsim_console_rx(int c);   // mphalport.c: one received byte

#endif // MPSIM_UART_H

// CMSDK APB UART (ARM DDI0479C; QEMU hw/char/cmsdk-apb-uart.c), the uart.h API.
// TX is polled. RX is interrupt driven: each byte goes to the console's ring
// (mpsim_console_rx, mphalport.c), so that Ctrl-C is seen while Python code runs.
#include <stdint.h>
#include "board.h"
#include "uart.h"

typedef struct {
    volatile uint32_t DATA;      // +0x00 read: RX byte, write: TX byte
    volatile uint32_t STATE;     // +0x04 bit0 TX full, bit1 RX full
    volatile uint32_t CTRL;      // +0x08 bit0 TX en, bit1 RX en, bit2 TX int en, bit3 RX int en
    volatile uint32_t INTSTATUS; // +0x0C bit0 TX, bit1 RX; write 1 to clear
    volatile uint32_t BAUDDIV;   // +0x10
} cmsdk_uart_t;

#define UART0 ((cmsdk_uart_t *)BOARD_UART0_BASE)
#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define CTRL_TXEN (1u << 0)
#define CTRL_RXEN (1u << 1)
#define CTRL_RXINTEN (1u << 3)
#define INT_RX (1u << 1)

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100)

void uart_init(void) {
    UART0->BAUDDIV = BOARD_UART0_BAUDDIV;
    UART0->INTSTATUS = 0xf;
    UART0->CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXINTEN;
    NVIC_ISER0 = 1u << BOARD_UART0_RX_IRQ;
}

void uart_tx_strn(const char *str, size_t len) {
    while (len--) {
        while (UART0->STATE & STATE_TXFULL) {
        }
        UART0->DATA = (uint8_t)*str++;
    }
}

void uart_rx_irq_handler(void) {
    // Clear first: a byte arriving while we drain re-raises the interrupt.
    UART0->INTSTATUS = INT_RX;
    while (UART0->STATE & STATE_RXFULL) {
        mpsim_console_rx(UART0->DATA & 0xff);
    }
}

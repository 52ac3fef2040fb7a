// CMSDK APB UART (ARM DDI0479C; QEMU hw/char/cmsdk-apb-uart.c).
// TX is polled. RX is interrupt driven into a ring buffer so that Ctrl-C can
// be seen while Python code runs; the interrupt character is not buffered but
// turned into a pending KeyboardInterrupt.
#include <stdint.h>
#include "board.h"
#include "uart.h"
#include "py/runtime.h"
#include "shared/runtime/interrupt_char.h"

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

// Power-of-two ring; head written only by the ISR, tail only by thread code.
#define RX_BUF_SIZE 256
static uint8_t rx_buf[RX_BUF_SIZE];
static volatile uint32_t rx_head, rx_tail;

void uart_init(void) {
    rx_head = rx_tail = 0;
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
        int c = UART0->DATA & 0xff;
        if (c == mp_interrupt_char) {
            MPSIM_KEYBOARD_INTERRUPT();
        } else if (rx_head - rx_tail < RX_BUF_SIZE) {
            rx_buf[rx_head % RX_BUF_SIZE] = c;
            rx_head = rx_head + 1;
        }
        // else: overrun, drop the byte
    }
}

int uart_rx_any(void) {
    return rx_head - rx_tail;
}

int uart_rx_chr(void) {
    if (rx_head == rx_tail) {
        // Also poll the hardware (with the interrupt masked), so input works
        // on a host that models the UART but does not deliver its interrupt.
        __asm volatile ("cpsid i" ::: "memory");
        uart_rx_irq_handler();
        __asm volatile ("cpsie i" ::: "memory");
        if (rx_head == rx_tail) {
            return -1;
        }
    }
    int c = rx_buf[rx_tail % RX_BUF_SIZE];
    rx_tail = rx_tail + 1;
    return c;
}

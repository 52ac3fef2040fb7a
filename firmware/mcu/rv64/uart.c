// NS16550A UART0 of QEMU's virt machine (hw/char/serial.c), the uart.h API.
// TX is polled on LSR.THRE. RX is interrupt driven through the PLIC (source
// BOARD_UART0_IRQ, context 0 = this hart's M-mode): each byte goes to the
// console's ring (mpsim_console_rx, mphalport.c), so that Ctrl-C is seen while
// Python code runs.
#include <stdint.h>
#include "board.h"
#include "mcu.h"
#include "uart.h"

#define REG(off) (*(volatile uint8_t *)(uintptr_t)(BOARD_UART0_BASE + (off)))
#define RBR REG(0)
#define THR REG(0)
#define IER REG(1)
#define LCR REG(3)
#define LSR REG(5)
#define IER_RDI 0x01
#define LCR_8N1 0x03
#define LSR_DR 0x01
#define LSR_THRE 0x20

#define PLIC_PRIORITY(n) (*(volatile uint32_t *)(BOARD_PLIC_BASE + 4u * (n)))
#define PLIC_ENABLE0 (*(volatile uint32_t *)(BOARD_PLIC_BASE + 0x2000u))
#define PLIC_THRESHOLD0 (*(volatile uint32_t *)(BOARD_PLIC_BASE + 0x200000u))

void uart_init(void) {
    // The FIFO stays off (FCR at its reset value): switching it on flushes the
    // receiver, and a byte that arrived before this point would be lost.
    LCR = LCR_8N1;
    IER = IER_RDI;
    PLIC_PRIORITY(BOARD_UART0_IRQ) = 1;
    PLIC_THRESHOLD0 = 0;
    PLIC_ENABLE0 |= 1u << BOARD_UART0_IRQ;
    csr_set(mie, MIE_MEIE);
    csr_set(mstatus, MSTATUS_MIE);
}

void uart_tx_strn(const char *str, size_t len) {
    while (len--) {
        while (!(LSR & LSR_THRE)) {
        }
        THR = (uint8_t)*str++;
    }
}

void uart_rx_irq_handler(void) {
    while (LSR & LSR_DR) {
        mpsim_console_rx(RBR);
    }
}

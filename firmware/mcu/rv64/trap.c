// Trap dispatch for the RV64 port: the machine timer (the sleep alarm, systime.c)
// and external interrupts claimed from the PLIC (the UART's, uart.c). Any
// synchronous exception is fatal: report it on the console, then power off with
// a failure status through the sifive_test finisher (QEMU and mpsim both exit).
#include <stddef.h>
#include <stdint.h>
#include "board.h"
#include "mcu.h"
#include "uart.h"

void systime_alarm_irq_handler(void);

#define PLIC_CLAIM0 (*(volatile uint32_t *)(BOARD_PLIC_BASE + 0x200004u))
#define TEST_FINISHER (*(volatile uint32_t *)(uintptr_t)BOARD_TEST_BASE)
#define CAUSE_IRQ (1ul << 63)
#define IRQ_MTI 7
#define IRQ_MEI 11

static void put_hex(unsigned long v) {
    char buf[18] = "0x";
    for (int i = 0; i < 16; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
    }
    uart_tx_strn(buf, 18);
}

static void report(const char *what, unsigned long value) {
    const char *p = what;
    while (*p) {
        p++;
    }
    uart_tx_strn(what, p - what);
    put_hex(value);
}

unsigned long mcu_trap(unsigned long cause, unsigned long epc, unsigned long tval, unsigned long *frame) {
    if (cause == (CAUSE_IRQ | IRQ_MTI)) {
        systime_alarm_irq_handler();
        return epc;
    }
    if (cause == (CAUSE_IRQ | IRQ_MEI)) {
        uint32_t irq;
        while ((irq = PLIC_CLAIM0) != 0) {
            if (irq == BOARD_UART0_IRQ) {
                uart_rx_irq_handler();
            }
            PLIC_CLAIM0 = irq;
        }
        return epc;
    }
    // The interpreter state is not trustworthy any more: nothing to return to.
    report("\r\nFATAL: trap mcause=", cause);
    report(" mepc=", epc);
    report(" mtval=", tval);
    report(" ra=", frame[0]);
    uart_tx_strn("\r\n", 2);
    TEST_FINISHER = 0x3333u | (1u << 16);        // fail, exit status 1
    for (;;) {
    }
}

// Reset and exception entry for the Cortex-M3: vector table, C runtime set-up
// (.data copy, .bss zero) and fault reporting. No CMSIS: the few system
// registers we need are spelled out here.
#include <stddef.h>
#include <stdint.h>
#include "board.h"
// The port's interrupt handlers: PORT_IRQ_VECTORS, designated initialisers
// for the external lines it uses (none for a port that polls).
#include "port_irqs.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
// The port's console output, polled (usable from a fault handler).
void uart_tx_strn(const char *str, size_t len);

#define SCB_VTOR  (*(volatile uint32_t *)0xE000ED08)
#define SCB_CFSR  (*(volatile uint32_t *)0xE000ED28)
#define SCB_HFSR  (*(volatile uint32_t *)0xE000ED2C)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34)
#define SCB_BFAR  (*(volatile uint32_t *)0xE000ED38)

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);

// Vector table at address 0 (QEMU and mpsim take SP and PC from here).
typedef void (*vector_t)(void);
__attribute__((section(".isr_vector"), used))
const vector_t mpsim_vectors[16 + BOARD_NUM_IRQS] = {
    (vector_t)&_estack,
    Reset_Handler,
    Default_Handler,    // NMI
    Fault_Handler,      // HardFault
    Fault_Handler,      // MemManage
    Fault_Handler,      // BusFault
    Fault_Handler,      // UsageFault
    0, 0, 0, 0,
    Default_Handler,    // SVCall
    Default_Handler,    // DebugMonitor
    0,
    Default_Handler,    // PendSV
    Default_Handler,    // SysTick (unused: time comes from Timer1, see systime.c)
    PORT_IRQ_VECTORS
    // all other external lines stay 0 and are never enabled
};

void Reset_Handler(void) {
    // .data image is stored after the code; .noinit and .heap are left alone.
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    SCB_VTOR = (uint32_t)mpsim_vectors;
    main();
    for (;;) {
    }
}

static void put_hex(uint32_t v) {
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xf];
    }
    uart_tx_strn(buf, 10);
}

static void report(const char *what, uint32_t value) {
    const char *p = what;
    while (*p) {
        p++;
    }
    uart_tx_strn(what, p - what);
    put_hex(value);
}

// Report which fault happened and where, then stop; the interpreter state is
// not trustworthy any more, so there is nothing to return to.
__attribute__((used)) void fault_report(uint32_t *frame) {
    report("\r\nFATAL: fault pc=", frame[6]);
    report(" lr=", frame[5]);
    report(" cfsr=", SCB_CFSR);
    report(" hfsr=", SCB_HFSR);
    report(" bfar=", SCB_BFAR);
    report(" mmfar=", SCB_MMFAR);
    uart_tx_strn("\r\n", 2);
    for (;;) {
    }
}

// Pick the stack the faulting code was using and hand its frame to C.
__attribute__((naked)) void Fault_Handler(void) {
    __asm volatile (
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b fault_report\n"
    );
}

void Default_Handler(void) {
    uint32_t ipsr;
    __asm volatile ("mrs %0, ipsr" : "=r" (ipsr));
    report("\r\nFATAL: unexpected exception ", ipsr);
    uart_tx_strn("\r\n", 2);
    for (;;) {
    }
}

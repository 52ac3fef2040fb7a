/* Tiny bare-metal HAL for mpsim guest tests: registers of the mps2-an385 as QEMU
   models them, plus semihosting. No libc. */
#pragma once
#include <stdint.h>
#define REG(a) (*(volatile uint32_t *)(a))
#define UART0_DATA REG(0x40004000)
#define UART0_STATE REG(0x40004004)
#define UART0_CTRL REG(0x40004008)
#define UART0_INTSTATUS REG(0x4000400C)
#define UART0_BAUDDIV REG(0x40004010)
#define SYST_CSR REG(0xE000E010)
#define SYST_RVR REG(0xE000E014)
#define SYST_CVR REG(0xE000E018)
#define NVIC_ISER0 REG(0xE000E100)
#define NVIC_ISPR0 REG(0xE000E200)
#define NVIC_ICPR0 REG(0xE000E280)
#define NVIC_IPR(n) (*(volatile uint8_t *)(0xE000E400 + (n)))
#define SCB_ICSR REG(0xE000ED04)
#define SCB_VTOR REG(0xE000ED08)
#define SCB_AIRCR REG(0xE000ED0C)
#define SCB_SHPR3 REG(0xE000ED20)
#define SCB_SHCSR REG(0xE000ED24)
#define SCB_CFSR REG(0xE000ED28)
#define SCB_HFSR REG(0xE000ED2C)
#define SCB_BFAR REG(0xE000ED38)
#define FPGA_LED REG(0x40028000)
#define FPGA_CLK100HZ REG(0x40028014)
#define TIMER0_CTRL REG(0x40000000)
#define TIMER0_VALUE REG(0x40000004)
#define TIMER0_RELOAD REG(0x40000008)
#define TIMER0_INTSTATUS REG(0x4000000C)

static inline void uart_init(void) { UART0_BAUDDIV = 16; UART0_CTRL = 3; }
static inline void putc_(char c) { while (UART0_STATE & 1) ; UART0_DATA = (uint8_t)c; }
static inline void puts_(const char *s) { while (*s) putc_(*s++); }
static inline void putu(uint32_t v) {
    char b[11]; int i = 10; b[i] = 0;
    do { b[--i] = '0' + v % 10; v /= 10; } while (v);
    puts_(&b[i]);
}
static inline int semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static inline void sh_exit(int status) {
    uint32_t blk[2] = {0x20026, (uint32_t)status};
    semihost(0x20, blk);
    for (;;) ;
}
static inline void wfi(void) { __asm__ volatile("wfi"); }
static inline void enable_irq(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void disable_irq(void) { __asm__ volatile("cpsid i" ::: "memory"); }

/* Registers of QEMU's RISC-V virt machine for the guest test programs. */
#pragma once
#include <stdint.h>

#define REG8(a) (*(volatile uint8_t *)(uintptr_t)(a))
#define REG32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define REG64(a) (*(volatile uint64_t *)(uintptr_t)(a))

#define UART 0x10000000u
#define UART_THR REG8(UART + 0)
#define UART_IER REG8(UART + 1)
#define UART_IIR REG8(UART + 2)
#define UART_FCR REG8(UART + 2)
#define UART_LCR REG8(UART + 3)
#define UART_LSR REG8(UART + 5)
#define UART_SCR REG8(UART + 7)
#define CLINT_MTIMECMP REG64(0x02004000u)
#define CLINT_MTIME REG64(0x0200bff8u)
#define PLIC_PRIORITY(n) REG32(0x0c000000u + 4 * (n))
#define PLIC_ENABLE0 REG32(0x0c002000u)
#define PLIC_THRESHOLD0 REG32(0x0c200000u)
#define PLIC_CLAIM0 REG32(0x0c200004u)
#define TEST_FINISHER REG32(0x00100000u)
#define UNMAPPED 0x01000000u            /* nothing there on virt */

#define csr_read(csr) ({ unsigned long v_; __asm__ volatile("csrr %0, " #csr : "=r"(v_)); v_; })
#define csr_write(csr, v) __asm__ volatile("csrw " #csr ", %0" :: "r"((unsigned long)(v)))
#define csr_set(csr, v) __asm__ volatile("csrs " #csr ", %0" :: "r"((unsigned long)(v)))
#define csr_clear(csr, v) __asm__ volatile("csrc " #csr ", %0" :: "r"((unsigned long)(v)))

long semihost(long op, long arg);
void semihost_exit(long status);        /* crt0.S */

static inline void putc_(char c) {
    while (!(UART_LSR & 0x20)) ;
    UART_THR = (uint8_t)c;
}
static inline void puts_(const char *s) { while (*s) putc_(*s++); }
static inline void puthex(unsigned long v) {
    puts_("0x");
    for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}

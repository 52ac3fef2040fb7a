/* Traps and interrupts on QEMU's RISC-V virt, printed so that mpsim's output can be
   compared byte for byte with QEMU's: ecall, illegal instructions, ebreak, access
   faults on unmapped loads/stores/fetches, a misaligned load (no trap on virt),
   machine timer interrupts (direct and vectored mtvec, woken from WFI), the PLIC
   delivering the UART's THR-empty interrupt, semihosting output, and the exit
   status through semihosting. */
#include "hal.h"

extern char _start[], trap_entry[];
static volatile int timer_hits, uart_hits;
static volatile unsigned uart_irq, uart_iir;
static volatile unsigned long resume_at;

static void report(const char *what, unsigned long cause, unsigned long epc, unsigned long tval) {
    puts_(what);
    puts_(" mcause ");
    puthex(cause);
    puts_(" mepc ");
    puthex(epc - (unsigned long)_start);
    puts_(" mtval ");
    puthex(tval >= (unsigned long)_start && tval < (unsigned long)_start + 0x100000 ? tval - (unsigned long)_start : tval);
    puts_("\n");
}

unsigned long trap(unsigned long cause, unsigned long epc, unsigned long tval) {
    if ((long)cause < 0) {
        unsigned long n = cause & 0xff;
        if (n == 7) {                          /* machine timer */
            timer_hits++;
            CLINT_MTIMECMP = ~0ull;
        } else if (n == 11) {                  /* machine external: the PLIC */
            unsigned irq = PLIC_CLAIM0;
            uart_iir = UART_IIR;
            UART_IER = 0;
            PLIC_CLAIM0 = irq;
            uart_irq = irq;
            uart_hits++;
        }
        return epc;
    }
    report("trap", cause, epc, tval);
    if (resume_at) {
        unsigned long r = resume_at;
        resume_at = 0;
        return r;
    }
    unsigned short insn = *(volatile unsigned short *)epc;
    return epc + ((insn & 3) == 3 ? 4 : 2);
}

/* Vectored mode: a table of jumps, entry n for interrupt cause n. */
__asm__(".balign 256\n vectors:\n"
        " j trap_entry\n .rept 15\n j trap_entry\n .endr\n");
extern char vectors[];

static void wait_timer(int hits) {
    CLINT_MTIMECMP = CLINT_MTIME + 1000;      /* 100 us at 10 MHz */
    csr_set(mie, 1 << 7);
    for (;;) {                                 /* race-free: WFI wakes with MIE clear */
        csr_clear(mstatus, 1 << 3);
        if (timer_hits >= hits) break;
        __asm__ volatile("wfi");
        csr_set(mstatus, 1 << 3);              /* the interrupt is taken here */
    }
    csr_clear(mie, 1 << 7);
}

int main(void) {
    puts_("rv64 traps\n");
    __asm__ volatile("ecall");
    __asm__ volatile(".word 0xffffffff");
    __asm__ volatile(".half 0x0000");
    __asm__ volatile("csrw cycle, zero");
    __asm__ volatile("c.ebreak");
    __asm__ volatile(".option push\n .option norvc\n ebreak\n .option pop");
    (void)REG32(UNMAPPED);
    REG32(UNMAPPED + 8) = 1;
    resume_at = (unsigned long)&&after_fetch;
    ((void (*)(void))(uintptr_t)(UNMAPPED + 0x10))();
after_fetch:
    {
        static volatile uint32_t words[2] = {0x11223344, 0x55667788};
        uint32_t v = *(volatile uint32_t *)((volatile char *)words + 1);
        puts_("misaligned ");
        puthex(v);
        puts_("\n");
    }
    wait_timer(1);
    puts_("timer direct ");
    puthex(timer_hits);
    puts_("\n");
    csr_write(mtvec, (unsigned long)vectors | 1);
    wait_timer(2);
    puts_("timer vectored ");
    puthex(timer_hits);
    puts_("\n");
    csr_write(mtvec, (unsigned long)trap_entry);

    PLIC_PRIORITY(10) = 1;
    PLIC_THRESHOLD0 = 0;
    PLIC_ENABLE0 = 1u << 10;
    UART_FCR = 0x07;
    csr_set(mie, 1 << 11);
    csr_set(mstatus, 1 << 3);
    UART_IER = 0x02;                           /* THR empty: pending at once */
    for (volatile int i = 0; i < 1000 && !uart_hits; i++) ;   /* QEMU takes it at its next block */
    csr_clear(mstatus, 1 << 3);
    puts_("uart hits ");
    puthex(uart_hits);
    puts_(" irq ");
    puthex(uart_irq);
    puts_(" iir ");
    puthex(uart_iir);
    puts_("\n");
    semihost(0x04, (long)"semihosting write0\n");
    puts_("done\n");
    return 3;
}

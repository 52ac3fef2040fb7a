/* Synchronous faults reach the firmware's own handlers, as on the hardware and in
   QEMU. Each boot runs one case, which faults; the handler prints the exception
   number, CFSR, HFSR, BFAR and the stacked PC, then resets the system (AIRCR
   SYSRESETREQ) and the next boot runs the next case. The case number lives in a
   RAM word outside the ELF, which neither QEMU's nor mpsim's reset rewrites.
   Exit status 0 after the last case. */
#include "hal.h"
#define CASE REG(0x20300000)
#define MAGIC 0x5AFE0000u

static void puthex(uint32_t v) {
    for (int i = 28; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}

__attribute__((used)) void fault_report(uint32_t *frame) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    puts_("case ");
    putu(CASE & 0xFF);
    puts_(": exception ");
    putu(ipsr & 0x1FF);
    puts_(" cfsr ");
    puthex(SCB_CFSR);
    puts_(" hfsr ");
    puthex(SCB_HFSR);
    if (SCB_CFSR & (1u << 15)) {
        puts_(" bfar ");
        puthex(SCB_BFAR);
    }
    puts_(" pc ");
    puthex(frame[6]);
    puts_("\n");
    CASE += 1;
    SCB_AIRCR = 0x05FA0004;                  /* SYSRESETREQ */
    for (;;) ;
}

__attribute__((naked)) static void fault_entry(void) {
    __asm__ volatile("tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n b fault_report\n");
}
void HardFault_Handler(void) __attribute__((alias("fault_entry")));
void MemManage_Handler(void) __attribute__((alias("fault_entry")));
void BusFault_Handler(void) __attribute__((alias("fault_entry")));
void UsageFault_Handler(void) __attribute__((alias("fault_entry")));

typedef void (*fn_t)(void);

int main(void) {
    uart_init();
    if ((CASE & 0xFFFF0000u) != MAGIC) CASE = MAGIC;
    switch (CASE & 0xFF) {
    case 0: return (int)REG(0x30000000);                        /* read, nothing there */
    case 1: REG(0x30000000) = 1; break;                          /* write, nothing there */
    case 2: __asm__ volatile(".short 0xde00"); break;           /* UDF: undefined */
    case 3: ((fn_t)0x40000001)(); break;                         /* execute from a peripheral (XN) */
    case 4: ((fn_t)0x30000001)(); break;                         /* execute from nothing */
    case 5: __asm__ volatile("bx %0" :: "r"(0x100u)); break;     /* BX to ARM state: INVSTATE */
    case 6: SCB_SHCSR = 7u << 16;                                 /* enabled: BusFault itself */
            return (int)REG(0x30000000);
    case 7: SCB_SHCSR = 7u << 16;                                 /* enabled: UsageFault itself */
            __asm__ volatile(".short 0xde00"); break;
    case 8: SCB_SHCSR = 7u << 16;                                 /* enabled, but masked: escalates */
            __asm__ volatile("cpsid i\n .short 0xde00"); break;
    default:
        puts_("done\n");
        CASE = 0;
        return 0;
    }
    puts_("no fault\n");
    return 1;
}

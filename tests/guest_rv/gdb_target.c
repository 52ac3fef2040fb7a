/* A target for GDB on the RISC-V board (tests/gdb/test_gdb_rv.py): main calls
   bump() in a loop until a debugger sets `released`, then says so on the UART
   with the count so far and sleeps in WFI. GDB breaks in bump, steps, reads
   `counter` and the registers, watches `counter`, writes `released` and detaches. */
#include "hal.h"

volatile unsigned long counter;
volatile unsigned long released;
unsigned long pattern[2] = {0x1122334455667788ul, 0x99aabbccddeeff00ul};

unsigned long trap(unsigned long cause, unsigned long epc, unsigned long tval) {
    (void)cause; (void)tval;
    return epc;
}

__attribute__((noinline)) unsigned long bump(unsigned long step) {
    counter += step;
    return counter;
}

int main(void) {
    puts_("gdb target\n");
    unsigned long n = 0;
    while (!released)
        n = bump(1);
    puts_("released ");
    puthex(n >= 1);
    puts_("\n");
    for (;;)
        __asm__ volatile("wfi");
}

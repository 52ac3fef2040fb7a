/* An IT block whose first instruction loads from a page the TLB has not seen,
   followed by a call: the callee must not run as if inside the IT block (its
   conditional branch would be UNDEFINED there). On the stock library the TLB-fill
   hook's state sync used to leak the IT state (upstream unicorn issue #2309).
   50 fresh pages; exit status = number of wrong results. */
#include "hal.h"
__attribute__((naked, noinline)) static int callee(int x) {
    __asm__ volatile("cmp r0, #34\n beq 1f\n movs r0, #0\n bx lr\n1: movs r0, #1\n bx lr\n");
}
#define FRESH_PAGE(i) (0x20200000u + 0x1000u * (i))   /* RAM nothing else touches */
int main(void) {
    uart_init();
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        int r;
        __asm__ volatile(
            "cmp %[i], #100\n"
            "itet ls\n"
            "ldrls r2, [%[p]]\n"
            "movhi r1, #24\n"
            "movls r1, #34\n"
            "mov r0, r1\n"
            "blx %[f]\n"
            "mov %[r], r0\n"
            : [r] "=r"(r) : [i] "r"(i), [p] "r"(FRESH_PAGE(i)), [f] "r"((uint32_t)callee | 1)
            : "r0", "r1", "r2", "r3", "r12", "lr", "cc", "memory");
        if (r != 1) bad++;
    }
    puts_(bad ? "bad\n" : "ok\n");
    return bad;
}

/* Register and flag integrity under heavy preemption: SysTick every 5000 cycles
   interrupts a loop whose result is known; the handler clobbers r0-r3, r12, lr
   and the flags. Also exercises SVC (return value through the stacked r0) and
   PendSV set from thread mode. Exit status 0 when everything matched. */
#include "hal.h"
static volatile uint32_t ticks, pendsv_runs, svc_arg;
void SysTick_Handler(void) {
    ticks++;
    __asm__ volatile("movs r0, #0\n movs r1, #0\n movs r2, #0\n movs r3, #0\n mov r12, r0\n cmp r0, #1"
                     ::: "r0", "r1", "r2", "r3", "r12", "cc");
}
void PendSV_Handler(void) { pendsv_runs++; }
__attribute__((naked)) void SVC_Handler(void) {
    /* r0 of the caller is in the stacked frame: double it there. */
    __asm__ volatile("mrs r0, msp\n ldr r1, [r0]\n adds r1, r1, r1\n str r1, [r0]\n bx lr");
}
static uint32_t svc_double(uint32_t x) {
    register uint32_t r0 __asm__("r0") = x;
    __asm__ volatile("svc 1" : "+r"(r0) :: "memory");
    return r0;
}
__attribute__((noinline, noipa)) static uint32_t work(uint32_t n) {
    uint32_t a = 1, b = 2, c = 3, d = 4;
    for (uint32_t i = 0; i < n; i++) {
        a = a * 1664525u + 1013904223u;
        b ^= a >> 3;
        c += (b < a) ? 7 : 11;
        d = (d << 1) | (d >> 31);
        d += c;
    }
    return a ^ b ^ c ^ d;
}
int main(void) {
    uart_init();
    static volatile uint32_t n = 200000;
    uint32_t expect = work(n);                /* no interrupts yet */
    SYST_RVR = 5000 - 1;                      /* 200 us: heavy preemption */
    SYST_CVR = 0;
    SYST_CSR = 7;
    uint32_t got = work(n);
    SYST_CSR = 0;
    int bad = 0;
    if (got != expect) { puts_("work mismatch\n"); bad |= 1; }
    if (ticks < 1) { puts_("no tick during work\n"); bad |= 2; }
    if (svc_double(21) != 42) { puts_("svc failed\n"); bad |= 4; }
    SCB_ICSR = 1u << 28;                      /* PENDSVSET */
    __asm__ volatile("dsb\n isb");
    if (pendsv_runs != 1) { puts_("pendsv not taken\n"); bad |= 8; }
    puts_("ticks=");
    putu(ticks);
    puts_("\n");
    return bad;
}

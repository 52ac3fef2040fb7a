/* Vector table and reset for the guest tests: copy .data, zero .bss, call main. */
#include <stdint.h>
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
static void Default_Handler(void) { for (;;) ; }
#define WEAK __attribute__((weak, alias("Default_Handler")))
void HardFault_Handler(void) WEAK;
void MemManage_Handler(void) WEAK;
void BusFault_Handler(void) WEAK;
void UsageFault_Handler(void) WEAK;
void SVC_Handler(void) WEAK;
void PendSV_Handler(void) WEAK;
void SysTick_Handler(void) WEAK;
void UART0RX_Handler(void) WEAK;
void UART0TX_Handler(void) WEAK;
void TIMER0_Handler(void) WEAK;
__attribute__((section(".vectors"), used)) void (*const vectors[48])(void) = {
    (void (*)(void))&_estack, Reset_Handler, Default_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0,
    SVC_Handler, Default_Handler, 0, PendSV_Handler, SysTick_Handler,
    [16 + 0] = UART0RX_Handler, [16 + 1] = UART0TX_Handler, [16 + 8] = TIMER0_Handler,
};
void Reset_Handler(void) {
    uint32_t *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss; ) *d++ = 0;
    int rc = main();
    uint32_t blk[2] = {0x20026, (uint32_t)rc};
    register int r0 __asm__("r0") = 0x20;
    register void *r1 __asm__("r1") = blk;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) ;
}

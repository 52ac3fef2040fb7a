/* Reads an unmapped address: the machine must report a GuestFault naming PC and address. */
#include "hal.h"
int main(void) {
    uart_init();
    puts_("before\n");
    return (int)REG(0x30000000);
}

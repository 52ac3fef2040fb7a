/* One semihosting call with a buffer where the test says (flash, ROM, unmapped, RAM).
   The test writes the mailbox after reset (nothing at 0x20100000 is touched by the
   start-up code): [0] operation, [1] buffer address, [2] 1 = pass the buffer itself
   as the argument block; operation 0xFF stores to the buffer instead. The guest writes back [3] r0, [4] SYS_ERRNO, [5] 0x600D. */
#include "hal.h"
#define MAILBOX ((volatile uint32_t *)0x20100000)
int main(void) {
    uint32_t op = MAILBOX[0], buf = MAILBOX[1];
    uint32_t blk[4] = {0, 0, 0, 0};
    int r;
    if (op == 0xFF) {                       /* a plain store, to compare with */
        *(volatile uint32_t *)buf = 0x12345678;
        r = 0;
    } else if (MAILBOX[2]) {
        r = semihost(op, (void *)buf);
    } else {
        switch (op) {
        case 0x01: blk[0] = buf; blk[1] = 0; blk[2] = 3; break;        /* SYS_OPEN name */
        case 0x05: blk[0] = 1; blk[1] = buf; blk[2] = 16; break;       /* SYS_WRITE */
        case 0x06: blk[0] = 0; blk[1] = buf; blk[2] = 16; break;       /* SYS_READ */
        case 0x15: blk[0] = buf; blk[1] = 64; break;                   /* SYS_GET_CMDLINE */
        case 0x16: blk[0] = buf; break;                                /* SYS_HEAPINFO */
        }
        r = semihost(op, blk);
    }
    MAILBOX[3] = (uint32_t)r;
    MAILBOX[4] = (uint32_t)semihost(0x13, 0);
    MAILBOX[5] = 0x600D;
    return 0;
}

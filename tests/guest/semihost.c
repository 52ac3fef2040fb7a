/* Semihosting console: SYS_WRITE0, SYS_OPEN(":tt")+SYS_WRITE, SYS_READC, SYS_CLOCK,
   then SYS_EXIT_EXTENDED with the character read as the status. */
#include "hal.h"
int main(void) {
    semihost(0x04, "write0\n");
    uint32_t open_blk[3] = {(uint32_t)":tt", 4, 3};
    int fd = semihost(0x01, open_blk);
    uint32_t wr_blk[3] = {(uint32_t)fd, (uint32_t)"via-open\n", 9};
    semihost(0x05, wr_blk);
    int c = semihost(0x07, 0);
    int clk = semihost(0x10, 0);
    sh_exit(c + (clk >= 0 ? 0 : 1000));
    return 99;
}

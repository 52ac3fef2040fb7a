/* Sleeps by busy-waiting on the CLINT's mtime (10 MHz), with no WFI and no
   interrupts, and prints each sleep's length in microseconds as the firmware saw
   it, with how often the loop polled (tests/machine/test_busy_wait.py). */
#include "hal.h"

#define TICKS_PER_MS 10000ul

unsigned long trap(unsigned long cause, unsigned long epc, unsigned long tval) {
    (void)cause; (void)tval;
    return epc + 4;
}

static void putu(unsigned long v) {
    char b[21];
    int i = 20;
    b[i] = 0;
    do { b[--i] = '0' + v % 10; v /= 10; } while (v);
    puts_(&b[i]);
}

int main(void) {
    static const unsigned long sleeps[] = {1, 10, 250, 10000};
    for (unsigned i = 0; i < sizeof sleeps / sizeof sleeps[0]; i++) {
        unsigned long polls = 0, t0 = CLINT_MTIME;
        while (CLINT_MTIME - t0 < sleeps[i] * TICKS_PER_MS)
            polls++;
        unsigned long us = (CLINT_MTIME - t0) / (TICKS_PER_MS / 1000);
        puts_("mtime ");
        putu(sleeps[i]);
        puts_(" ms: ");
        putu(us);
        puts_(" us, ");
        putu(polls);
        puts_(" polls\n");
    }
    return 0;
}

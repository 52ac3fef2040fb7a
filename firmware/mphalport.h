// MicroPython HAL for mps2-an385: console on UART0, time from CMSDK Timer1 (systime.c).
#ifndef MPSIM_MPHALPORT_H
#define MPSIM_MPHALPORT_H

#include "lib/utils/interrupt_char.h"

// Wait for an interrupt. Every caller re-checks its condition in a loop, so
// this is only a hint: a host that treats WFI as a no-op still works, and a
// host that stops on WFI knows the firmware is idle and may skip time ahead.
static inline void mp_hal_wfi(void) {
    __asm volatile ("wfi" ::: "memory");
}

mp_uint_t mp_hal_ticks_cpu(void);

// We use no pins; defining the pin type keeps py/mphal.h from including
// extmod/virtpin.h, which the 1.9.2 source package does not ship.
#define mp_hal_pin_obj_t void *

#endif // MPSIM_MPHALPORT_H

// MicroPython HAL for mps2-an385: console on UART0, time from CMSDK Timer1 (systime.c).
#ifndef MPSIM_MPHALPORT_H
#define MPSIM_MPHALPORT_H

#include "shared/runtime/interrupt_char.h"
#include "mcu.h" // mp_hal_wfi

mp_uint_t mp_hal_ticks_cpu(void);

// We use no pins; defining the pin type keeps py/mphal.h from including
// extmod/virtpin.h, which none of our core sources ship.
#define mp_hal_pin_obj_t void *

#endif // MPSIM_MPHALPORT_H

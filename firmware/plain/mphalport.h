// No pins; defining the type keeps py/mphal.h from including extmod/virtpin.h.
#define mp_hal_pin_obj_t void *
#include "shared/runtime/interrupt_char.h"

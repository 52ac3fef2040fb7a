// What the `board` module drives on QEMU's RISC-V virt machine. virt has no
// LEDs, buttons or GPIO, so board.LED(n) drives a word of MicroPython's state,
// the root pointer `board_leds` (bit n = LED n): the same in QEMU and mpsim,
// saved and restored with the interpreter by hibernation (as the MPS2's LED
// register is with its device state), and cleared by a power-on reset. A host
// reads it as mp_state_ctx.vm.board_leds (DWARF). Included once, by modboard.c.
#include <stdint.h>
#include "py/runtime.h"
#include "py/mpstate.h"

#if !MPSIM_CORE_AT_LEAST(1, 20)
#error "the virt-rv64 port needs MicroPython 1.20 or later (root pointer registration)"
#endif
MP_REGISTER_ROOT_POINTER(mp_uint_t board_leds);
#define BOARD_LEDS MP_STATE_PORT(board_leds)

// Nothing beyond the LEDs.
#define BOARD_IO_GLOBALS

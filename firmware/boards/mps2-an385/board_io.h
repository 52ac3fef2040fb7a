// What the `board` module drives on the MPS2 AN385: the FPGA I/O block at
// 0x40028000 (ARM AN385; QEMU hw/misc/mps2-fpgaio.c). Its registers are
// peripheral state a host captures when it hibernates the interpreter, so
// everything reads back the hardware rather than caching values in RAM.
//
//   BOARD_LEDS            the LED word board.LED/board.leds use (LED0)
//   board.buttons()       BUTTON register (bit n = button n pressed)
//   board.counter()       COUNTER (counts PRESCALE+1 ticks of the 25 MHz clock)
//   board.clk1hz(), board.clk100hz()   free-running 1 Hz / 100 Hz counters
// Included once, by modboard.c.
#include <stdint.h>
#include "py/runtime.h"
#include "board.h"

typedef struct {
    volatile uint32_t LED0;     // +0x00
    uint32_t reserved0;
    volatile uint32_t BUTTON;   // +0x08
    uint32_t reserved1;
    volatile uint32_t CLK1HZ;   // +0x10
    volatile uint32_t CLK100HZ; // +0x14
    volatile uint32_t COUNTER;  // +0x18
    volatile uint32_t PRESCALE; // +0x1C
    volatile uint32_t PSCNTR;   // +0x20
} fpgaio_t;

#define FPGAIO ((fpgaio_t *)BOARD_FPGAIO_BASE)
#define BOARD_LEDS (FPGAIO->LED0)

static mp_obj_t board_buttons(void) {
    return MP_OBJ_NEW_SMALL_INT(FPGAIO->BUTTON & ((1u << BOARD_NUM_BUTTONS) - 1));
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_buttons_obj, board_buttons);

static mp_obj_t board_counter(void) {
    return mp_obj_new_int_from_uint(FPGAIO->COUNTER);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_counter_obj, board_counter);

static mp_obj_t board_clk1hz(void) {
    return mp_obj_new_int_from_uint(FPGAIO->CLK1HZ);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_clk1hz_obj, board_clk1hz);

static mp_obj_t board_clk100hz(void) {
    return mp_obj_new_int_from_uint(FPGAIO->CLK100HZ);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_clk100hz_obj, board_clk100hz);

// The module's entries beyond the LEDs.
#define BOARD_IO_GLOBALS \
    { MP_ROM_QSTR(MP_QSTR_buttons), MP_ROM_PTR(&board_buttons_obj) }, \
    { MP_ROM_QSTR(MP_QSTR_counter), MP_ROM_PTR(&board_counter_obj) }, \
    { MP_ROM_QSTR(MP_QSTR_clk1hz), MP_ROM_PTR(&board_clk1hz_obj) }, \
    { MP_ROM_QSTR(MP_QSTR_clk100hz), MP_ROM_PTR(&board_clk100hz_obj) },

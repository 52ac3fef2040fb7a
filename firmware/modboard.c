// The `board` module: LEDs (board.LED(n), board.leds()) and whatever else the
// board offers. What the LEDs are, and the board's other entries, come from
// its board_io.h (boards/<board>/): registers on the MPS2, interpreter state
// on virt-rv64.
//
//   board.LED(n)         n = 0..NUM_LEDS-1 (bit n of the LED word): on(), off(), toggle(), value([v])
//   board.leds([v])      raw read/write of the LED word
#include <stdint.h>
#include "py/runtime.h"
#include "board.h"
#include "board_io.h"

// ---- board.LED: constant objects, so LED(n) never allocates ----

typedef struct {
    mp_obj_base_t base;
    uint32_t num;
} board_led_obj_t;

const mp_obj_type_t board_led_type;

static const board_led_obj_t board_leds[BOARD_NUM_LEDS] = {
    { { &board_led_type }, 0 },
    { { &board_led_type }, 1 },
};

static void led_set(const board_led_obj_t *led, bool on) {
    uintptr_t state = MICROPY_BEGIN_ATOMIC_SECTION();
    if (on) {
        BOARD_LEDS |= 1u << led->num;
    } else {
        BOARD_LEDS &= ~(1u << led->num);
    }
    MICROPY_END_ATOMIC_SECTION(state);
}

static bool led_get(const board_led_obj_t *led) {
    return (BOARD_LEDS >> led->num) & 1;
}

static void led_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    const board_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "LED(%u)", (unsigned)self->num);
}

static mp_obj_t led_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_int_t n = mp_obj_get_int(args[0]);
    if (n < 0 || n >= BOARD_NUM_LEDS) {
        nlr_raise(mp_obj_new_exception_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("LED(%d) does not exist"), (int)n));
    }
    return MP_OBJ_FROM_PTR(&board_leds[n]);
}

static mp_obj_t led_on(mp_obj_t self_in) {
    led_set(MP_OBJ_TO_PTR(self_in), true);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_on_obj, led_on);

static mp_obj_t led_off(mp_obj_t self_in) {
    led_set(MP_OBJ_TO_PTR(self_in), false);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_off_obj, led_off);

static mp_obj_t led_toggle(mp_obj_t self_in) {
    const board_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    led_set(self, !led_get(self));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_toggle_obj, led_toggle);

static mp_obj_t led_value(size_t n_args, const mp_obj_t *args) {
    const board_led_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    if (n_args == 2) {
        led_set(self, mp_obj_is_true(args[1]));
        return mp_const_none;
    }
    return MP_OBJ_NEW_SMALL_INT(led_get(self));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(led_value_obj, 1, 2, led_value);

static const mp_rom_map_elem_t led_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_on), MP_ROM_PTR(&led_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_off), MP_ROM_PTR(&led_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_toggle), MP_ROM_PTR(&led_toggle_obj) },
    { MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&led_value_obj) },
};
static MP_DEFINE_CONST_DICT(led_locals, led_locals_table);

MPSIM_DEFINE_TYPE(board_led_type, MP_QSTR_LED, led_make_new, led_print, &led_locals);

// ---- module functions ----

static mp_obj_t board_leds_fn(size_t n_args, const mp_obj_t *args) {
    if (n_args == 1) {
        BOARD_LEDS = mp_obj_get_int(args[0]) & ((1u << BOARD_NUM_LEDS) - 1);
        return mp_const_none;
    }
    return MP_OBJ_NEW_SMALL_INT(BOARD_LEDS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(board_leds_obj, 0, 1, board_leds_fn);

static const mp_rom_map_elem_t board_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_board) },
    { MP_ROM_QSTR(MP_QSTR_LED), MP_ROM_PTR(&board_led_type) },
    { MP_ROM_QSTR(MP_QSTR_leds), MP_ROM_PTR(&board_leds_obj) },
    BOARD_IO_GLOBALS
    { MP_ROM_QSTR(MP_QSTR_NUM_LEDS), MP_ROM_INT(BOARD_NUM_LEDS) },
};
static MP_DEFINE_CONST_DICT(board_globals, board_globals_table);

const mp_obj_module_t board_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&board_globals,
};
MPSIM_REGISTER_MODULE(MP_QSTR_board, board_module)

// The `time` module (also importable as `utime`): sleeping and tick counters
// on top of the HAL in systime.c. Our own, so it is the same on every core
// (the cores keep theirs in extmod/, which most of the sources we build from
// do not ship). Ticks wrap at the small-int range (2**30) like the core's.
#include "py/runtime.h"
#include "py/mphal.h"
#include "py/smallint.h"

#define TICKS_PERIOD (MP_SMALL_INT_POSITIVE_MASK + 1)
#define TICKS_MAX (TICKS_PERIOD - 1)
#define TICKS_HALF (TICKS_PERIOD / 2)

static mp_obj_t time_sleep(mp_obj_t seconds_in) {
    #if MICROPY_PY_BUILTINS_FLOAT
    mp_float_t s = mp_obj_get_float(seconds_in);
    mp_hal_delay_ms(s > 0 ? (mp_uint_t)(1000 * s) : 0);
    #else
    mp_int_t s = mp_obj_get_int(seconds_in);
    mp_hal_delay_ms(s > 0 ? 1000 * s : 0);
    #endif
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_obj, time_sleep);

static mp_obj_t time_sleep_ms(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (ms > 0) {
        mp_hal_delay_ms(ms);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_ms_obj, time_sleep_ms);

static mp_obj_t time_sleep_us(mp_obj_t us_in) {
    mp_int_t us = mp_obj_get_int(us_in);
    if (us > 0) {
        mp_hal_delay_us(us);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_us_obj, time_sleep_us);

static mp_obj_t time_ticks_ms(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_ms() & TICKS_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_ms_obj, time_ticks_ms);

static mp_obj_t time_ticks_us(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_us() & TICKS_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_us_obj, time_ticks_us);

static mp_obj_t time_ticks_cpu(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_cpu() & TICKS_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_cpu_obj, time_ticks_cpu);

static mp_obj_t time_ticks_diff(mp_obj_t end_in, mp_obj_t start_in) {
    mp_uint_t diff = (MP_OBJ_SMALL_INT_VALUE(end_in) - MP_OBJ_SMALL_INT_VALUE(start_in)
        + TICKS_HALF) & TICKS_MAX;
    return MP_OBJ_NEW_SMALL_INT((mp_int_t)diff - TICKS_HALF);
}
static MP_DEFINE_CONST_FUN_OBJ_2(time_ticks_diff_obj, time_ticks_diff);

static mp_obj_t time_ticks_add(mp_obj_t ticks_in, mp_obj_t delta_in) {
    return MP_OBJ_NEW_SMALL_INT((MP_OBJ_SMALL_INT_VALUE(ticks_in) + mp_obj_get_int(delta_in))
        & TICKS_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_2(time_ticks_add_obj, time_ticks_add);

static const mp_rom_map_elem_t time_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MPSIM_QSTR_TIME) },
    { MP_ROM_QSTR(MP_QSTR_sleep), MP_ROM_PTR(&time_sleep_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_ms), MP_ROM_PTR(&time_sleep_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_us), MP_ROM_PTR(&time_sleep_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_ms), MP_ROM_PTR(&time_ticks_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_us), MP_ROM_PTR(&time_ticks_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_cpu), MP_ROM_PTR(&time_ticks_cpu_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_add), MP_ROM_PTR(&time_ticks_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_diff), MP_ROM_PTR(&time_ticks_diff_obj) },
};
static MP_DEFINE_CONST_DICT(time_globals, time_globals_table);

const mp_obj_module_t mpsim_module_time = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&time_globals,
};
MPSIM_REGISTER_TIME(mpsim_module_time)

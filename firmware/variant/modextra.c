// The variant's extra module: a function and a type with one field.
#include "py/runtime.h"

static mp_obj_t extra_twice(mp_obj_t x) {
    return mp_obj_new_int(2 * mp_obj_get_int(x));
}
static MP_DEFINE_CONST_FUN_OBJ_1(extra_twice_obj, extra_twice);

typedef struct { mp_obj_base_t base; mp_int_t value; } extra_box_t;

static mp_obj_t extra_box_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    extra_box_t *self = mp_obj_malloc(extra_box_t, type);
    self->value = mp_obj_get_int(args[0]);
    return MP_OBJ_FROM_PTR(self);
}
static void extra_box_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] == MP_OBJ_NULL && attr == MP_QSTR_value) {
        dest[0] = mp_obj_new_int(((extra_box_t *)MP_OBJ_TO_PTR(self_in))->value);
    }
}
MP_DEFINE_CONST_OBJ_TYPE(extra_box_type, MP_QSTR_Box, MP_TYPE_FLAG_NONE,
    make_new, extra_box_make_new, attr, extra_box_attr);

static const mp_rom_map_elem_t extra_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_extra) },
    { MP_ROM_QSTR(MP_QSTR_twice), MP_ROM_PTR(&extra_twice_obj) },
    { MP_ROM_QSTR(MP_QSTR_Box), MP_ROM_PTR(&extra_box_type) },
};
static MP_DEFINE_CONST_DICT(extra_globals, extra_globals_table);
const mp_obj_module_t extra_module = { .base = { &mp_type_module }, .globals = (mp_obj_dict_t *)&extra_globals };
MP_REGISTER_MODULE(MP_QSTR_extra, extra_module);

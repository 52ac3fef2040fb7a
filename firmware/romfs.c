// A read-only filesystem in memory: MicroPython's ROMFS image format (the one
// upstream's extmod/vfs_rom.c reads from 1.25 on; our cores predate it), read
// where upstream's ports/qemu puts it on this board (BOARD_ROMFS_BASE; the host
// loads it there with QEMU's `-device loader,file=IMG,addr=...,force-raw=on` or
// `mpsim ... --load IMG@ADDR`). It gives the port what a port without VFS can
// have: `import` of .py modules stored in the image (mp_import_stat and
// mp_lexer_new_from_file), and the `romfs` module to list and read files.
//
// The image is checked on every use, never cached: nothing here is state a
// hibernated interpreter would have to carry, and an image rewritten in memory
// is seen as it is now. A missing or malformed image is "no filesystem", as on
// upstream; every read is bounds-checked, so garbage costs a lookup, not a fault.
//
// Format (upstream's, summarised): a varuint is big-endian base-128, high bit
// set on every byte but the last. A record is varuint kind, varuint payload
// length, payload. The image is one record of kind 0x14a6b1 (encoded d2 cd 31:
// "RM1") whose payload is records: 1 padding, 2 file data inline, 3 file data
// elsewhere (varuint size, varuint offset from the start of the image's
// payload), 4 directory (varuint name length, name, then its records), 5 file
// (varuint name length, name, then a data record). Kind 0 means corruption;
// other kinds are skipped.
//
// Paths: the image is mounted at /rom and /rom is the current directory, so
// "/rom/lib/a.py" and "lib/a.py" name the same file; sys.path's "" finds
// modules at the image's root.
#include <string.h>
#include "py/runtime.h"
#include "py/lexer.h"
#include "py/builtin.h"
#include "py/mperrno.h"
#include "py/objstr.h"

enum {
    KIND_CORRUPT = 0,
    KIND_DATA = 2,
    KIND_DATA_AT = 3,
    KIND_DIR = 4,
    KIND_FILE = 5,
    KIND_IMAGE = 0x14a6b1,
};

// A stretch of the image: [lo, hi).
typedef struct {
    const uint8_t *lo, *hi;
} span_t;

// One varuint from the front of `s`; false if it runs past the end or overflows.
static bool take_uint(span_t *s, mp_uint_t *out) {
    mp_uint_t value = 0;
    for (;;) {
        if (s->lo >= s->hi || value > (~(mp_uint_t)0 >> 7)) {
            return false;
        }
        uint8_t b = *s->lo++;
        value = value << 7 | (b & 0x7f);
        if (!(b & 0x80)) {
            *out = value;
            return true;
        }
    }
}

// The record at the front of `s`: its kind (KIND_CORRUPT if it does not fit in
// `s`), its payload in `payload`; `s` moves past it.
static mp_uint_t take_record(span_t *s, span_t *payload) {
    mp_uint_t kind, len;
    if (!take_uint(s, &kind) || !take_uint(s, &len) || len > (mp_uint_t)(s->hi - s->lo)) {
        return KIND_CORRUPT;
    }
    payload->lo = s->lo;
    payload->hi = s->lo + len;
    s->lo = payload->hi;
    return kind;
}

// The image's payload (its top-level records), if a valid image is loaded.
static bool image(span_t *root) {
    #ifdef BOARD_ROMFS_BASE
    span_t s = { (const uint8_t *)BOARD_ROMFS_BASE, (const uint8_t *)BOARD_ROMFS_BASE + BOARD_ROMFS_SIZE };
    return s.lo[0] == 0xd2 && s.lo[1] == 0xcd && s.lo[2] == 0x31 && take_record(&s, root) == KIND_IMAGE;
    #else
    (void)root;
    return false;
    #endif
}

// A directory or file record's name, from the front of its payload; the rest
// of the payload is left in `body`.
static bool take_name(span_t *body, span_t *name) {
    mp_uint_t len;
    if (!take_uint(body, &len) || len > (mp_uint_t)(body->hi - body->lo)) {
        return false;
    }
    name->lo = body->lo;
    name->hi = body->lo + len;
    body->lo = name->hi;
    return true;
}

// A file's bytes, from the records after its name.
static bool file_data(const span_t *root, span_t body, span_t *data) {
    while (body.lo < body.hi) {
        span_t p;
        mp_uint_t kind = take_record(&body, &p);
        if (kind == KIND_CORRUPT) {
            return false;
        } else if (kind == KIND_DATA) {
            *data = p;
            return true;
        } else if (kind == KIND_DATA_AT) {
            mp_uint_t size, offset;
            if (!take_uint(&p, &size) || !take_uint(&p, &offset)
                || offset > (mp_uint_t)(root->hi - root->lo) || size > (mp_uint_t)(root->hi - root->lo) - offset) {
                return false;
            }
            data->lo = root->lo + offset;
            data->hi = data->lo + size;
            return true;
        }
    }
    return false;
}

// The next directory or file entry of a directory's records `dir` (which moves
// past it): its kind, name and contents (the records of a directory, the bytes
// of a file). False at the end of the directory or at a corrupt record.
static bool next_entry(const span_t *root, span_t *dir, mp_uint_t *kind, span_t *name, span_t *contents) {
    while (dir->lo < dir->hi) {
        span_t body;
        *kind = take_record(dir, &body);
        if (*kind == KIND_CORRUPT) {
            return false;
        }
        if (*kind != KIND_DIR && *kind != KIND_FILE) {
            continue;
        }
        if (!take_name(&body, name)) {
            return false;
        }
        if (*kind == KIND_DIR) {
            *contents = body;
            return true;
        }
        return file_data(root, body, contents);
    }
    return false;
}

// The image's own path for a path the program gave: "/rom/x" and "x" -> "x";
// "/rom", "" and "." -> "" (the root); NULL for any other absolute path.
static const char *image_path(const char *path) {
    if (path[0] == '/') {
        if (strncmp(path, "/rom", 4) != 0 || (path[4] != '\0' && path[4] != '/')) {
            return NULL;
        }
        path += 4;
    } else if (path[0] == '.' && path[1] == '\0') {
        path++;
    }
    while (*path == '/') {
        path++;
    }
    return path;
}

// Finds `path` in the image `root`: a file (its bytes in `found`), a directory
// (its records in `found`), or nothing.
static mp_import_stat_t lookup(const span_t *root, const char *path, span_t *found) {
    path = image_path(path);
    if (path == NULL) {
        return MP_IMPORT_STAT_NO_EXIST;
    }
    span_t dir = *root;
    while (*path != '\0') {
        size_t len = strcspn(path, "/");
        mp_uint_t kind = KIND_DIR;
        span_t name, contents = dir;
        if (len != 1 || path[0] != '.') {              // "a/./b" is "a/b"
            do {
                if (!next_entry(root, &dir, &kind, &name, &contents)) {
                    return MP_IMPORT_STAT_NO_EXIST;
                }
            } while ((size_t)(name.hi - name.lo) != len || memcmp(name.lo, path, len) != 0);
        }
        path += len;
        while (*path == '/') {
            path++;
        }
        if (kind == KIND_FILE) {
            if (*path != '\0') {
                return MP_IMPORT_STAT_NO_EXIST;
            }
            *found = contents;
            return MP_IMPORT_STAT_FILE;
        }
        dir = contents;
    }
    *found = dir;
    return MP_IMPORT_STAT_DIR;
}

// ---- what the core asks the port for ----

mp_import_stat_t mp_import_stat(const char *path) {
    span_t root, found;
    return image(&root) ? lookup(&root, path, &found) : MP_IMPORT_STAT_NO_EXIST;
}

// The source is compiled straight from the image: nothing is copied.
mp_lexer_t *mp_lexer_new_from_file(MPSIM_LEXER_FILENAME_T filename) {
    #if MPSIM_CORE_AT_LEAST(1, 22)
    qstr name = filename;
    const char *path = qstr_str(filename);
    #else
    qstr name = qstr_from_str(filename);
    const char *path = filename;
    #endif
    span_t root, data;
    if (!image(&root) || lookup(&root, path, &data) != MP_IMPORT_STAT_FILE) {
        mp_raise_OSError(MP_ENOENT);
    }
    return mp_lexer_new_from_str_len(name, (const char *)data.lo, data.hi - data.lo, 0);
}

// ---- the romfs module ----

// What a path names in the image (`root`), or OSError: ENODEV without an
// image, ENOENT if absent.
static mp_import_stat_t find(mp_obj_t path_in, span_t *root, span_t *found) {
    if (!image(root)) {
        mp_raise_OSError(MP_ENODEV);
    }
    mp_import_stat_t stat = lookup(root, mp_obj_str_get_str(path_in), found);
    if (stat == MP_IMPORT_STAT_NO_EXIST) {
        mp_raise_OSError(MP_ENOENT);
    }
    return stat;
}

// romfs.ls(path="") -> the names in a directory, in image order; a
// subdirectory's name ends with "/".
static mp_obj_t romfs_ls(size_t n_args, const mp_obj_t *args) {
    span_t root, dir, name, contents;
    mp_uint_t kind;
    if (find(n_args ? args[0] : MP_OBJ_NEW_QSTR(MP_QSTR_), &root, &dir) != MP_IMPORT_STAT_DIR) {
        mp_raise_OSError(MP_ENOTDIR);
    }
    mp_obj_t names = mp_obj_new_list(0, NULL);
    while (next_entry(&root, &dir, &kind, &name, &contents)) {
        vstr_t v;
        vstr_init(&v, name.hi - name.lo + 1);
        vstr_add_strn(&v, (const char *)name.lo, name.hi - name.lo);
        if (kind == KIND_DIR) {
            vstr_add_char(&v, '/');
        }
        mp_obj_list_append(names, MPSIM_STR_FROM_VSTR(&v));
    }
    return names;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(romfs_ls_obj, 0, 1, romfs_ls);

// romfs.read(path) -> the file's bytes.
static mp_obj_t romfs_read(mp_obj_t path_in) {
    span_t root, data;
    if (find(path_in, &root, &data) != MP_IMPORT_STAT_FILE) {
        mp_raise_OSError(MP_EISDIR);
    }
    return mp_obj_new_bytes(data.lo, data.hi - data.lo);
}
static MP_DEFINE_CONST_FUN_OBJ_1(romfs_read_obj, romfs_read);

static const mp_rom_map_elem_t romfs_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_romfs) },
    { MP_ROM_QSTR(MP_QSTR_ls), MP_ROM_PTR(&romfs_ls_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&romfs_read_obj) },
};
static MP_DEFINE_CONST_DICT(romfs_globals, romfs_globals_table);

const mp_obj_module_t mpsim_module_romfs = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&romfs_globals,
};
MPSIM_REGISTER_MODULE(MP_QSTR_romfs, mpsim_module_romfs)

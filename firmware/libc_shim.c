// snprintf/vsnprintf for the few places the core calls them (lib/mp-readline
// formats VT100 cursor moves). Core 1.9.2 ships no printf.c and newlib's
// version would drag in malloc and its stdio, so format with mp_vprintf.
#include <stdarg.h>
#include <stddef.h>
#include "py/mpprint.h"

typedef struct {
    char *buf;
    size_t size; // capacity including the terminating NUL
    size_t len;  // characters produced so far (may exceed size)
} bufprint_t;

static void bufprint_strn(void *data, const char *str, size_t len) {
    bufprint_t *b = data;
    for (size_t i = 0; i < len; i++, b->len++) {
        if (b->len + 1 < b->size) {
            b->buf[b->len] = str[i];
        }
    }
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    bufprint_t b = { buf, size, 0 };
    mp_print_t print = { &b, bufprint_strn };
    int n = mp_vprintf(&print, fmt, ap);
    if (size > 0) {
        buf[b.len < size ? b.len : size - 1] = '\0';
    }
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

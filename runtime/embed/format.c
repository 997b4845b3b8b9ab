/*  format.c: msgpack values as text (troupe_format) and as numbers.

    print and collect share this, so that every sink writes a value the same
    way: integers and doubles as Python prints them, strings raw at the top,
    containers JSON-like.
*/
#include "troupe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_c(out_t *o, char c)
{
    put(o, &c, 1);
}

static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

/*  Exactly 8 digits of v (< 10^8) ending at end: 32-bit arithmetic, two
    digits a step. */
static char *put_8_digits(char *end, uint32_t v)
{
    for (int k = 0; k < 4; k++) {
        uint32_t d = (v % 100) * 2;
        v /= 100;
        *--end = digit_pairs[d + 1];
        *--end = digit_pairs[d];
    }
    return end;
}

/*  Printing integers is most of what a sink of numbers does: a 64-bit
    division takes off 8 digits at a time, the rest is 32-bit, two digits
    a step, written straight into the output when it has room (a third of
    squares.zpl's sink time went to printing with 64-bit divisions by 100
    and a copy). */
static void put_u64(out_t *o, uint64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    while (v >= 100000000u) {
        p = put_8_digits(p, (uint32_t)(v % 100000000u));
        v /= 100000000u;
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        uint32_t d = (w % 100) * 2;
        w /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (w >= 10) {
        *--p = digit_pairs[w * 2 + 1];
        *--p = digit_pairs[w * 2];
    }
    else
        *--p = (char)('0' + w);
    size_t n = (size_t)(end - p);
    if (o->len + n <= o->size) { /* the common case: no bounds to mind */
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    }
    else
        put(o, p, n);
}

static void put_i64(out_t *o, int64_t v)
{
    if (v < 0) {
        put_c(o, '-');
        put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    else
        put_u64(o, (uint64_t)v);
}

static void put_double(out_t *o, double v)
{
    char tmp[40];
    if (isnan(v)) {
        put(o, "nan", 3);
        return;
    }
    if (isinf(v)) {
        put(o, v < 0 ? "-inf" : "inf", v < 0 ? 4 : 3);
        return;
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    put(o, tmp, (size_t)n);
    if (!strpbrk(tmp, ".e"))
        put(o, ".0", 2);
}

static void put_quoted(out_t *o, const char *s, size_t n)
{
    put_c(o, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            put_c(o, '\\');
            put_c(o, (char)c);
        }
        else if (c == '\n')
            put(o, "\\n", 2);
        else if (c == '\t')
            put(o, "\\t", 2);
        else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(o, esc, 6);
        }
        else
            put_c(o, (char)c);
    }
    put_c(o, '"');
}

static void put_hex(out_t *o, const char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    put(o, "0x", 2);
    for (size_t i = 0; i < n; i++) {
        put_c(o, digits[(unsigned char)p[i] >> 4]);
        put_c(o, digits[(unsigned char)p[i] & 15]);
    }
}

static void put_value(out_t *o, const msgpack_object *v, bool top, int depth)
{
    if (depth > 64) {
        put(o, "...", 3);
        return;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: put(o, "null", 4); break;
    case MSGPACK_OBJECT_BOOLEAN:
        put(o, v->via.boolean ? "true" : "false", v->via.boolean ? 4 : 5);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: put_u64(o, v->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: put_i64(o, v->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: put_double(o, v->via.f64); break;
    case MSGPACK_OBJECT_STR:
        if (top)
            put(o, v->via.str.ptr, v->via.str.size);
        else
            put_quoted(o, v->via.str.ptr, v->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN: put_hex(o, v->via.bin.ptr, v->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        put_c(o, '[');
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                put(o, ", ", 2);
            put_value(o, &v->via.array.ptr[i], false, depth + 1);
        }
        put_c(o, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        put_c(o, '{');
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            if (i)
                put(o, ", ", 2);
            put_value(o, &v->via.map.ptr[i].key, false, depth + 1);
            put(o, ": ", 2);
            put_value(o, &v->via.map.ptr[i].val, false, depth + 1);
        }
        put_c(o, '}');
        break;
    case MSGPACK_OBJECT_EXT: {
        char tmp[48];
        int n = snprintf(tmp, sizeof tmp, "<ext %d, %u bytes>", v->via.ext.type,
                         v->via.ext.size);
        put(o, tmp, (size_t)n);
        break;
    }
    }
}

size_t troupe_format(const msgpack_object *value, char *buf, size_t size)
{
    out_t o = { buf, size ? size - 1 : 0, 0 };
    put_value(&o, value, true, 0);
    if (size)
        buf[o.len < o.size ? o.len : o.size] = '\0';
    return o.len;
}


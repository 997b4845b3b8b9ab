/*  jsonl_out: a sink that writes each value as one line of compact JSON to
    stdout, in source order unless the config says ordered = false, for jq
    and shell pipes. Values are turned into jansson values and dumped by
    jansson; a value JSON cannot hold (binary, ext, NaN, a non-string map
    key, a string that is not UTF-8) fails its item and writes nothing. The
    mapping is in docs/CONFIG.md, "JSON lines".

    Output is buffered as print's is: one write(2) when the 64 KB buffer is
    full, at the end, and whenever the actor is idle.
*/
#include <troupe.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_DEPTH 1000 /* deeper than jansson reads back (2048) would be pointless */

typedef struct {
    char *buf;
    size_t len;
    bool failed_write; /* while idle: reported with the next item */
} jsonl_out_t;

static int jsonl_out_start(troupe_ctx_t *ctx)
{
    jsonl_out_t *s = calloc(1, sizeof *s);
    if (!s || !(s->buf = malloc(BUF_SIZE))) {
        free(s);
        troupe_fail(ctx, "out of memory");
        return TROUPE_ERROR;
    }
    troupe_set_state(ctx, s);
    return TROUPE_OK;
}

/* ---- msgpack to jansson ---------------------------------------------------- */

/*  The fewest significant digits (1 to 17) that read back as `x`: jansson
    writes every real of a value with one precision, 17 by default, which
    shows 0.1 as 0.10000000000000001; the largest of these over the value's
    reals gives the shortest text that is still exact. */
static int digits_needed(double x)
{
    char text[32];
    for (int p = 1; p < 17; p++) {
        snprintf(text, sizeof text, "%.*g", p, x);
        if (strtod(text, NULL) == x)
            return p;
    }
    return 17;
}

/*  A new jansson value for `v` (the caller owns it), or NULL after
    troupe_fail has said why. *digits grows to what its reals need. */
static json_t *to_json(troupe_ctx_t *ctx, const msgpack_object *v, int depth, int *digits);

static json_t *array_to_json(troupe_ctx_t *ctx, const msgpack_object_array *a, int depth,
                             int *digits)
{
    json_t *j = json_array();
    for (uint32_t i = 0; j && i < a->size; i++) {
        json_t *e = to_json(ctx, &a->ptr[i], depth + 1, digits);
        if (!e || json_array_append_new(j, e)) {
            json_decref(j);
            return NULL;
        }
    }
    if (!j && !troupe_failed(ctx))
        troupe_fail(ctx, "out of memory");
    return j;
}

static json_t *map_to_json(troupe_ctx_t *ctx, const msgpack_object_map *m, int depth,
                           int *digits)
{
    json_t *j = json_object();
    for (uint32_t i = 0; j && i < m->size; i++) {
        const msgpack_object_kv *kv = &m->ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            char key[64];
            troupe_format(&kv->key, key, sizeof key);
            troupe_fail(ctx, "a map key that is not a string (%s) has no JSON form", key);
            json_decref(j);
            return NULL;
        }
        json_t *e = to_json(ctx, &kv->val, depth + 1, digits);
        /* json_object_setn_new refuses a key that is not UTF-8 */
        if (!e || json_object_setn_new(j, kv->key.via.str.ptr, kv->key.via.str.size, e)) {
            if (e && !troupe_failed(ctx))
                troupe_fail(ctx, "a map key that is not UTF-8 has no JSON form");
            json_decref(j);
            return NULL;
        }
    }
    if (!j && !troupe_failed(ctx))
        troupe_fail(ctx, "out of memory");
    return j;
}

static json_t *to_json(troupe_ctx_t *ctx, const msgpack_object *v, int depth, int *digits)
{
    if (depth > MAX_DEPTH) {
        troupe_fail(ctx, "nested deeper than %d: not written as JSON", MAX_DEPTH);
        return NULL;
    }
    json_t *j = NULL;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        j = json_null();
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        j = json_boolean(v->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        /* jansson's integers are int64: a larger one becomes a real, as
           jq and JavaScript would read it anyway (nearest double) */
        j = v->via.u64 <= INT64_MAX ? json_integer((json_int_t)v->via.u64)
                                    : json_real((double)v->via.u64);
        if (v->via.u64 > INT64_MAX && *digits < 17)
            *digits = 17;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        j = json_integer((json_int_t)v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(v->via.f64)) {
            troupe_fail(ctx, "%s has no JSON form",
                        isnan(v->via.f64) ? "NaN" : "an infinite number");
            return NULL;
        }
        j = json_real(v->via.f64);
        int need = digits_needed(v->via.f64);
        if (need > *digits)
            *digits = need;
        break;
    case MSGPACK_OBJECT_STR:
        j = json_stringn(v->via.str.ptr, v->via.str.size);
        if (!j) {
            troupe_fail(ctx, "a string that is not UTF-8 has no JSON form");
            return NULL;
        }
        break;
    case MSGPACK_OBJECT_BIN:
        troupe_fail(ctx, "binary data has no JSON form");
        return NULL;
    case MSGPACK_OBJECT_EXT:
        troupe_fail(ctx, "a msgpack ext value (type %d) has no JSON form", v->via.ext.type);
        return NULL;
    case MSGPACK_OBJECT_ARRAY:
        return array_to_json(ctx, &v->via.array, depth, digits);
    case MSGPACK_OBJECT_MAP:
        return map_to_json(ctx, &v->via.map, depth, digits);
    }
    if (!j && !troupe_failed(ctx))
        troupe_fail(ctx, "out of memory");
    return j;
}

/* ---- output ---------------------------------------------------------------- */

static int write_all(troupe_ctx_t *ctx, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(STDOUT_FILENO, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            troupe_fail(ctx, "write failed: %s", strerror(n < 0 ? errno : EIO));
            return TROUPE_ERROR;
        }
        done += (size_t)n;
    }
    return TROUPE_OK;
}

static int drain(troupe_ctx_t *ctx, jsonl_out_t *s)
{
    size_t len = s->len;
    s->len = 0;
    return write_all(ctx, s->buf, len);
}

static int jsonl_out_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    jsonl_out_t *s = troupe_state(ctx);
    if (s->failed_write) {
        s->failed_write = false;
        troupe_fail(ctx, "write failed: %s", strerror(EPIPE));
        return TROUPE_ERROR;
    }
    int digits = 1;
    json_t *j = to_json(ctx, value, 0, &digits);
    if (!j)
        return TROUPE_ERROR;
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(digits);
    /* json_dumpb writes only when the whole text fits, and says its size */
    size_t n = json_dumpb(j, s->buf + s->len, BUF_SIZE - s->len, flags);
    int rc = TROUPE_OK;
    if (n == 0) {
        troupe_fail(ctx, "jansson could not write the value");
        rc = TROUPE_ERROR;
    }
    else if (s->len + n < BUF_SIZE) { /* it fitted, and so does its newline */
        s->len += n;
        s->buf[s->len++] = '\n';
    }
    else if ((rc = drain(ctx, s)) == TROUPE_OK) {
        if (n < BUF_SIZE) {
            json_dumpb(j, s->buf, BUF_SIZE, flags);
            s->len = n;
            s->buf[s->len++] = '\n';
        }
        else { /* longer than the whole buffer: on its own */
            char *text = json_dumps(j, flags);
            if (!text) {
                troupe_fail(ctx, "out of memory for a %zu-byte value", n);
                rc = TROUPE_ERROR;
            }
            else {
                rc = write_all(ctx, text, n);
                if (rc == TROUPE_OK)
                    rc = write_all(ctx, "\n", 1);
                free(text);
            }
        }
    }
    json_decref(j);
    return rc;
}

static int jsonl_out_flush(troupe_ctx_t *ctx)
{
    return drain(ctx, troupe_state(ctx));
}

/*  Nothing more has come for now: what is buffered goes out, so that a
    reader downstream (jq, a file being tailed) sees it. A write error here
    shows again at the next item or at the end. */
static void jsonl_out_idle(troupe_ctx_t *ctx)
{
    jsonl_out_t *s = troupe_state(ctx);
    if (s->len && drain(ctx, s) != TROUPE_OK)
        s->failed_write = true;
}

static void jsonl_out_stop(troupe_ctx_t *ctx)
{
    jsonl_out_t *s = troupe_state(ctx);
    if (!s)
        return;
    if (s->len && write(STDOUT_FILENO, s->buf, s->len) < 0) /* best effort */
        s->len = 0;
    free(s->buf);
    free(s);
}

static const char *const jsonl_out_args[] = { NULL };

TROUPE_MODULE(.name = "jsonl_out", .summary = "writes each value as a line of JSON to stdout",
              .args = jsonl_out_args, .flags = TROUPE_ORDERED, .start = jsonl_out_start,
              .message = jsonl_out_message, .flush = jsonl_out_flush,
              .stop = jsonl_out_stop, .idle = jsonl_out_idle);

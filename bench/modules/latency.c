/*  latency: a bench sink. Each item is a monotonic timestamp in ns (from
    stamp); it records how long ago that was, and at the end emits
    [median_us, p99_us, items].
*/
#include <troupe.h>

#include <stdlib.h>
#include <time.h>

typedef struct {
    double *us;
    size_t n, cap;
} lat_t;

static int lat_start(troupe_ctx_t *ctx)
{
    lat_t *l = calloc(1, sizeof *l);
    troupe_set_state(ctx, l);
    return l ? TROUPE_OK : TROUPE_ERROR;
}

static int lat_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    lat_t *l = troupe_state(ctx);
    int64_t then;
    if (!troupe_as_int(v, &then)) {
        troupe_fail(ctx, "latency: not a timestamp");
        return TROUPE_ERROR;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        double *more = realloc(l->us, cap * sizeof *more);
        if (!more)
            return TROUPE_ERROR;
        l->us = more;
        l->cap = cap;
    }
    l->us[l->n++] = (double)(now - then) / 1000.0;
    return TROUPE_OK;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int lat_flush(troupe_ctx_t *ctx)
{
    lat_t *l = troupe_state(ctx);
    if (!l->n)
        return TROUPE_OK;
    qsort(l->us, l->n, sizeof *l->us, cmp);
    msgpack_packer *pk = troupe_emit_begin(ctx);
    msgpack_pack_array(pk, 3);
    msgpack_pack_double(pk, l->us[l->n / 2]);
    msgpack_pack_double(pk, l->us[l->n * 99 / 100]);
    msgpack_pack_uint64(pk, l->n);
    return troupe_emit_end(ctx);
}

static void lat_stop(troupe_ctx_t *ctx)
{
    lat_t *l = troupe_state(ctx);
    if (l)
        free(l->us);
    free(l);
}

TROUPE_MODULE(.name = "latency", .summary = "median and p99 latency of timestamps",
              .flags = TROUPE_STATEFUL, .start = lat_start, .message = lat_message,
              .flush = lat_flush, .stop = lat_stop);

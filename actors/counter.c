/*  counter: an actor that owns counters, the message-passing answer to a
    shared Value guarded by a lock: workers send increments, only this actor
    touches the state, so no update is ever lost.

    Each value is an increment: an integer n adds n to the counter "value";
    a string adds 1 to the counter of that name; [name, n] adds n to name.
    When the input ends it emits the total: a plain integer when only
    "value" was used, else a map of every counter.
*/
#include <troupe.h>

#include <stdlib.h>
#include <string.h>

#define MAX_COUNTERS 256

typedef struct {
    int n;
    char *names[MAX_COUNTERS];
    int64_t values[MAX_COUNTERS];
} counter_t;

static int slot(counter_t *c, const char *name, size_t len)
{
    for (int i = 0; i < c->n; i++)
        if (strlen(c->names[i]) == len && !memcmp(c->names[i], name, len))
            return i;
    if (c->n == MAX_COUNTERS)
        return -1;
    c->names[c->n] = strndup(name, len);
    c->values[c->n] = 0;
    return c->names[c->n] ? c->n++ : -1;
}

static int add(troupe_ctx_t *ctx, const char *name, size_t len, int64_t by)
{
    counter_t *c = troupe_state(ctx);
    int i = slot(c, name, len);
    if (i < 0) {
        troupe_fail(ctx, "counter: more than %d counters", MAX_COUNTERS);
        return TROUPE_ERROR;
    }
    if (__builtin_add_overflow(c->values[i], by, &c->values[i])) {
        troupe_fail(ctx, "counter: '%s' overflows 64 bits", c->names[i]);
        return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static int counter_start(troupe_ctx_t *ctx)
{
    counter_t *c = calloc(1, sizeof *c);
    troupe_set_state(ctx, c);
    return c ? TROUPE_OK : TROUPE_ERROR;
}

static int counter_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (troupe_as_int(v, &n))
        return add(ctx, "value", 5, n);
    if (v->type == MSGPACK_OBJECT_STR)
        return add(ctx, v->via.str.ptr, v->via.str.size, 1);
    if (v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2
        && v->via.array.ptr[0].type == MSGPACK_OBJECT_STR
        && troupe_as_int(&v->via.array.ptr[1], &n))
        return add(ctx, v->via.array.ptr[0].via.str.ptr,
                   v->via.array.ptr[0].via.str.size, n);
    troupe_fail(ctx, "counter: expected an integer, a name, or [name, n]");
    return TROUPE_ERROR;
}

static int counter_flush(troupe_ctx_t *ctx)
{
    counter_t *c = troupe_state(ctx);
    if (c->n == 0 || (c->n == 1 && !strcmp(c->names[0], "value")))
        return troupe_emit_int(ctx, c->n ? c->values[0] : 0);
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (!pk)
        return TROUPE_ERROR;
    msgpack_pack_map(pk, (size_t)c->n);
    for (int i = 0; i < c->n; i++) {
        msgpack_pack_str_with_body(pk, c->names[i], strlen(c->names[i]));
        msgpack_pack_int64(pk, c->values[i]);
    }
    return troupe_emit_end(ctx);
}

/*  Every counter, {name: value}: a restarted counter resumes from them. */
static int counter_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    counter_t *c = troupe_state(ctx);
    msgpack_pack_map(pk, (size_t)c->n);
    for (int i = 0; i < c->n; i++) {
        msgpack_pack_str_with_body(pk, c->names[i], strlen(c->names[i]));
        msgpack_pack_int64(pk, c->values[i]);
    }
    return TROUPE_OK;
}

static int counter_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    counter_t *c = troupe_state(ctx);
    if (state->type != MSGPACK_OBJECT_MAP) {
        troupe_fail(ctx, "counter: the checkpoint is not a map of counters");
        return TROUPE_ERROR;
    }
    for (uint32_t i = 0; i < state->via.map.size; i++) {
        const msgpack_object *k = &state->via.map.ptr[i].key;
        int64_t v;
        int at = k->type == MSGPACK_OBJECT_STR ? slot(c, k->via.str.ptr, k->via.str.size)
                                               : -1;
        if (at < 0 || !troupe_as_int(&state->via.map.ptr[i].val, &v)) {
            troupe_fail(ctx, "counter: the checkpoint's counter %u is damaged", i);
            return TROUPE_ERROR;
        }
        c->values[at] = v;
    }
    return TROUPE_OK;
}

static void counter_stop(troupe_ctx_t *ctx)
{
    counter_t *c = troupe_state(ctx);
    for (int i = 0; c && i < c->n; i++)
        free(c->names[i]);
    free(c);
}

static const char *const counter_args[] = { NULL };

TROUPE_MODULE(.name = "counter", .summary = "owns counters; emits their totals at the end",
              .args = counter_args, .flags = TROUPE_STATEFUL, .start = counter_start,
              .message = counter_message, .flush = counter_flush, .stop = counter_stop,
              .snapshot = counter_snapshot, .restore = counter_restore);

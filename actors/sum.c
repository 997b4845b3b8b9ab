/*  sum: adds numbers; emits the total once the input ends. The total stays
    an integer while every value is one and it fits; a double comes in or an
    overflow turns it into a double.
*/
#include <troupe.h>

#include <stdlib.h>

typedef struct {
    bool is_double;
    int64_t i, total;
    double d;
} sum_t;

static int sum_start(troupe_ctx_t *ctx)
{
    sum_t *s = calloc(1, sizeof *s);
    troupe_set_state(ctx, s);
    return s ? TROUPE_OK : TROUPE_ERROR;
}

static int sum_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    sum_t *s = troupe_state(ctx);
    int64_t i, total;
    double d;
    bool integral = value->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                    || value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    if (!s->is_double && integral && troupe_as_int(value, &i)
        && !__builtin_add_overflow(s->i, i, &total)) {
        s->i = total;
        return TROUPE_OK;
    }
    if (!troupe_as_double(value, &d)) {
        troupe_fail(ctx, "sum: not a number");
        return TROUPE_ERROR;
    }
    if (!s->is_double) {
        s->is_double = true;
        s->d = (double)s->i;
    }
    s->d += d;
    return TROUPE_OK;
}

static int sum_flush(troupe_ctx_t *ctx)
{
    sum_t *s = troupe_state(ctx);
    return s->is_double ? troupe_emit_double(ctx, s->d) : troupe_emit_int(ctx, s->i);
}

/*  [is_double, integer total, double total]: a restarted sum resumes
    from it, exactly (a double travels as the same 64 bits). */
static int sum_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    sum_t *s = troupe_state(ctx);
    msgpack_pack_array(pk, 3);
    s->is_double ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    msgpack_pack_int64(pk, s->i);
    msgpack_pack_double(pk, s->d);
    return TROUPE_OK;
}

static int sum_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    sum_t *s = troupe_state(ctx);
    const msgpack_object *v = state->via.array.ptr;
    if (state->type != MSGPACK_OBJECT_ARRAY || state->via.array.size != 3
        || v[0].type != MSGPACK_OBJECT_BOOLEAN || !troupe_as_int(&v[1], &s->i)
        || v[2].type != MSGPACK_OBJECT_FLOAT64) {
        troupe_fail(ctx, "sum: the checkpoint is not a sum");
        return TROUPE_ERROR;
    }
    s->is_double = v[0].via.boolean;
    s->d = v[2].via.f64;
    return TROUPE_OK;
}

static void sum_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const sum_args[] = { NULL };

TROUPE_MODULE(.name = "sum", .summary = "emits the sum of the numbers that came in",
              .args = sum_args, .flags = TROUPE_STATEFUL, .start = sum_start,
              .message = sum_message, .flush = sum_flush, .stop = sum_stop,
              .snapshot = sum_snapshot, .restore = sum_restore);

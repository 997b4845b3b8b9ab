/*  seq: a source of integers, like Python's range().
    args: count (items in all, default 10), start (0), step (1), and each: when
    set, every instance makes `each` items of its own instead of sharing count.
*/
#include <troupe.h>

#include <stdlib.h>

typedef struct {
    int64_t count, start, step, each;
    uint64_t made;
} seq_t;

static int seq_start(troupe_ctx_t *ctx)
{
    seq_t *s = calloc(1, sizeof *s);
    if (!s) {
        troupe_fail(ctx, "out of memory");
        return TROUPE_ERROR;
    }
    troupe_set_state(ctx, s);
    s->count = troupe_arg_int(ctx, "count", 10);
    s->start = troupe_arg_int(ctx, "start", 0);
    s->step = troupe_arg_int(ctx, "step", 1);
    s->each = troupe_arg_int(ctx, "each", -1);
    if (!troupe_failed(ctx) && s->count < 0)
        troupe_fail(ctx, "argument 'count': %lld is negative", (long long)s->count);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    /* for the progress bar: what this instance will make (a share of 0
       reads as unknown until the instance ends, which it does at once) */
    troupe_set_total(ctx, s->each >= 0 ? (uint64_t)s->each
                                       : troupe_index_share(ctx, (uint64_t)s->count));
    return TROUPE_OK;
}

static int seq_produce(troupe_ctx_t *ctx, uint64_t index)
{
    seq_t *s = troupe_state(ctx);
    uint64_t n;
    if (s->each >= 0) {
        if (s->made >= (uint64_t)s->each)
            return TROUPE_DONE;
        n = s->made++;
    }
    else {
        if (index >= (uint64_t)s->count)
            return TROUPE_DONE;
        n = index;
    }
    return troupe_emit_int(ctx, s->start + s->step * (int64_t)n);
}

static void seq_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const seq_args[] = { "count", "start", "step", "each", NULL };

TROUPE_MODULE(.name = "seq", .summary = "integers start, start+step, ... (count of them)",
              .args = seq_args, .start = seq_start, .produce = seq_produce,
              .stop = seq_stop);

/*  count: how many values came in; emits the number once the input ends. */
#include <troupe.h>

#include <stdlib.h>

static int count_start(troupe_ctx_t *ctx)
{
    uint64_t *n = calloc(1, sizeof *n);
    troupe_set_state(ctx, n);
    return n ? TROUPE_OK : TROUPE_ERROR;
}

static int count_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    (void)value;
    ++*(uint64_t *)troupe_state(ctx);
    return TROUPE_OK;
}

static int count_flush(troupe_ctx_t *ctx)
{
    return troupe_emit_uint(ctx, *(uint64_t *)troupe_state(ctx));
}

/*  Its state is the number so far: a restarted count resumes from it. */
static int count_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    return msgpack_pack_uint64(pk, *(uint64_t *)troupe_state(ctx)) == 0 ? TROUPE_OK
                                                                       : TROUPE_ERROR;
}

static int count_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    if (state->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        troupe_fail(ctx, "count: the checkpoint is not a count");
        return TROUPE_ERROR;
    }
    *(uint64_t *)troupe_state(ctx) = state->via.u64;
    return TROUPE_OK;
}

static void count_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const count_args[] = { NULL };

TROUPE_MODULE(.name = "count", .summary = "emits how many values came in",
              .args = count_args, .flags = TROUPE_STATEFUL, .start = count_start,
              .message = count_message, .flush = count_flush, .stop = count_stop,
              .snapshot = count_snapshot, .restore = count_restore);

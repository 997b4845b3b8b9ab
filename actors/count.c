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

static void count_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const count_args[] = { NULL };

TROUPE_MODULE(.name = "count", .summary = "emits how many values came in",
              .args = count_args, .flags = TROUPE_STATEFUL, .start = count_start,
              .message = count_message, .flush = count_flush, .stop = count_stop);

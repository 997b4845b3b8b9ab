/*  chatty: a test source that talks and keeps its count to itself. Each
    instance says one info line and one warning in start (troupe_log,
    troupe_warn), then makes the integers 0 .. count-1 (its share of them)
    without announcing a total: a source whose progress is a running count.
*/
#include <troupe.h>

static int chatty_start(troupe_ctx_t *ctx)
{
    int64_t count = troupe_arg_int(ctx, "count", 10);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    troupe_log(ctx, "chatty %u of %u, %lld items", troupe_instance(ctx),
               troupe_instances(ctx), (long long)count);
    troupe_warn(ctx, "chatty says nothing of its total");
    return TROUPE_OK;
}

static int chatty_produce(troupe_ctx_t *ctx, uint64_t index)
{
    if (index >= (uint64_t)troupe_arg_int(ctx, "count", 10))
        return TROUPE_DONE;
    return troupe_emit_uint(ctx, index);
}

static const char *const chatty_args[] = { "count", NULL };

TROUPE_MODULE(.name = "chatty", .summary = "logs, then counts without a total",
              .args = chatty_args, .start = chatty_start, .produce = chatty_produce);

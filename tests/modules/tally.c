/*  tally: a test module, count's shape without its state hooks. It counts
    the values that come in and emits the number once the input ends; it is
    flagged TROUPE_STATEFUL but has no snapshot/restore, so the runtime
    cannot bring its count back after a death: tests/chaos_matrix.sh checks
    that such a death fails the run unless restart = permanent_lossy.
*/
#include <troupe.h>

#include <stdlib.h>

static int tally_start(troupe_ctx_t *ctx)
{
    uint64_t *n = calloc(1, sizeof *n);
    troupe_set_state(ctx, n);
    return n ? TROUPE_OK : TROUPE_ERROR;
}

static int tally_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    (void)value;
    ++*(uint64_t *)troupe_state(ctx);
    return TROUPE_OK;
}

static int tally_flush(troupe_ctx_t *ctx)
{
    return troupe_emit_uint(ctx, *(uint64_t *)troupe_state(ctx));
}

static void tally_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const tally_args[] = { NULL };

TROUPE_MODULE(.name = "tally", .summary = "counts its input, keeps no snapshot (for tests)",
              .args = tally_args, .flags = TROUPE_STATEFUL, .start = tally_start,
              .message = tally_message, .flush = tally_flush, .stop = tally_stop);

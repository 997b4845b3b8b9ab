/*  nap: a bench worker that waits `us` microseconds of wall time per item
    (default 100), using no CPU, then passes the item on. Its rate is set
    by the clock, not by the cores, so that on one machine a node's rate
    says how well it is fed (bench/run --only netns: near nodes beside a
    far one), not how the cores were shared.
*/
#include <troupe.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static int nap_start(troupe_ctx_t *ctx)
{
    int64_t us = troupe_arg_int(ctx, "us", 100);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    if (us < 0 || us > 60000000) {
        troupe_fail(ctx, "argument 'us': %lld is not from 0 to 60000000", (long long)us);
        return TROUPE_ERROR;
    }
    troupe_set_state(ctx, (void *)(intptr_t)us);
    return TROUPE_OK;
}

static int nap_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t us = (int64_t)(intptr_t)troupe_state(ctx);
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return troupe_emit_object(ctx, value);
}

static const char *const nap_args[] = { "us", NULL };

TROUPE_MODULE(.name = "nap", .summary = "waits `us` microseconds per item, using no CPU",
              .args = nap_args, .start = nap_start, .message = nap_message);

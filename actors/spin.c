/*  spin: CPU-bound work for speedup demos. Burns `us` microseconds of CPU
    time per item (default 1000), then passes the item on unchanged.
*/
#include <troupe.h>

#include <stdlib.h>
#include <time.h>

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int spin_start(troupe_ctx_t *ctx)
{
    int64_t us = troupe_arg_int(ctx, "us", 1000);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    if (us < 0 || us > 60000000) {
        troupe_fail(ctx, "argument 'us': %lld is not from 0 to 60000000", (long long)us);
        return TROUPE_ERROR;
    }
    uint64_t *ns = malloc(sizeof *ns);
    if (!ns)
        return TROUPE_ERROR;
    *ns = (uint64_t)us * 1000;
    troupe_set_state(ctx, ns);
    return TROUPE_OK;
}

static int spin_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    uint64_t budget = *(uint64_t *)troupe_state(ctx);
    uint64_t end = cpu_ns() + budget;
    volatile uint64_t x = 88172645463325252ull;
    while (cpu_ns() < end)
        for (int i = 0; i < 64; i++) { /* xorshift: work the compiler keeps */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    return troupe_emit_object(ctx, value);
}

static void spin_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const spin_args[] = { "us", NULL };

TROUPE_MODULE(.name = "spin", .summary = "burns `us` CPU microseconds per item",
              .args = spin_args, .start = spin_start, .message = spin_message,
              .stop = spin_stop);

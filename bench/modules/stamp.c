/*  stamp: a bench source. Emits the monotonic clock in nanoseconds, one
    item every `interval_us` microseconds (default 1000), `count` items
    (default 1000). It never blocks: between items it waits on a timerfd
    through troupe_wait_readable.
*/
#include <troupe.h>

#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int64_t count;
} stamp_t;

static int stamp_start(troupe_ctx_t *ctx)
{
    stamp_t *s = calloc(1, sizeof *s);
    if (!s)
        return TROUPE_ERROR;
    troupe_set_state(ctx, s);
    s->count = troupe_arg_int(ctx, "count", 1000);
    int64_t us = troupe_arg_int(ctx, "interval_us", 1000);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    s->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec it = { .it_interval = { us / 1000000, (us % 1000000) * 1000 },
                             .it_value = { us / 1000000, (us % 1000000) * 1000 } };
    if (s->fd < 0 || timerfd_settime(s->fd, 0, &it, NULL) != 0) {
        troupe_fail(ctx, "cannot make a timer");
        return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static int stamp_produce(troupe_ctx_t *ctx, uint64_t index)
{
    stamp_t *s = troupe_state(ctx);
    if ((int64_t)index >= s->count)
        return TROUPE_DONE;
    uint64_t ticks;
    if (read(s->fd, &ticks, sizeof ticks) != sizeof ticks)
        return troupe_wait_readable(ctx, s->fd);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return troupe_emit_int(ctx, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static void stamp_stop(troupe_ctx_t *ctx)
{
    stamp_t *s = troupe_state(ctx);
    if (s)
        close(s->fd);
    free(s);
}

static const char *const stamp_args[] = { "count", "interval_us", NULL };

TROUPE_MODULE(.name = "stamp", .summary = "the clock, one item per interval",
              .args = stamp_args, .start = stamp_start, .produce = stamp_produce,
              .stop = stamp_stop);

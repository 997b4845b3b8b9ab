/*  test_pool_long_items.c: `hang` is about workers that stop answering,
    not about items that take long (docs/RELIABILITY.md, "Hangs"). With
    hang = 1 s: an item that computes for 3 s finishes on the worker that
    took it, which is never killed; an item whose hook blocks for good is
    killed as hung, tried again, and after two such deaths fails, named,
    while the pool and its other items go on.

    CPython's _TestPool.test_async (an apply_async of a slow function
    returns its result, however long it took) for the first; for the
    second CPython has no case: its Pool waits for ever, and
    ProcessPoolExecutor breaks the whole pool (BrokenProcessPool).
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  n > 0: computes for n ms of CPU time, then says [pid, n]; n == -1:
    blocks for good (pause); 0: says [pid, 0] at once. */
static int long_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t ms;
    if (!troupe_as_int(v, &ms)) {
        troupe_fail(ctx, "not a number");
        return TROUPE_ERROR;
    }
    if (ms < 0)
        for (;;)
            pause();
    double end = cpu_now() + (double)ms / 1000.0;
    volatile uint64_t x = 88172645463325252ull;
    while (cpu_now() < end)
        for (int i = 0; i < 1000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (pk) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, getpid());
        msgpack_pack_int64(pk, ms);
    }
    return troupe_emit_end(ctx);
}

static const troupe_module_t long_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "long",
    .message = long_message,
};

/*  The worker pid a result names, or -1. */
static long pid_of(const msgpack_object *r)
{
    int64_t pid;
    if (!r || r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2
        || !troupe_as_int(&r->via.array.ptr[0], &pid))
        return -1;
    return (long)pid;
}

static troupe_future_t *submit_int(troupe_pool_t *pool, int64_t n)
{
    troupe_value_t *x = troupe_value_int(n);
    troupe_future_t *f = troupe_pool_submit(pool, x);
    troupe_value_destroy(&x);
    CHECK(f);
    return f;
}

/*  A quick item first, to learn the worker's pid; then one of 3 s on the
    same (only) worker: it comes back from that same process. */
static void test_an_item_longer_than_hang_finishes(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.hang = 1);
    troupe_pool_t *pool = troupe_pool_new_module(&long_module, 1, &o);
    CHECK(pool);
    if (!pool)
        return;
    troupe_future_t *quick = submit_int(pool, 0);
    CHECK(troupe_future_wait(quick, 60) == 0);
    long before = pid_of(troupe_future_result(quick));
    troupe_future_t *slow = submit_int(pool, 3000);
    CHECK(troupe_future_wait(slow, 60) == 0);
    CHECK(troupe_future_error(slow) == NULL);
    long after = pid_of(troupe_future_result(slow));
    CHECK(before > 0 && after == before); /* never killed, never restarted */
    troupe_future_destroy(&quick);
    troupe_future_destroy(&slow);

    /* and a map of such items on two workers: both come back */
    troupe_pool_destroy(&pool);
    pool = troupe_pool_new_module(&long_module, 2, &o);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *items[2] = { troupe_value_int(1500), troupe_value_int(1500) };
    troupe_value_t *results[2] = { NULL, NULL };
    CHECK(troupe_pool_map(pool, items, 2, results) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(results[i] && pid_of(troupe_value_get(results[i])) > 0);
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  A blocked item ends as a failed item, named, within a bound (two
    deaths); an item beside it, and one after it, are exact. */
static void test_an_item_that_blocks_for_good_fails_named(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.hang = 1);
    troupe_pool_t *pool = troupe_pool_new_module(&long_module, 2, &o);
    CHECK(pool);
    if (!pool)
        return;
    troupe_future_t *stuck = submit_int(pool, -1);
    troupe_future_t *fine = submit_int(pool, 0);
    CHECK(troupe_future_wait(stuck, 60) == 0);
    const char *why = troupe_future_error(stuck);
    CHECK(why && strstr(why, "it killed the worker handling it 2 times")
          && strstr(why, "hung"));
    if (why)
        printf("  the stuck item: %s\n", why);
    CHECK(troupe_future_wait(fine, 60) == 0 && troupe_future_error(fine) == NULL);
    troupe_future_t *later = submit_int(pool, 0);
    CHECK(troupe_future_wait(later, 60) == 0 && troupe_future_error(later) == NULL);

    /* in a map, the map fails naming the item */
    troupe_value_t *items[3] = { troupe_value_int(0), troupe_value_int(-1),
                                 troupe_value_int(0) };
    troupe_value_t *results[3];
    CHECK(troupe_pool_map(pool, items, 3, results) == -1);
    CHECK(strstr(troupe_error(), "item 1 failed: it killed the worker handling it"));
    for (int i = 0; i < 3; i++)
        troupe_value_destroy(&items[i]);
    troupe_future_destroy(&stuck);
    troupe_future_destroy(&fine);
    troupe_future_destroy(&later);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(f) { #f, f }
        T(test_an_item_longer_than_hang_finishes),
        T(test_an_item_that_blocks_for_good_fails_named),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    return failures ? 1 : 0;
}

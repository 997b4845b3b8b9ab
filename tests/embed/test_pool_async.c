/*  test_pool_async.c: map_async (a map with a handle: get with a timeout,
    cancel) and the ordered imap (results in input order, each as soon
    as it and those before it are back). The cases are the semantics of
    CPython's Lib/test/_test_multiprocessing.py ones named beside each.
    Each item is [n, ms]: the module sleeps ms and answers [n * n, start,
    end] (CLOCK_MONOTONIC, shared by every process of the machine), or
    fails for a negative ms, and writes a line per run to a log when it
    has one, so that the checks are about order and counts, never about
    how long a run took.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ==== the module: [n, ms] -> [n * n, start, end]; ms < 0 fails ===================== */

static int sqr_start(troupe_ctx_t *ctx)
{
    const char *log = troupe_arg(ctx, "log", NULL);
    int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    troupe_set_state(ctx, (void *)(intptr_t)(fd + 1));
    return TROUPE_OK;
}

static void sqr_stop(troupe_ctx_t *ctx)
{
    int fd = (int)(intptr_t)troupe_state(ctx) - 1;
    if (fd >= 0)
        close(fd);
}

static int sqr_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n, ms;
    if (!troupe_as_int(troupe_at(v, 0), &n) || !troupe_as_int(troupe_at(v, 1), &ms)) {
        troupe_fail(ctx, "not [n, ms]");
        return TROUPE_ERROR;
    }
    int fd = (int)(intptr_t)troupe_state(ctx) - 1;
    if (fd >= 0) {
        char line[32];
        int len = snprintf(line, sizeof line, "%lld\n", (long long)n);
        if (write(fd, line, (size_t)len) != len) {
            troupe_fail(ctx, "cannot write the log");
            return TROUPE_ERROR;
        }
    }
    if (ms < 0) {
        troupe_fail(ctx, "unlucky %lld", (long long)n);
        return TROUPE_ERROR;
    }
    double start = embed_now();
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (pk) {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int64(pk, n * n);
        msgpack_pack_double(pk, start);
        msgpack_pack_double(pk, embed_now());
    }
    return troupe_emit_end(ctx);
}

static const troupe_module_t sqr_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "sqr",
    .start = sqr_start,
    .message = sqr_message,
    .stop = sqr_stop,
};

/*  Items [i, ms[i]] (ms NULL: 0 ms each). */
static troupe_value_t **make_items(size_t n, const int64_t *ms)
{
    troupe_value_t **items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; items && i < n; i++) {
        int64_t pair[2] = { (int64_t)i, ms ? ms[i] : 0 };
        items[i] = troupe_value_ints(pair, 2);
    }
    return items;
}

static void free_values(troupe_value_t **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        troupe_value_destroy(&v[i]);
}

static void free_items(troupe_value_t **items, size_t n)
{
    free_values(items, n);
    free(items);
}

/*  A result's square, start and end. */
static bool result_of(const troupe_value_t *r, int64_t *sq, double *start, double *end)
{
    const msgpack_object *o = r ? troupe_value_get(r) : NULL;
    return o && troupe_as_int(troupe_at(o, 0), sq)
           && troupe_as_double(troupe_at(o, 1), start)
           && troupe_as_double(troupe_at(o, 2), end);
}

static size_t lines_in(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* ==== map_async =================================================================== */

/*  _TestPool.test_map_async: map_async(sqr, range(10)).get() is the map's
    result; ready() once it is. */
static void test_map_async_gets_what_map_would(troupe_pool_t *pool)
{
    enum { N = 10 };
    troupe_value_t **items = make_items(N, NULL), *results[N];
    troupe_mapresult_t *r = troupe_pool_map_async(pool, items, N);
    CHECK(r);
    CHECK(troupe_mapresult_get(r, -1, results) == 0);
    CHECK(troupe_mapresult_ready(r));
    for (size_t i = 0; i < N; i++) {
        int64_t sq;
        double s, e;
        CHECK(result_of(results[i], &sq, &s, &e) && sq == (int64_t)(i * i));
    }
    free_values(results, N);
    /* the results were handed over: a second get says so */
    CHECK(troupe_mapresult_get(r, 0, results) == -1);
    CHECK(strstr(troupe_error(), "taken"));
    troupe_mapresult_destroy(&r);
    CHECK(r == NULL);
    troupe_mapresult_destroy(&r); /* a no-op */
    /* an empty map is done at once */
    r = troupe_pool_map_async(pool, items, 0);
    CHECK(r && troupe_mapresult_ready(r) && troupe_mapresult_get(r, 0, results) == 0);
    troupe_mapresult_destroy(&r);
    free_items(items, N);
}

/*  _TestPool.test_async_timeout: get(timeout) of a map not done by then
    fails with TimeoutError, and the map goes on: a second get has it.
    The first get returned while the item still ran, and not before its
    timeout. */
static void test_map_async_get_times_out_and_the_map_goes_on(troupe_pool_t *pool)
{
    const int64_t ms[2] = { 600, 0 };
    troupe_value_t **items = make_items(2, ms), *results[2];
    troupe_mapresult_t *r = troupe_pool_map_async(pool, items, 2);
    CHECK(r);
    double t0 = embed_now();
    CHECK(troupe_mapresult_get(r, 0.2, results) == -1 && errno == ETIMEDOUT);
    double gave_up = embed_now();
    CHECK(gave_up - t0 >= 0.2);
    CHECK(!troupe_mapresult_ready(r));
    CHECK(troupe_mapresult_wait(r, 0.01) == -1 && errno == ETIMEDOUT);
    CHECK(troupe_mapresult_wait(r, -1) == 0 && troupe_mapresult_ready(r));
    CHECK(troupe_mapresult_get(r, 0, results) == 0);
    int64_t sq;
    double s, e;
    CHECK(result_of(results[0], &sq, &s, &e) && sq == 0 && e > gave_up);
    CHECK(result_of(results[1], &sq, &s, &e) && sq == 1);
    free_values(results, 2);
    troupe_mapresult_destroy(&r);
    free_items(items, 2);
}

/*  _TestPool.test_map (an item raising): get fails naming the item of
    lowest index that failed, and hands out no result. */
static void test_map_async_get_names_the_failed_item(troupe_pool_t *pool)
{
    enum { N = 20 };
    int64_t ms[N] = { 0 };
    ms[13] = ms[17] = -1;
    troupe_value_t **items = make_items(N, ms), *results[N];
    troupe_mapresult_t *r = troupe_pool_map_async(pool, items, N);
    CHECK(troupe_mapresult_get(r, -1, results) == -1);
    CHECK(strstr(troupe_error(), "item 13 failed: unlucky 13"));
    CHECK(troupe_mapresult_ready(r));
    troupe_mapresult_destroy(&r);
    free_items(items, N);
}

/*  The map a get gave up on, given up in turn (destroy; cancel is the same
    without the free): items of 0.4 s on 2 workers that take one at a
    time. The items not handed out never run, a later map on the same pool
    is exact, and close waits only for the items under way. */
static void test_a_destroyed_map_async_leaves_the_pool_usable(void)
{
    char log[] = "/tmp/troupe-test-async-XXXXXX";
    int fd = mkstemp(log);
    CHECK(fd >= 0);
    close(fd);
    const char *args[] = { "log", log, NULL };
    troupe_pool_t *pool = troupe_pool_new_module(
        &sqr_module, 2, &TROUPE_POOL_OPTS(.args = args, .prefetch = -1));
    CHECK(pool);
    if (!pool)
        return;
    enum { N = 8 };
    int64_t ms[N];
    for (size_t i = 0; i < N; i++)
        ms[i] = 400;
    troupe_value_t **items = make_items(N, ms), *results[N];
    troupe_mapresult_t *r = troupe_pool_map_async(pool, items, N);
    CHECK(troupe_mapresult_get(r, 0.1, results) == -1 && errno == ETIMEDOUT);
    troupe_mapresult_t *c = troupe_pool_map_async(pool, items, N);
    CHECK(troupe_mapresult_cancel(c) == 0 && troupe_mapresult_ready(c));
    CHECK(troupe_mapresult_get(c, -1, results) == -1 && errno == ECANCELED);
    troupe_mapresult_destroy(&c);
    troupe_mapresult_destroy(&r);
    free_items(items, N); /* no longer read */
    troupe_value_t **quick = make_items(5, NULL);
    CHECK(troupe_pool_map(pool, quick, 5, results) == 0);
    int64_t sq;
    double s, e;
    for (size_t i = 0; i < 5; i++)
        CHECK(result_of(results[i], &sq, &s, &e) && sq == (int64_t)(i * i));
    free_values(results, 5);
    free_items(quick, 5);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    size_t runs = lines_in(log);
    CHECK(runs >= 5 && runs < 5 + N); /* the quick five, and not all eight */
    if (runs >= 5 + N)
        fprintf(stderr, "  %zu runs: the given-up map ran whole\n", runs - 5);
    unlink(log);
}

/* ==== imap ======================================================================== */

/*  _TestPool.test_imap: list(imap(sqr, range(10))) is the map's result;
    next() ten times, then StopIteration; the same for 1000 items with
    chunksize=100 (here: a pool of that chunksize). */
static void test_imap_hands_out_in_input_order(troupe_pool_t *pool, size_t n)
{
    troupe_value_t **items = make_items(n, NULL);
    troupe_imap_t *it = troupe_pool_imap(pool, items, n);
    CHECK(it);
    size_t wrong = 0, got = 0;
    troupe_value_t *r;
    int rc;
    while ((rc = troupe_imap_next(it, &r, -1)) == 0) {
        int64_t sq;
        double s, e;
        wrong += !result_of(r, &sq, &s, &e) || sq != (int64_t)(got * got);
        got++;
        troupe_value_destroy(&r);
    }
    CHECK(rc == TROUPE_DONE && r == NULL && got == n && wrong == 0);
    CHECK(troupe_imap_next(it, &r, -1) == TROUPE_DONE); /* and again */
    troupe_imap_destroy(&it);
    CHECK(it == NULL);
    free_items(items, n);
}

static void test_imap_in_order(troupe_pool_t *pool)
{
    test_imap_hands_out_in_input_order(pool, 10);
    troupe_pool_t *chunky = troupe_pool_new_module(&sqr_module, 2,
                                                   &TROUPE_POOL_OPTS(.chunksize = 100));
    CHECK(chunky);
    if (chunky) {
        test_imap_hands_out_in_input_order(chunky, 1000);
        CHECK(troupe_pool_close(chunky) == 0);
        troupe_pool_destroy(&chunky);
    }
    troupe_imap_t *it = troupe_pool_imap(pool, NULL, 0);
    troupe_value_t *r;
    CHECK(it && troupe_imap_next(it, &r, 0) == TROUPE_DONE);
    troupe_imap_destroy(&it);
}

/*  Ordered, yet lazy: the first item is the slowest; the others come
    back before it, and are held, not handed out, until it has; a next()
    with a timeout gives up meanwhile (IMapIterator.next(timeout)). And a
    result is handed out before the items after it are done: with the
    last item the slowest, the first result is handed out while it runs. */
static void test_imap_holds_early_results_only_until_their_turn(troupe_pool_t *pool)
{
    enum { N = 6 };
    const int64_t first_slow[N] = { 500, 0, 0, 0, 0, 0 };
    troupe_value_t **items = make_items(N, first_slow), *r;
    troupe_imap_t *it = troupe_pool_imap(pool, items, N);
    CHECK(troupe_imap_next(it, &r, 0.05) == -1 && errno == ETIMEDOUT && r == NULL);
    double ends[N];
    for (size_t i = 0; i < N; i++) {
        int64_t sq;
        double s;
        CHECK(troupe_imap_next(it, &r, -1) == 0);
        CHECK(result_of(r, &sq, &s, &ends[i]) && sq == (int64_t)(i * i));
        troupe_value_destroy(&r);
    }
    CHECK(ends[1] < ends[0] && ends[N - 1] < ends[0]); /* back early, held */
    troupe_imap_destroy(&it);
    free_items(items, N);

    const int64_t last_slow[N] = { 0, 0, 0, 0, 0, 600 };
    items = make_items(N, last_slow);
    it = troupe_pool_imap(pool, items, N);
    CHECK(troupe_imap_next(it, &r, -1) == 0);
    double handed = embed_now();
    troupe_value_destroy(&r);
    int64_t sq;
    double s, e;
    for (size_t i = 1; i < N; i++) {
        CHECK(troupe_imap_next(it, &r, -1) == 0);
        CHECK(result_of(r, &sq, &s, &e));
        troupe_value_destroy(&r);
    }
    CHECK(handed < e); /* item 0 was handed out before item 5 ended */
    troupe_imap_destroy(&it);
    free_items(items, N);
}

/*  A failing item (_TestPool.test_imap's next() raising the worker's
    exception): that next() fails with errno EIO, naming it, and the
    iterator goes on with the items after it, in order. */
static void test_imap_fails_the_item_and_goes_on(troupe_pool_t *pool)
{
    enum { N = 16 };
    int64_t ms[N] = { 0 };
    ms[13] = -1;
    troupe_value_t **items = make_items(N, ms), *r;
    troupe_imap_t *it = troupe_pool_imap(pool, items, N);
    size_t got = 0, failed = 0, wrong = 0;
    for (size_t i = 0; i < N; i++) {
        int rc = troupe_imap_next(it, &r, -1);
        int64_t sq;
        double s, e;
        if (i == 13) {
            CHECK(rc == -1 && errno == EIO && r == NULL);
            CHECK(strstr(troupe_error(), "item 13 failed: unlucky 13"));
            failed++;
            continue;
        }
        got += rc == 0;
        wrong += !result_of(r, &sq, &s, &e) || sq != (int64_t)(i * i);
        troupe_value_destroy(&r);
    }
    CHECK(got == N - 1 && failed == 1 && wrong == 0);
    CHECK(troupe_imap_next(it, &r, -1) == TROUPE_DONE);
    troupe_imap_destroy(&it);
    free_items(items, N);
}

/*  An iterator left half-way (a `for` loop's break) or cancelled with the
    pool's work (troupe_pool_cancel): the pool goes on. */
static void test_imap_left_or_cancelled_leaves_the_pool_usable(troupe_pool_t *pool)
{
    enum { N = 40 };
    int64_t ms[N];
    for (size_t i = 0; i < N; i++)
        ms[i] = 20;
    troupe_value_t **items = make_items(N, ms), *r;
    troupe_imap_t *it = troupe_pool_imap(pool, items, N);
    CHECK(troupe_imap_next(it, &r, -1) == 0);
    troupe_value_destroy(&r);
    troupe_imap_destroy(&it);
    it = troupe_pool_imap(pool, items, N);
    CHECK(troupe_pool_cancel(pool) == 0);
    int rc;
    while ((rc = troupe_imap_next(it, &r, -1)) == 0)
        troupe_value_destroy(&r);
    CHECK(rc == -1 && errno == ECANCELED);
    CHECK(troupe_imap_next(it, &r, 0) == -1 && errno == ECANCELED);
    troupe_imap_destroy(&it);
    free_items(items, N);
    test_imap_hands_out_in_input_order(pool, 10);
}

static troupe_pool_t *the_pool;

static void with_pool(void (*fn)(troupe_pool_t *))
{
    if (!the_pool)
        CHECK((the_pool = troupe_pool_new_module(&sqr_module, 2, NULL)) != NULL);
    if (the_pool)
        fn(the_pool);
}

#define ON_POOL(f)                                                             \
    static void f##_(void) { with_pool(f); }
ON_POOL(test_map_async_gets_what_map_would)
ON_POOL(test_map_async_get_times_out_and_the_map_goes_on)
ON_POOL(test_map_async_get_names_the_failed_item)
ON_POOL(test_imap_in_order)
ON_POOL(test_imap_holds_early_results_only_until_their_turn)
ON_POOL(test_imap_fails_the_item_and_goes_on)
ON_POOL(test_imap_left_or_cancelled_leaves_the_pool_usable)

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(f) { #f, f##_ }
        T(test_map_async_gets_what_map_would),
        T(test_map_async_get_times_out_and_the_map_goes_on),
        T(test_map_async_get_names_the_failed_item),
        { "test_a_destroyed_map_async_leaves_the_pool_usable",
          test_a_destroyed_map_async_leaves_the_pool_usable },
        T(test_imap_in_order),
        T(test_imap_holds_early_results_only_until_their_turn),
        T(test_imap_fails_the_item_and_goes_on),
        T(test_imap_left_or_cancelled_leaves_the_pool_usable),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    if (the_pool) {
        CHECK(troupe_pool_close(the_pool) == 0);
        troupe_pool_destroy(&the_pool);
    }
    return failures ? 1 : 0;
}

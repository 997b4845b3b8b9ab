/*  test_pool_maxtasks.c: maxtasksperchild. A worker that has handled its
    share of items is replaced by a fresh process; no item is lost or run
    twice, and the replacements are no deaths (no restart intensity, no
    poison). The cases are the semantics of CPython's
    Lib/test/_test_multiprocessing.py TestPoolWorkerLifetime ones named
    beside each. The module answers [n * n, pid] and writes a line per run
    (its item) to a log, so that runs are counted, not timed.
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

/* ==== the module: [n, ms] -> [n * n, pid], a line per run ====================== */

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
    char line[32];
    int len = snprintf(line, sizeof line, "%lld\n", (long long)n);
    if (fd >= 0 && write(fd, line, (size_t)len) != len) {
        troupe_fail(ctx, "cannot write the log");
        return TROUPE_ERROR;
    }
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    troupe_emit_array(ctx, 2);
    troupe_emit_int(ctx, n * n);
    return troupe_emit_int(ctx, getpid());
}

static const troupe_module_t sqr_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "sqr",
    .start = sqr_start,
    .message = sqr_message,
    .stop = sqr_stop,
};

/* ==== runs ======================================================================== */

typedef struct {
    char log[64];
    size_t n;
    int64_t *pid;     /* per item: the worker that answered */
    unsigned *runs;   /* per item: lines in the log */
} tally_t;

static void tally_init(tally_t *t, size_t n)
{
    snprintf(t->log, sizeof t->log, "/tmp/troupe-test-maxtasks-XXXXXX");
    int fd = mkstemp(t->log);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    t->n = n;
    t->pid = calloc(n, sizeof *t->pid);
    t->runs = calloc(n, sizeof *t->runs);
}

/*  Reads the log: how often each item ran. */
static void tally_read(tally_t *t)
{
    FILE *f = fopen(t->log, "r");
    CHECK(f);
    long long k;
    while (f && fscanf(f, "%lld", &k) == 1)
        if (k >= 0 && (size_t)k < t->n)
            t->runs[k]++;
    if (f)
        fclose(f);
    unlink(t->log);
}

/*  Every item ran once; no worker process answered more than `most`
    items; returns how many processes answered. */
static size_t tally_check(tally_t *t, size_t most)
{
    size_t twice = 0, never = 0, pids = 0, worst = 0;
    for (size_t i = 0; i < t->n; i++) {
        twice += t->runs[i] > 1;
        never += t->runs[i] == 0;
        size_t same = 0, j = 0;
        while (j < i && t->pid[j] != t->pid[i])
            j++;
        pids += j == i;
        for (j = 0; j < t->n; j++)
            same += t->pid[j] == t->pid[i];
        worst = same > worst ? same : worst;
    }
    CHECK(twice == 0 && never == 0);
    CHECK(worst <= most);
    if (twice || never || worst > most)
        fprintf(stderr, "  %zu items ran twice, %zu never; a worker answered %zu (at most "
                "%zu)\n", twice, never, worst, most);
    free(t->pid);
    free(t->runs);
    return pids;
}

static troupe_value_t *item(int64_t n, int64_t ms)
{
    int64_t pair[2] = { n, ms };
    return troupe_value_ints(pair, 2);
}

/*  A result's square (checked against n) and pid. */
static bool take(const msgpack_object *r, int64_t n, int64_t *pid)
{
    int64_t sq;
    return r && troupe_as_int(troupe_at(r, 0), &sq) && sq == n * n
           && troupe_as_int(troupe_at(r, 1), pid);
}

/*  TestPoolWorkerLifetime.test_pool_worker_lifetime: Pool(3,
    maxtasksperchild=10), 100 apply_async, every result right, and the
    workers at the end are not those of the start. Here the futures'
    pids say it: more processes than 3, none answering more than 10
    (chunksize 1: a worker retires after exactly 10). Its 7 or more
    replacements, in a second or so, would be past max_restarts (2 here)
    had they counted as restarts. */
static void test_workers_are_replaced_after_maxtasksperchild(void)
{
    enum { N = 100 };
    tally_t t;
    tally_init(&t, N);
    const char *args[] = { "log", t.log, NULL };
    troupe_pool_t *pool = troupe_pool_new_module(
        &sqr_module, 3,
        &TROUPE_POOL_OPTS(.args = args, .chunksize = 1, .maxtasksperchild = 10,
                          .max_restarts = 2));
    CHECK(pool);
    if (!pool)
        return;
    troupe_future_t *fs[N];
    for (int64_t i = 0; i < N; i++) {
        troupe_value_t *x = item(i, 2);
        fs[i] = troupe_pool_submit(pool, x);
        troupe_value_destroy(&x);
    }
    CHECK(troupe_future_wait_all(fs, N, 120) == 0);
    size_t wrong = 0;
    for (size_t i = 0; i < N; i++) {
        wrong += !take(troupe_future_result(fs[i]), (int64_t)i, &t.pid[i]);
        troupe_future_destroy(&fs[i]);
    }
    CHECK(wrong == 0);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    tally_read(&t);
    size_t pids = tally_check(&t, 10);
    CHECK(pids >= N / 10);
}

/*  The same for a map of cheap items with the defaults (automatic
    chunksize, batches sent ahead): a retiring worker hands back the
    batches it was sent and never started, and they run elsewhere, once.
    And with prefetch = 8, more of them. Batches are cut to
    maxtasksperchild items, so a worker answers fewer than twice as many. */
static void test_a_map_loses_nothing_and_runs_nothing_twice(void)
{
    enum { N = 3000, EACH = 100 };
    const int prefetch[2] = { 0, 8 };
    for (int k = 0; k < 2; k++) {
        tally_t t;
        tally_init(&t, N);
        const char *args[] = { "log", t.log, NULL };
        troupe_pool_t *pool = troupe_pool_new_module(
            &sqr_module, 2,
            &TROUPE_POOL_OPTS(.args = args, .maxtasksperchild = EACH,
                              .prefetch = prefetch[k]));
        CHECK(pool);
        if (!pool)
            return;
        troupe_value_t **items = calloc(N, sizeof *items);
        troupe_value_t **results = calloc(N, sizeof *results);
        for (size_t i = 0; i < N; i++)
            items[i] = item((int64_t)i, 0);
        CHECK(troupe_pool_map(pool, items, N, results) == 0);
        size_t wrong = 0;
        for (size_t i = 0; i < N; i++) {
            const msgpack_object *r = results[i] ? troupe_value_get(results[i]) : NULL;
            wrong += !take(r, (int64_t)i, &t.pid[i]);
            troupe_value_destroy(&results[i]);
            troupe_value_destroy(&items[i]);
        }
        free(items);
        free(results);
        CHECK(wrong == 0);
        CHECK(troupe_pool_close(pool) == 0);
        troupe_pool_destroy(&pool);
        tally_read(&t);
        size_t pids = tally_check(&t, 2 * EACH - 1);
        CHECK(pids >= N / (2 * EACH));
        if (pids < N / (2 * EACH))
            fprintf(stderr, "  prefetch %d: %zu worker processes\n", prefetch[k], pids);
    }
}

/*  TestPoolWorkerLifetime.test_pool_worker_lifetime_early_close:
    Pool(1, maxtasksperchild=1), six slow apply_async, close at once:
    every result comes, each from a process of its own. */
static void test_close_right_after_submitting_gets_every_result(void)
{
    enum { N = 6 };
    troupe_pool_t *pool = troupe_pool_new_module(
        &sqr_module, 1, &TROUPE_POOL_OPTS(.maxtasksperchild = 1));
    CHECK(pool);
    if (!pool)
        return;
    troupe_future_t *fs[N];
    for (int64_t i = 0; i < N; i++) {
        troupe_value_t *x = item(i, 50);
        fs[i] = troupe_pool_submit(pool, x);
        troupe_value_destroy(&x);
    }
    CHECK(troupe_pool_close(pool) == 0);
    int64_t pids[N];
    for (size_t i = 0; i < N; i++) {
        CHECK(troupe_future_done(fs[i]));
        CHECK(take(troupe_future_result(fs[i]), (int64_t)i, &pids[i]));
        for (size_t j = 0; j < i; j++)
            CHECK(pids[j] != pids[i]);
        troupe_future_destroy(&fs[i]);
    }
    troupe_pool_destroy(&pool);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(f) { #f, f }
        T(test_workers_are_replaced_after_maxtasksperchild),
        T(test_a_map_loses_nothing_and_runs_nothing_twice),
        T(test_close_right_after_submitting_gets_every_result),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    return failures ? 1 : 0;
}

/*  test_pool_spread.c: slow items spread over every idle worker, from the
    first item of a new pool, and never wait behind a busy worker while
    another is idle (troupe.h, prefetch). Each item sleeps as long as it
    says and reports which worker ran it and when (CLOCK_MONOTONIC, which
    every process of the machine shares), so the checks are about overlap
    and order, never about how long a run took: they hold on a loaded
    machine as well. The cases are the semantics of CPython's
    Lib/test/_test_multiprocessing.py ones named beside each.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ==== the module: sleeps n ms, says [pid, start, end] ======================== */

static int timed_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t ms;
    if (!troupe_as_int(v, &ms) || ms < 0) {
        troupe_fail(ctx, "not a duration");
        return TROUPE_ERROR;
    }
    double start = embed_now();
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    double end = embed_now();
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (pk) {
        msgpack_pack_array(pk, 3);
        msgpack_pack_int64(pk, getpid());
        msgpack_pack_double(pk, start);
        msgpack_pack_double(pk, end);
    }
    return troupe_emit_end(ctx);
}

static const troupe_module_t timed_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "timed",
    .message = timed_message,
};

typedef struct {
    long pid;
    double start, end;
} run_t;

static bool run_of(const msgpack_object *r, run_t *out)
{
    if (!r || r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 3)
        return false;
    int64_t pid;
    const msgpack_object *a = r->via.array.ptr;
    if (!troupe_as_int(&a[0], &pid) || !troupe_as_double(&a[1], &out->start)
        || !troupe_as_double(&a[2], &out->end))
        return false;
    out->pid = (long)pid;
    return true;
}

/*  The most runs under way at one moment. */
static int most_at_once(const run_t *runs, size_t n)
{
    int most = 0;
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        for (size_t j = 0; j < n; j++)
            k += runs[j].start <= runs[i].start && runs[i].start < runs[j].end;
        most = k > most ? k : most;
    }
    return most;
}

static size_t distinct_pids(const run_t *runs, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && runs[j].pid != runs[i].pid)
            j++;
        d += j == i;
    }
    return d;
}

/*  A map of `n` items of `ms` each on a new pool of `workers`: the runs. */
static bool map_on_a_new_pool(unsigned workers, const troupe_pool_opts_t *o,
                              const int64_t *ms, size_t n, run_t *runs)
{
    troupe_pool_t *pool = troupe_pool_new_module(&timed_module, workers, o);
    CHECK(pool);
    if (!pool)
        return false;
    troupe_value_t *items[16], *results[16];
    for (size_t i = 0; i < n; i++)
        items[i] = troupe_value_int(ms[i]);
    int rc = troupe_pool_map(pool, items, n, results);
    CHECK(rc == 0);
    bool ok = rc == 0;
    for (size_t i = 0; i < n; i++) {
        if (ok) {
            ok = run_of(troupe_value_get(results[i]), &runs[i]);
            CHECK(ok);
        }
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    return ok;
}

/*  _TestPool.test_map and test_async (each result after its own delay):
    the first map on a new pool is parallel. 8 items of 0.2 s on 4
    workers run 4 at a time on 4 workers; the first batch used to hold 16
    items, so all 8 ran on one worker, one after another. */
static void test_the_first_map_runs_on_every_worker(void)
{
    const int64_t ms[8] = { 200, 200, 200, 200, 200, 200, 200, 200 };
    run_t runs[8];
    if (!map_on_a_new_pool(4, NULL, ms, 8, runs))
        return;
    CHECK(distinct_pids(runs, 8) == 4);
    CHECK(most_at_once(runs, 8) == 4);
}

/*  _TestPool.test_map_chunksize's point from the other side: the chunks
    of a map are cut from its own length, not only from a cost measured
    before it. 2000 items of 0 ms teach the pool that items are cheap;
    8 of 0.2 s after them still run 4 at a time. */
static void test_a_small_slow_map_after_cheap_ones_spreads(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&timed_module, 4, NULL);
    CHECK(pool);
    if (!pool)
        return;
    enum { CHEAP = 2000 };
    static troupe_value_t *items[CHEAP], *results[CHEAP];
    for (size_t i = 0; i < CHEAP; i++)
        items[i] = troupe_value_int(i < 8 ? 200 : 0);
    CHECK(troupe_pool_map(pool, items + 8, CHEAP - 8, results) == 0);
    for (size_t i = 0; i < CHEAP - 8; i++)
        troupe_value_destroy(&results[i]);
    run_t runs[8];
    CHECK(troupe_pool_map(pool, items, 8, results) == 0);
    bool ok = true;
    for (size_t i = 0; i < 8; i++) {
        ok &= run_of(troupe_value_get(results[i]), &runs[i]);
        troupe_value_destroy(&results[i]);
    }
    for (size_t i = 0; i < CHEAP; i++)
        troupe_value_destroy(&items[i]);
    CHECK(ok && most_at_once(runs, 8) == 4);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  The seeds' Pool(3).map(f, three slow items), default chunksize: the
    three run side by side. */
static void test_three_slow_items_on_three_workers_overlap(void)
{
    const int64_t ms[3] = { 300, 300, 300 };
    run_t runs[3];
    if (!map_on_a_new_pool(3, NULL, ms, 3, runs))
        return;
    CHECK(distinct_pids(runs, 3) == 3);
    CHECK(most_at_once(runs, 3) == 3);
}

/*  Futures of `ms` submitted at once on `workers`; runs[i] is future i's,
    order[k] the index of the k-th to finish (by its end). */
static bool futures_on_a_new_pool(unsigned workers, const troupe_pool_opts_t *o,
                                  const int64_t *ms, size_t n, run_t *runs, size_t *order)
{
    troupe_pool_t *pool = troupe_pool_new_module(&timed_module, workers, o);
    CHECK(pool);
    if (!pool)
        return false;
    troupe_future_t *fs[16];
    for (size_t i = 0; i < n; i++) {
        troupe_value_t *x = troupe_value_int(ms[i]);
        fs[i] = troupe_pool_submit(pool, x);
        troupe_value_destroy(&x);
        CHECK(fs[i]);
    }
    bool ok = troupe_future_wait_all(fs, n, 60) == 0;
    CHECK(ok);
    for (size_t i = 0; i < n; i++) {
        if (ok) {
            ok = run_of(troupe_future_result(fs[i]), &runs[i]);
            CHECK(ok);
        }
        troupe_future_destroy(&fs[i]);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    for (size_t k = 0; ok && k < n; k++) { /* by end time: a selection sort */
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            bool taken = false;
            for (size_t q = 0; q < k; q++)
                taken |= order[q] == i;
            if (!taken && (best == n || runs[i].end < runs[best].end))
                best = i;
        }
        order[k] = best;
    }
    return ok;
}

/*  _TestPool.test_async with several at once, as concurrent.futures is
    used: tasks of 0.8, 0.1, 0.5, 0.2, 0.4 s on 3 workers finish in
    Python's order, 0.1, 0.2, 0.5, 0.4, 0.8: the 0.2 goes to the worker
    the 0.1 freed, the 0.4 to the one the 0.2 freed. Each worker used to
    take a second task while busy with its first, and the 0.2 s task
    waited behind the 0.8 s one. */
static void test_futures_never_wait_behind_a_busy_worker(void)
{
    const int64_t ms[5] = { 800, 100, 500, 200, 400 };
    run_t runs[5];
    size_t order[5];
    if (!futures_on_a_new_pool(3, NULL, ms, 5, runs, order))
        return;
    const int64_t want[5] = { 100, 200, 500, 400, 800 };
    for (size_t k = 0; k < 5; k++) {
        CHECK(ms[order[k]] == want[k]);
        if (ms[order[k]] != want[k])
            fprintf(stderr, "  finished %zu-th: the %lld ms task\n", k + 1,
                    (long long)ms[order[k]]);
    }
    CHECK(runs[3].pid == runs[1].pid); /* 0.2 where 0.1 ran */
    CHECK(runs[3].start >= runs[1].end && runs[4].start >= runs[3].end);
    CHECK(distinct_pids(runs, 5) == 3);
}

/*  The prefetch option both ways: one 1 s task and five of 0.1 s on two
    workers. Automatic (and -1): the short ones all run on the other
    worker, none waits behind the long one. prefetch = 2: each worker is
    sent three at once, and the long one's worker runs two short ones
    after it, though the other one was idle by then. */
static void test_prefetch_sends_work_ahead_only_when_asked(void)
{
    const int64_t ms[6] = { 1000, 100, 100, 100, 100, 100 };
    run_t runs[6];
    size_t order[6];
    const int settings[3] = { 0, -1, 2 };
    for (int k = 0; k < 3; k++) {
        troupe_pool_opts_t o = TROUPE_POOL_OPTS(.prefetch = settings[k]);
        if (!futures_on_a_new_pool(2, &o, ms, 6, runs, order))
            return;
        int behind = 0;
        for (int i = 1; i < 6; i++)
            behind += runs[i].pid == runs[0].pid && runs[i].start >= runs[0].end;
        if (settings[k] <= 0)
            CHECK(behind == 0);
        else
            CHECK(behind == 2);
        if (settings[k] <= 0 ? behind != 0 : behind != 2)
            fprintf(stderr, "  prefetch %d: %d short tasks ran behind the long one\n",
                    settings[k], behind);
    }
}

/*  Cheap items still travel in big batches, and a map after a map of
    slow ones is exact (_TestPool.test_map_chunksize: results whatever
    the chunking). */
static void test_cheap_maps_after_slow_ones_are_exact(void)
{
    troupe_pool_t *pool = troupe_pool_new("square", 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    size_t n = 200000;
    int64_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    for (size_t i = 0; in && i < n; i++)
        in[i] = (int64_t)i;
    for (int round = 0; in && out && round < 3; round++) {
        CHECK(troupe_pool_map_int(pool, in, out, round == 1 ? 7 : n) == 0);
        size_t wrong = 0;
        for (size_t i = 0; i < (round == 1 ? 7 : n); i++)
            wrong += out[i] != in[i] * in[i];
        CHECK(wrong == 0);
    }
    free(in);
    free(out);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(f) { #f, f }
        T(test_the_first_map_runs_on_every_worker),
        T(test_three_slow_items_on_three_workers_overlap),
        T(test_a_small_slow_map_after_cheap_ones_spreads),
        T(test_futures_never_wait_behind_a_busy_worker),
        T(test_prefetch_sends_work_ahead_only_when_asked),
        T(test_cheap_maps_after_slow_ones_are_exact),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    return failures ? 1 : 0;
}

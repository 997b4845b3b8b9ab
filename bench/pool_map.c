/*  pool_map: troupe's embedding API (troupe.h, "pools") timed from a C
    program of its own, for bench/run to set against Python's Pool and
    ProcessPoolExecutor.

    pool_map map N        a pool of 2 `square` workers maps range(N) with
                          troupe_pool_map_int; prints the sum of the
                          squares, the seconds inside the map call alone
                          (map_s), in troupe_pool_new (start_s) and in
                          troupe_pool_close (close_s).
    pool_map futures N    the same pool; N futures submitted one by one
                          (troupe_pool_submit of troupe_value_int(i)), then
                          waited for all together; prints the sum of the
                          results, the seconds from the first submit to the
                          last result read (futures_s), of them in the
                          submits (submit_s), the rate (N / futures_s),
                          start_s and close_s.

    Each prints one JSON line. Every result is checked here and its sum
    printed, which bench/run checks again: a wrong result is an exit
    status of 1, never a figure. Options are the defaults (chunksize
    automatic), as a user's program would have them.
*/
#define _GNU_SOURCE
#include "troupe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 2

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "pool_map: %s: %s\n", what, troupe_error());
    return 1;
}

/*  The squares of range(n) through troupe_pool_map_int; only the call is
    timed, not filling the input or checking the output. */
static int bench_map(troupe_pool_t *pool, size_t n, double *map_s, uint64_t *sum)
{
    int64_t *in = malloc(n * sizeof *in), *out = calloc(n, sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        fprintf(stderr, "pool_map: out of memory for %zu items\n", n);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    double t0 = now();
    int rc = troupe_pool_map_int(pool, in, out, n);
    *map_s = now() - t0;
    if (rc < 0) {
        free(in);
        free(out);
        return fail("troupe_pool_map_int");
    }
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        wrong += out[i] != in[i] * in[i];
        *sum += (uint64_t)out[i];
    }
    free(in);
    free(out);
    if (wrong) {
        fprintf(stderr, "pool_map: map: %zu of %zu results are not the square\n", wrong, n);
        return 1;
    }
    return 0;
}

/*  n futures, one troupe_pool_submit each, then all waited for and read.
    The futures are destroyed after the clock stops, as Python's are freed
    after its timing. */
static int bench_futures(troupe_pool_t *pool, size_t n, double *futures_s,
                         double *submit_s, uint64_t *sum)
{
    troupe_future_t **fs = calloc(n, sizeof *fs);
    if (!fs) {
        fprintf(stderr, "pool_map: out of memory for %zu futures\n", n);
        return 1;
    }
    int rc = 0;
    size_t wrong = 0;
    double t0 = now();
    for (size_t i = 0; i < n && rc == 0; i++) {
        troupe_value_t *v = troupe_value_int((int64_t)i);
        if (!v || !(fs[i] = troupe_pool_submit(pool, v)))
            rc = fail("troupe_pool_submit");
        troupe_value_destroy(&v);
    }
    *submit_s = now() - t0;
    if (rc == 0 && troupe_future_wait_all(fs, n, -1) < 0)
        rc = fail("troupe_future_wait_all");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const msgpack_object *r = troupe_future_result(fs[i]);
        int64_t x;
        if (!r || !troupe_as_int(r, &x) || x != (int64_t)i * (int64_t)i)
            wrong++;
        else
            *sum += (uint64_t)x;
    }
    *futures_s = now() - t0;
    for (size_t i = 0; i < n; i++)
        troupe_future_destroy(&fs[i]);
    free(fs);
    if (rc == 0 && wrong) {
        fprintf(stderr, "pool_map: futures: %zu of %zu results are not the square\n", wrong,
                n);
        rc = 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    size_t n = argc == 3 ? strtoull(argv[2], &end, 10) : 0;
    bool map = argc == 3 && strcmp(argv[1], "map") == 0;
    if (argc != 3 || (!map && strcmp(argv[1], "futures") != 0) || !end || *end || n == 0) {
        fprintf(stderr, "usage: pool_map map|futures N (N > 0)\n");
        return 2;
    }
    double t0 = now();
    troupe_pool_t *pool = troupe_pool_new("square", WORKERS, NULL);
    double start_s = now() - t0;
    if (!pool)
        return fail("troupe_pool_new");
    uint64_t sum = 0;
    double run_s = 0, submit_s = 0;
    int rc = map ? bench_map(pool, n, &run_s, &sum)
                 : bench_futures(pool, n, &run_s, &submit_s, &sum);
    t0 = now();
    if (troupe_pool_close(pool) < 0 && rc == 0)
        rc = fail("troupe_pool_close");
    double close_s = now() - t0;
    troupe_pool_destroy(&pool);
    if (rc != 0)
        return rc;
    if (map)
        printf("{\"sum\": %" PRIu64 ", \"map_s\": %.9f, \"start_s\": %.9f, "
               "\"close_s\": %.9f}\n",
               sum, run_s, start_s, close_s);
    else
        printf("{\"sum\": %" PRIu64 ", \"rate\": %.1f, \"futures_s\": %.9f, "
               "\"submit_s\": %.9f, \"start_s\": %.9f, \"close_s\": %.9f}\n",
               sum, (double)n / run_s, run_s, submit_s, start_s, close_s);
    return 0;
}

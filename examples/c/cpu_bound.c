/*  cpu_bound: the same CPU-bound work timed on one worker, then on one
    worker per core.

    Python:
        def burn(x): ...2 ms of arithmetic..., return x

        for n in (1, os.cpu_count()):
            with Pool(n) as p:
                t0 = time.perf_counter()
                p.map(burn, range(1000))
                print(n, time.perf_counter() - t0)

    Usage: cpu_bound [ITEMS [MICROSECONDS]]   (defaults: 1000 items, 2000 us)
    Prints, e.g.: serial 2.043 s, parallel 1.031 s on 2 workers, speedup 1.98

    The built-in module "spin" burns `us` microseconds of CPU per item and
    hands the item back. Only the map is timed, not the pool's start.
*/
#include <troupe.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  Seconds a pool of `workers` takes over the n items, or -1. */
static double timed_map(unsigned workers, const char *us, const int64_t *items,
                        int64_t *results, size_t n)
{
    troupe_pool_opts_t opts = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", us, NULL });
    troupe_pool_t *pool = troupe_pool_new("spin", workers, &opts);
    if (!pool)
        return -1;
    double t0 = now();
    int rc = troupe_pool_map_int(pool, items, results, n);
    double took = now() - t0;
    if (rc == 0)
        rc = troupe_pool_close(pool);
    troupe_pool_destroy(&pool);
    return rc == 0 ? took : -1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *us = argc > 2 ? argv[2] : "2000";
    if (n <= 0 || argc > 3) {
        fprintf(stderr, "usage: cpu_bound [ITEMS [MICROSECONDS]]\n");
        return 2;
    }
    int64_t *items = malloc((size_t)n * sizeof *items);
    int64_t *results = malloc((size_t)n * sizeof *results);
    if (!items || !results) {
        fprintf(stderr, "cpu_bound: out of memory\n");
        return 1;
    }
    for (long i = 0; i < n; i++)
        items[i] = i;

    /*  Workers 0 asks for one per core: as many as this counts. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    double serial = timed_map(1, us, items, results, (size_t)n);
    double parallel = serial < 0 ? -1 : timed_map(0, us, items, results, (size_t)n);
    free(items);
    free(results);
    if (parallel < 0) {
        fprintf(stderr, "cpu_bound: %s\n", troupe_error());
        return 1;
    }
    printf("serial %.3f s, parallel %.3f s on %ld workers, speedup %.2f\n", serial,
           parallel, cores, serial / parallel);
    return 0;
}

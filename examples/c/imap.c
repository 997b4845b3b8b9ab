/*  imap: results in input order as they come, and a map given a deadline.

    Python:
        def slow_square(n):
            time.sleep((10 - n) / 50)       # the first items take longest
            return n * n

        with Pool(4) as pool:
            for square in pool.imap(slow_square, range(10)):
                print(square)
            try:
                pool.map_async(slow_square, [0] * 8).get(timeout=0.1)
            except multiprocessing.TimeoutError:
                print("map_async: not done in 0.1 s")

    Prints 0, 1, 4 ... 81, one a line, in input order (each as soon as it
    and those before it are back), then "map_async: not done in 0.1 s".
*/
#include <troupe.h>

#include <errno.h>
#include <stdio.h>
#include <time.h>

enum { ITEMS = 10, WORKERS = 4, SLOW = 8 };

/*  The module's work: n squared, after (10 - n) * 20 ms. */
static int slow_square(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t n;
    if (!troupe_as_int(value, &n) || n < 0 || n > 9) {
        troupe_fail(ctx, "slow_square: wants a number from 0 to 9");
        return TROUPE_ERROR;
    }
    long ms = (long)(10 - n) * 20;
    struct timespec nap = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&nap, NULL);
    return troupe_emit_int(ctx, n * n);
}

static const troupe_module_t slow_square_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "slow_square",
    .message = slow_square,
};

/*  for square in pool.imap(slow_square, range(10)): print(square) */
static int print_in_order(troupe_pool_t *pool, troupe_value_t *const *items)
{
    troupe_imap_t *it = troupe_pool_imap(pool, items, ITEMS);
    if (!it)
        return -1;
    troupe_value_t *square;
    int rc;
    while ((rc = troupe_imap_next(it, &square, -1)) == 0) {
        char text[32];
        troupe_value_format(square, text, sizeof text);
        printf("%s\n", text);
        troupe_value_destroy(&square);
    }
    troupe_imap_destroy(&it);
    return rc == TROUPE_DONE ? 0 : -1;
}

/*  pool.map_async(slow_square, [0] * 8).get(timeout=0.1): 1.6 s of work
    on 4 workers is not done in 0.1 s. Destroying the handle gives the map
    up: what was not started never runs, and the pool goes on. */
static int map_with_a_deadline(troupe_pool_t *pool, troupe_value_t *const *items)
{
    troupe_value_t *const slow[SLOW] = { items[0], items[0], items[0], items[0],
                                         items[0], items[0], items[0], items[0] };
    troupe_value_t *results[SLOW];
    troupe_mapresult_t *r = troupe_pool_map_async(pool, slow, SLOW);
    if (!r)
        return -1;
    int rc = troupe_mapresult_get(r, 0.1, results);
    bool timed_out = rc < 0 && errno == ETIMEDOUT;
    if (timed_out)
        printf("map_async: not done in 0.1 s\n");
    else if (rc == 0)
        for (int i = 0; i < SLOW; i++)
            troupe_value_destroy(&results[i]);
    troupe_mapresult_destroy(&r);
    return rc == 0 || timed_out ? 0 : -1;
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv); /* first: the workers are this program again */
    troupe_pool_t *pool = troupe_pool_new_module(&slow_square_module, WORKERS, NULL);
    if (!pool) {
        fprintf(stderr, "imap: %s\n", troupe_error());
        return 1;
    }
    troupe_value_t *items[ITEMS];
    for (int n = 0; n < ITEMS; n++)
        items[n] = troupe_value_int(n);
    int rc = print_in_order(pool, items);
    if (rc == 0)
        rc = map_with_a_deadline(pool, items);
    if (rc == 0)
        rc = troupe_pool_close(pool);
    if (rc != 0)
        fprintf(stderr, "imap: %s\n", troupe_error());
    troupe_pool_destroy(&pool);
    for (int n = 0; n < ITEMS; n++)
        troupe_value_destroy(&items[n]);
    return rc == 0 ? 0 : 1;
}

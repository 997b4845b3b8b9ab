/*  futures: items submitted one by one, results taken as they complete.

    Python:
        def slow_square(n):
            time.sleep((9 - n) / 20)        # the first items take longest
            return n * n

        with ProcessPoolExecutor(4) as ex:
            fs = [ex.submit(slow_square, n) for n in range(1, 9)]
            for f in as_completed(fs):
                print("done:", f.result())
        ...and the sum of the results

    Prints "done: N" for each of the eight squares, roughly in the order
    they finish (which varies), then "sum 204".

    The work is a module this program defines: a static descriptor whose
    message hook the workers (this program started again) call per item.
*/
#include <troupe.h>

#include <stdio.h>
#include <time.h>

enum { ITEMS = 8, WORKERS = 4 };

/*  The module's work: n squared, after (9 - n) * 50 ms. */
static int slow_square(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t n;
    if (!troupe_as_int(value, &n) || n < 1 || n > 8) {
        troupe_fail(ctx, "slow_square: wants a number from 1 to 8");
        return TROUPE_ERROR;
    }
    long ms = (long)(9 - n) * 50;
    struct timespec nap = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&nap, NULL);
    return troupe_emit_int(ctx, n * n);
}

/*  Static: a worker finds the descriptor at the same place in its own copy
    of the program. */
static const troupe_module_t slow_square_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "slow_square",
    .message = slow_square,
};

int main(int argc, char **argv)
{
    /*  First, always: the workers are this program started again, and in
        them troupe_init runs the module's worker and exits instead of
        going on here. */
    troupe_init(argc, argv);

    /*  The defaults, as ProcessPoolExecutor(4): until an item's cost is
        known each goes to a worker on its own, and a slow one goes only to
        a worker that is free, so each result comes back as soon as it is
        done, never behind a slower item. */
    troupe_pool_t *pool = troupe_pool_new_module(&slow_square_module, WORKERS, NULL);
    if (!pool) {
        fprintf(stderr, "futures: %s\n", troupe_error());
        return 1;
    }

    troupe_future_t *pending[ITEMS];
    size_t left = 0;
    for (int n = 1; n <= ITEMS; n++) {
        troupe_value_t *item = troupe_value_int(n);
        troupe_future_t *f = item ? troupe_pool_submit(pool, item) : NULL;
        troupe_value_destroy(&item); /* the future holds its own copy */
        if (!f) {
            fprintf(stderr, "futures: %s\n", troupe_error());
            break;
        }
        pending[left++] = f;
    }

    /*  as_completed: take whichever is done, drop it from the list, again. */
    bool ok = left == ITEMS;
    int64_t sum = 0;
    while (left > 0) {
        int i = troupe_future_wait_any(pending, left, -1);
        if (i < 0) {
            fprintf(stderr, "futures: %s\n", troupe_error());
            ok = false;
            break;
        }
        int64_t result;
        if (troupe_future_error(pending[i])) {
            fprintf(stderr, "futures: %s\n", troupe_future_error(pending[i]));
            ok = false;
        }
        else if (troupe_as_int(troupe_future_result(pending[i]), &result)) {
            printf("done: %lld\n", (long long)result);
            fflush(stdout); /* show each as it comes, even into a pipe */
            sum += result;
        }
        else {
            fprintf(stderr, "futures: a result is not a number\n");
            ok = false;
        }
        troupe_future_destroy(&pending[i]);
        pending[i] = pending[--left];
    }
    for (size_t i = 0; i < left; i++) /* after a failed wait */
        troupe_future_destroy(&pending[i]);

    if (troupe_pool_close(pool) != 0) {
        fprintf(stderr, "futures: %s\n", troupe_error());
        ok = false;
    }
    troupe_pool_destroy(&pool);
    if (!ok)
        return 1;
    printf("sum %lld\n", (long long)sum);
    return 0;
}

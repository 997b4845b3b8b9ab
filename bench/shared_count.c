/*  shared_count: the seeds' counter (five processes, N increments each, one
    total) timed three ways in troupe, for bench/run to set against
    Python's Value and its lock (py_map.py value N):

    shared_count lock N     a troupe_shared_new counter, += 1 under its lock
    shared_count atomic N   the same with troupe_shared_add, no lock
    shared_count queue N    no shared memory: one owner process and a queue
                            of increments (examples/c/counter.c's way)

    Prints one JSON line: the seconds from the first process's start to the
    last one's join (s) and the total, which must be 5 N (else exit 1).
*/
#define _GNU_SOURCE
#include "troupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WORKERS = 5 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  args: [address, n] */
static const char *address_of(const msgpack_object *args, char *buf, size_t size)
{
    return troupe_format(troupe_at(args, 0), buf, size) < size ? buf : NULL;
}

static int64_t n_of(const msgpack_object *args)
{
    int64_t n = 0;
    troupe_as_int(troupe_at(args, 1), &n);
    return n;
}

static int add_locked(const msgpack_object *args)
{
    char a[128];
    troupe_shared_t *s = troupe_shared_open(address_of(args, a, sizeof a));
    if (!s)
        return 1;
    int64_t *v = troupe_shared_data(s), n = n_of(args);
    for (int64_t i = 0; i < n; i++) {
        if (troupe_lock_acquire(troupe_shared_lock(s), -1) < 0)
            return 1;
        *v += 1;
        troupe_lock_release(troupe_shared_lock(s));
    }
    return 0;
}

static int add_atomic(const msgpack_object *args)
{
    char a[128];
    troupe_shared_t *s = troupe_shared_open(address_of(args, a, sizeof a));
    if (!s)
        return 1;
    for (int64_t i = 0, n = n_of(args); i < n; i++)
        troupe_shared_add(s, 0, 1);
    return 0;
}

static int put_ones(const msgpack_object *args)
{
    char a[512];
    troupe_queue_t *q = troupe_queue_open(address_of(args, a, sizeof a));
    int rc = q ? 0 : 1;
    for (int64_t i = 0, n = n_of(args); q && i < n && rc == 0; i++)
        rc = troupe_queue_put_int(q, 1) == 0 ? 0 : 1;
    troupe_queue_destroy(&q);
    return rc;
}

/*  The owner: adds what comes until nil, then puts the total back. */
static int own(const msgpack_object *args)
{
    char a[512];
    troupe_queue_t *q = troupe_queue_open(address_of(args, a, sizeof a));
    int64_t total = 0, n;
    for (troupe_value_t *v; q && (v = troupe_queue_get(q, -1));) {
        bool more = troupe_value_as_int(v, &n);
        troupe_value_destroy(&v);
        if (!more)
            break;
        total += n;
    }
    int rc = q && troupe_queue_put_int(q, total) == 0 ? 0 : 1;
    troupe_queue_destroy(&q);
    return rc;
}

static troupe_value_t *args_of(const char *address, int64_t n)
{
    msgpack_packer *pk = troupe_value_begin();
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, address, strlen(address));
    msgpack_pack_int64(pk, n);
    return troupe_value_end(pk);
}

/*  Starts the workers running fn over address, joins them; false when
    one failed. */
static bool run_workers(troupe_process_fn *fn, const char *address, int64_t n)
{
    troupe_value_t *args = args_of(address, n);
    troupe_process_t *ps[WORKERS] = { NULL };
    bool ok = args != NULL;
    for (int i = 0; ok && i < WORKERS; i++)
        ok = (ps[i] = troupe_process_start(fn, args)) != NULL;
    for (int i = 0; i < WORKERS && ps[i]; i++) {
        ok = troupe_process_join(ps[i], -1) == 0 && troupe_process_exitcode(ps[i]) == 0 && ok;
        troupe_process_destroy(&ps[i]);
    }
    troupe_value_destroy(&args);
    return ok;
}

static int64_t by_queue(int64_t n)
{
    troupe_queue_t *q = troupe_queue_new(0);
    troupe_value_t *args = q ? args_of(troupe_queue_address(q), 0) : NULL;
    troupe_process_t *owner = args ? troupe_process_start(own, args) : NULL;
    int64_t total = -1;
    if (owner && run_workers(put_ones, troupe_queue_address(q), n)) {
        troupe_value_t *end = troupe_value_nil(), *got = NULL;
        if (troupe_queue_put(q, end, -1) == 0 && troupe_process_join(owner, -1) == 0
            && (got = troupe_queue_get(q, 10)))
            troupe_value_as_int(got, &total);
        troupe_value_destroy(&end);
        troupe_value_destroy(&got);
    }
    troupe_process_destroy(&owner);
    troupe_value_destroy(&args);
    troupe_queue_destroy(&q);
    return total;
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    if (argc != 3 || (strcmp(argv[1], "lock") && strcmp(argv[1], "atomic")
                      && strcmp(argv[1], "queue"))) {
        fprintf(stderr, "usage: shared_count lock|atomic|queue N\n");
        return 2;
    }
    int64_t n = atoll(argv[2]), total = -1;
    troupe_shared_t *s = troupe_shared_new(sizeof(int64_t));
    if (!s) {
        fprintf(stderr, "shared_count: %s\n", troupe_error());
        return 1;
    }
    double t0 = now();
    if (!strcmp(argv[1], "queue"))
        total = by_queue(n);
    else if (run_workers(!strcmp(argv[1], "lock") ? add_locked : add_atomic,
                         troupe_shared_address(s), n))
        total = *(int64_t *)troupe_shared_data(s);
    double t = now() - t0;
    printf("{\"s\": %.6f, \"total\": %lld}\n", t, (long long)total);
    return total == WORKERS * n ? 0 : 1;
}

/*  counter: five processes add 1 to a counter 1000 times each; it ends at
    exactly 5000.

    Python:
        def work(total):
            for _ in range(1000):
                with total.get_lock():
                    total.value += 1

        total = Value('i', 0)
        ps = [Process(target=work, args=(total,)) for _ in range(5)]
        ...start and join them...
        print(total.value)

    Python shares one int between the processes and makes them take a lock
    around each update; forget the lock and updates are lost. troupe shares
    no memory: one process, the counter, owns the total and is the only one
    to change it, and the workers send it increments through a queue. No
    update can be lost and nobody waits for a lock. The counter prints the
    total, 5000, once the end marker comes.
*/
#include <troupe.h>

#include <stdio.h>

enum { WORKERS = 5, EACH = 1000 };

/*  The queue's address arrives as the process's argument, a string;
    troupe_format writes a string as it is. */
static troupe_queue_t *open_queue(const msgpack_object *args)
{
    char address[512];
    if (troupe_format(args, address, sizeof address) >= sizeof address) {
        fprintf(stderr, "counter: the queue's address is too long\n");
        return NULL;
    }
    troupe_queue_t *q = troupe_queue_open(address);
    if (!q)
        fprintf(stderr, "counter: %s\n", troupe_error());
    return q;
}

/*  A worker: EACH increments of 1. */
static int work(const msgpack_object *args)
{
    troupe_queue_t *q = open_queue(args);
    if (!q)
        return 1;
    for (int i = 0; i < EACH; i++)
        if (troupe_queue_put_int(q, 1) != 0) {
            fprintf(stderr, "counter: worker: %s\n", troupe_error());
            troupe_queue_destroy(&q);
            return 1;
        }
    troupe_queue_destroy(&q);
    return 0;
}

/*  The counter: adds up what comes until the end marker (nil), then
    prints the total. The total is its own local variable. */
static int count(const msgpack_object *args)
{
    troupe_queue_t *q = open_queue(args);
    if (!q)
        return 1;
    int64_t total = 0;
    for (;;) {
        troupe_value_t *v = troupe_queue_get(q, -1);
        if (!v) {
            fprintf(stderr, "counter: %s\n", troupe_error());
            troupe_queue_destroy(&q);
            return 1;
        }
        int64_t n;
        bool more = troupe_value_as_int(v, &n); /* nil is no number: the end */
        troupe_value_destroy(&v);
        if (!more)
            break;
        total += n;
    }
    troupe_queue_destroy(&q);
    printf("%lld\n", (long long)total);
    return 0;
}

/*  Waits for p to end; true when it exited with status 0. */
static bool joined_well(troupe_process_t *p)
{
    if (troupe_process_join(p, -1) != 0) {
        fprintf(stderr, "counter: %s\n", troupe_error());
        return false;
    }
    return troupe_process_exitcode(p) == 0; /* else it has said why on stderr */
}

int main(int argc, char **argv)
{
    /*  First, always: the counter and the workers are this program started
        again, and in them troupe_init runs count () or work () and exits
        instead of going on here. */
    troupe_init(argc, argv);

    /*  This process hosts the queue (a thread of troupe's serves it); the
        others reach it by its address. */
    troupe_queue_t *q = troupe_queue_new(0);
    troupe_value_t *address = q ? troupe_value_cstr(troupe_queue_address(q)) : NULL;
    if (!address) {
        fprintf(stderr, "counter: %s\n", troupe_error());
        troupe_queue_destroy(&q);
        return 1;
    }

    troupe_process_t *counter = troupe_process_start(count, address);
    if (!counter) {
        fprintf(stderr, "counter: %s\n", troupe_error());
        troupe_value_destroy(&address);
        troupe_queue_destroy(&q);
        return 1;
    }
    bool ok = true;
    troupe_process_t *workers[WORKERS] = { NULL };
    for (int i = 0; i < WORKERS && ok; i++)
        if (!(workers[i] = troupe_process_start(work, address))) {
            fprintf(stderr, "counter: %s\n", troupe_error());
            ok = false;
        }
    for (int i = 0; i < WORKERS && workers[i]; i++) {
        ok = joined_well(workers[i]) && ok;
        troupe_process_destroy(&workers[i]);
    }

    /*  Every increment is in the queue once its put has returned, so the
        end marker, put after the workers are done, comes after them all. */
    troupe_value_t *end = troupe_value_nil();
    if (end && troupe_queue_put(q, end, -1) == 0) {
        ok = joined_well(counter) && ok;
    }
    else {
        fprintf(stderr, "counter: %s\n", troupe_error());
        ok = false; /* the counter would wait for ever: destroy ends it */
    }
    troupe_value_destroy(&end);
    troupe_process_destroy(&counter);
    troupe_value_destroy(&address);
    troupe_queue_destroy(&q);
    return ok ? 0 : 1;
}

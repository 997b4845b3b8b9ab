/*  queue: a producer process puts ten items on a queue, a consumer process
    takes them off.

    Python:
        def producer(q):
            for i in range(1, 11):
                q.put(i)
            q.put(None)                  # no more

        def consumer(q):
            while (item := q.get()) is not None:
                print("consumed", item)

        q = Queue()
        ...Process(target=producer, args=(q,)) and consumer, started, joined...

    Prints "consumed 1" .. "consumed 10", in order: one producer's puts
    come out in the order it made them.
*/
#include <troupe.h>

#include <stdio.h>

/*  The queue's address is each process's argument, a string: troupe_format
    writes a string as it is. */
static troupe_queue_t *open_queue(const msgpack_object *args)
{
    char address[512];
    if (troupe_format(args, address, sizeof address) >= sizeof address) {
        fprintf(stderr, "queue: the queue's address is too long\n");
        return NULL;
    }
    troupe_queue_t *q = troupe_queue_open(address);
    if (!q)
        fprintf(stderr, "queue: %s\n", troupe_error());
    return q;
}

static int producer(const msgpack_object *args)
{
    troupe_queue_t *q = open_queue(args);
    if (!q)
        return 1;
    int rc = 0;
    for (int i = 1; i <= 10 && rc == 0; i++)
        rc = troupe_queue_put_int(q, i);
    troupe_value_t *end = rc == 0 ? troupe_value_nil() : NULL;
    if (!end || troupe_queue_put(q, end, -1) != 0) {
        fprintf(stderr, "queue: producer: %s\n", troupe_error());
        rc = 1;
    }
    troupe_value_destroy(&end);
    troupe_queue_destroy(&q);
    return rc;
}

static int consumer(const msgpack_object *args)
{
    troupe_queue_t *q = open_queue(args);
    if (!q)
        return 1;
    for (;;) {
        troupe_value_t *item = troupe_queue_get(q, -1);
        if (!item) {
            fprintf(stderr, "queue: consumer: %s\n", troupe_error());
            troupe_queue_destroy(&q);
            return 1;
        }
        int64_t n;
        bool more = troupe_value_as_int(item, &n); /* nil is no number: the end */
        troupe_value_destroy(&item);
        if (!more)
            break;
        printf("consumed %lld\n", (long long)n);
    }
    troupe_queue_destroy(&q);
    return 0;
}

/*  Waits for p to end; true when it exited with status 0. */
static bool joined_well(troupe_process_t *p)
{
    if (troupe_process_join(p, -1) != 0) {
        fprintf(stderr, "queue: %s\n", troupe_error());
        return false;
    }
    return troupe_process_exitcode(p) == 0; /* else it has said why on stderr */
}

int main(int argc, char **argv)
{
    /*  First, always: the producer and the consumer are this program
        started again, and in them troupe_init runs producer () or
        consumer () and exits instead of going on here. */
    troupe_init(argc, argv);

    /*  This process hosts the queue (a thread of troupe's serves it): it
        lives until troupe_queue_destroy below, after both have ended. */
    troupe_queue_t *q = troupe_queue_new(0);
    troupe_value_t *address = q ? troupe_value_cstr(troupe_queue_address(q)) : NULL;
    if (!address) {
        fprintf(stderr, "queue: %s\n", troupe_error());
        troupe_queue_destroy(&q);
        return 1;
    }

    troupe_process_t *prod = troupe_process_start(producer, address);
    troupe_process_t *cons = prod ? troupe_process_start(consumer, address) : NULL;
    int rc = 0;
    if (!cons) {
        fprintf(stderr, "queue: %s\n", troupe_error());
        rc = 1;
    }
    if (prod && !joined_well(prod))
        rc = 1;
    /*  A consumer whose producer failed would wait for ever for the end
        marker: it is not joined then, and destroy ends it. */
    if (cons && rc == 0 && !joined_well(cons))
        rc = 1;
    troupe_process_destroy(&prod);
    troupe_process_destroy(&cons);
    troupe_value_destroy(&address);
    troupe_queue_destroy(&q);
    return rc;
}

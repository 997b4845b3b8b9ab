/*  shared_counter: five processes add 1 to a shared counter 1000 times
    each, under its lock; it ends at exactly 5000. Python's own program,
    line for line:

        def work(total):
            for _ in range(1000):
                with total.get_lock():
                    total.value += 1

        total = Value('i', 0)
        ps = [Process(target=work, args=(total,)) for _ in range(5)]
        ...start and join them...
        print(total.value)

    The counter is 8 bytes of memory that this program and the processes
    it starts share (troupe_shared_new); its address goes to each process
    in its args, and troupe_shared_open finds it there. counter.c does the
    same with no shared memory at all: one process owns the total.
    Without the lock, updates are lost, as in Python; troupe_shared_add
    (an atomic add) needs none. A worker killed while it holds the lock
    does not leave it locked for ever: the next troupe_lock_acquire takes
    it and answers TROUPE_OWNER_DIED.
*/
#include <troupe.h>

#include <stdio.h>

enum { WORKERS = 5, EACH = 1000 };

static int work(const msgpack_object *args)
{
    char address[128];
    if (troupe_format(args, address, sizeof address) >= sizeof address)
        return 1;
    troupe_shared_t *total = troupe_shared_open(address);
    if (!total) {
        fprintf(stderr, "shared_counter: %s\n", troupe_error());
        return 1;
    }
    int64_t *value = troupe_shared_data(total);
    troupe_lock_t *lock = troupe_shared_lock(total);
    for (int i = 0; i < EACH; i++) {
        if (troupe_lock_acquire(lock, -1) < 0) {
            fprintf(stderr, "shared_counter: %s\n", troupe_error());
            return 1;
        }
        *value += 1;
        troupe_lock_release(lock);
    }
    return 0;
}

int main(int argc, char **argv)
{
    /*  First, always: the workers are this program started again, and in
        them troupe_init runs work () and exits instead of going on here. */
    troupe_init(argc, argv);

    troupe_shared_t *total = troupe_shared_new(sizeof(int64_t)); /* Value('i', 0) */
    troupe_value_t *address = total ? troupe_value_cstr(troupe_shared_address(total)) : NULL;
    if (!address) {
        fprintf(stderr, "shared_counter: %s\n", troupe_error());
        return 1;
    }
    troupe_process_t *ps[WORKERS] = { NULL };
    bool ok = true;
    for (int i = 0; i < WORKERS && ok; i++)
        if (!(ps[i] = troupe_process_start(work, address))) {
            fprintf(stderr, "shared_counter: %s\n", troupe_error());
            ok = false;
        }
    for (int i = 0; i < WORKERS && ps[i]; i++) {
        ok = troupe_process_join(ps[i], -1) == 0 && troupe_process_exitcode(ps[i]) == 0 && ok;
        troupe_process_destroy(&ps[i]);
    }
    troupe_value_destroy(&address);
    if (!ok)
        return 1;
    printf("%lld\n", (long long)*(int64_t *)troupe_shared_data(total));
    return 0;
}

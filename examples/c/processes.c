/*  processes: five processes started, then joined; each prints its number.

    Python:
        def worker(num):
            print("worker", num)

        if __name__ == "__main__":
            ps = [Process(target=worker, args=(i,)) for i in range(5)]
            for p in ps: p.start()
            for p in ps: p.join()

    Prints "worker 0" .. "worker 4", one line each, in whatever order the
    processes get there.
*/
#include <troupe.h>

#include <stdio.h>

/*  A process's body: its argument is the number main gave it, and its
    return value is the process's exit status. */
static int worker(const msgpack_object *args)
{
    int64_t num;
    if (!troupe_as_int(args, &num)) {
        fprintf(stderr, "worker: my argument is not a number\n");
        return 1;
    }
    printf("worker %lld\n", (long long)num);
    return 0;
}

int main(int argc, char **argv)
{
    /*  First, always: each process is this program started again, and in
        it troupe_init runs worker () and exits instead of going on here
        (Python's spawn, and its `if __name__ == "__main__"`). */
    troupe_init(argc, argv);

    troupe_process_t *ps[5] = { NULL };
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        troupe_value_t *num = troupe_value_int(i);
        ps[i] = num ? troupe_process_start(worker, num) : NULL;
        troupe_value_destroy(&num); /* the process has its own copy */
        if (!ps[i]) {
            fprintf(stderr, "processes: %s\n", troupe_error());
            rc = 1;
            break;
        }
    }
    /*  Join those that started, in order; destroy frees each. */
    for (int i = 0; i < 5 && ps[i]; i++) {
        if (troupe_process_join(ps[i], -1) != 0) {
            fprintf(stderr, "processes: %s\n", troupe_error());
            rc = 1;
        }
        else if (troupe_process_exitcode(ps[i]) != 0) {
            fprintf(stderr, "processes: worker %d ended with %d\n", i,
                    troupe_process_exitcode(ps[i]));
            rc = 1;
        }
        troupe_process_destroy(&ps[i]);
    }
    return rc;
}

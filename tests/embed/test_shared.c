/*  test_shared.c: troupe_lock_*, troupe_event_*, troupe_semaphore_* and
    troupe_shared_* between this program and the processes it starts, the
    semantics of CPython's _test_multiprocessing.py cases for Value, Array,
    Lock, RLock, Event, Semaphore and BoundedSemaphore (ported, not
    copied), and what Python's cannot do: a lock whose holder was killed
    is taken again. Each test_* names what it proves; any failed check
    makes the program exit 1. No check is on a time but "a wait with a
    timeout returned": bounds here are seconds, never tight.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  args: an array of addresses (strings) and integers; element i. */
static const char *arg_str(const msgpack_object *args, uint32_t i, char *buf, size_t size)
{
    if (args->type != MSGPACK_OBJECT_ARRAY || i >= args->via.array.size
        || troupe_format(&args->via.array.ptr[i], buf, size) >= size)
        return NULL;
    return buf;
}

static int64_t arg_int(const msgpack_object *args, uint32_t i)
{
    int64_t v = -1;
    if (args->type == MSGPACK_OBJECT_ARRAY && i < args->via.array.size)
        troupe_as_int(&args->via.array.ptr[i], &v);
    return v;
}

/*  Starts fn with [a, b] (strings; b may be NULL) and n, and joins it;
    its exit status, or -1. */
static troupe_process_t *start(troupe_process_fn *fn, const char *a, const char *b, int64_t n)
{
    msgpack_packer *pk = troupe_value_begin();
    msgpack_pack_array(pk, 3);
    msgpack_pack_str_with_body(pk, a, strlen(a));
    if (b)
        msgpack_pack_str_with_body(pk, b, strlen(b));
    else
        msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, n);
    troupe_value_t *args = troupe_value_end(pk);
    troupe_process_t *p = args ? troupe_process_start(fn, args) : NULL;
    troupe_value_destroy(&args);
    return p;
}

static int joined(troupe_process_t *p)
{
    int rc = p && troupe_process_join(p, 60) == 0 ? troupe_process_exitcode(p) : -1;
    troupe_process_destroy(&p);
    return rc;
}

static int run(troupe_process_fn *fn, const char *a, const char *b, int64_t n)
{
    return joined(start(fn, a, b, n));
}

/* ==== the processes' bodies ====================================================== */

/*  Value('i') += 1, n times, under its lock (test_value's counter). */
static int add_locked(const msgpack_object *args)
{
    char a[128];
    troupe_shared_t *s = troupe_shared_open(arg_str(args, 0, a, sizeof a));
    if (!s)
        return 10;
    int64_t *v = troupe_shared_data(s);
    for (int64_t i = 0; i < arg_int(args, 2); i++) {
        if (troupe_lock_acquire(troupe_shared_lock(s), -1) != 0)
            return 11;
        *v += 1;
        if (troupe_lock_release(troupe_shared_lock(s)) != 0)
            return 12;
    }
    return 0;
}

/*  troupe_shared_add, n times: no lock. */
static int add_atomic(const msgpack_object *args)
{
    char a[128];
    troupe_shared_t *s = troupe_shared_open(arg_str(args, 0, a, sizeof a));
    if (!s)
        return 10;
    for (int64_t i = 0; i < arg_int(args, 2); i++)
        troupe_shared_add(s, 1, 1);
    return 0;
}

/*  test_array: fills element i with i * i, then opens the whole as the
    wrong kind (refused). */
static int fill_squares(const msgpack_object *args)
{
    char a[128];
    troupe_shared_t *s = troupe_shared_open(arg_str(args, 0, a, sizeof a));
    if (!s)
        return 10;
    int64_t *v = troupe_shared_data(s);
    for (size_t i = 0; i < troupe_shared_size(s) / sizeof *v; i++)
        v[i] = (int64_t)(i * i);
    return troupe_lock_open(a) == NULL ? 0 : 13;
}

/*  Holds the lock, then sets the event, then waits to be killed. */
static int hold_lock_until_killed(const msgpack_object *args)
{
    char a[128], b[128];
    troupe_lock_t *l = troupe_lock_open(arg_str(args, 0, a, sizeof a));
    troupe_event_t *e = troupe_event_open(arg_str(args, 1, b, sizeof b));
    if (!l || !e || troupe_lock_acquire(l, -1) != 0 || troupe_event_set(e) != 0)
        return 10;
    pause();
    return 0;
}

/*  Takes the lock and exits holding it. */
static int exit_holding(const msgpack_object *args)
{
    char a[128];
    troupe_lock_t *l = troupe_lock_open(arg_str(args, 0, a, sizeof a));
    return l && troupe_lock_acquire(l, -1) == 0 ? 0 : 10;
}

/*  Tries the lock for n ms: 0 when it could not have it (timed out). */
static int try_lock(const msgpack_object *args)
{
    char a[128];
    troupe_lock_t *l = troupe_lock_open(arg_str(args, 0, a, sizeof a));
    if (!l)
        return 10;
    int rc = troupe_lock_acquire(l, (double)arg_int(args, 2) / 1000);
    return rc == -1 ? 0 : 20 + rc;
}

/*  test_event: waits for the event another process sets; 0 once set. */
static int wait_event(const msgpack_object *args)
{
    char a[128];
    troupe_event_t *e = troupe_event_open(arg_str(args, 0, a, sizeof a));
    return e && troupe_event_wait(e, 60) ? 0 : 10;
}

static int set_event(const msgpack_object *args)
{
    char a[128];
    troupe_event_t *e = troupe_event_open(arg_str(args, 0, a, sizeof a));
    usleep(100000); /* the parent is waiting by then, most likely */
    return e && troupe_event_set(e) == 0 ? 0 : 10;
}

/*  Releases the semaphore n times. */
static int release_n(const msgpack_object *args)
{
    char a[128];
    troupe_semaphore_t *s = troupe_semaphore_open(arg_str(args, 0, a, sizeof a));
    if (!s)
        return 10;
    for (int64_t i = 0; i < arg_int(args, 2); i++)
        if (troupe_semaphore_release(s) != 0)
            return 11;
    return 0;
}

/*  Starts a grandchild (add_atomic) from inside a process: the memory
    reaches it too. */
static int start_grandchild(const msgpack_object *args)
{
    char a[128];
    return run(add_atomic, arg_str(args, 0, a, sizeof a) ? a : "", NULL, arg_int(args, 2));
}

/* ==== tests ======================================================================== */

static void test_five_processes_count_exactly_under_the_lock(void)
{
    troupe_shared_t *s = troupe_shared_new(2 * sizeof(int64_t));
    CHECK(s != NULL && troupe_shared_size(s) == 2 * sizeof(int64_t));
    if (!s)
        return;
    int64_t *v = troupe_shared_data(s);
    CHECK(v[0] == 0 && v[1] == 0); /* zeroed */
    troupe_process_t *ps[10];
    for (int i = 0; i < 5; i++) {
        ps[i] = start(add_locked, troupe_shared_address(s), NULL, 2000);
        ps[5 + i] = start(add_atomic, troupe_shared_address(s), NULL, 2000);
    }
    for (int i = 0; i < 10; i++)
        CHECK(joined(ps[i]) == 0);
    CHECK(v[0] == 10000);
    CHECK(v[1] == 10000);
    CHECK(troupe_shared_add(s, 1, -1) == 9999);
    CHECK(troupe_shared_add(s, 2, 1) == 0); /* past the end: nothing */
}

static void test_a_child_fills_an_array_the_parent_reads(void)
{
    troupe_shared_t *s = troupe_shared_new(100 * sizeof(int64_t));
    CHECK(s && run(fill_squares, troupe_shared_address(s), NULL, 0) == 0);
    int64_t *v = s ? troupe_shared_data(s) : NULL;
    for (int i = 0; v && i < 100; i++)
        CHECK(v[i] == i * i);
}

static void test_lock_acquire_release_and_misuse(void)
{
    troupe_lock_t *l = troupe_lock_new();
    CHECK(l != NULL);
    CHECK(troupe_lock_acquire(l, -1) == 0);
    CHECK(troupe_lock_acquire(l, 0) == -1); /* not an rlock: this thread has it */
    CHECK(troupe_lock_release(l) == 0);
    CHECK(troupe_lock_release(l) == -1); /* released too often */
    CHECK(strstr(troupe_error(), "does not hold") != NULL);
    AFTER_A_FAILURE(troupe_lock_acquire(l, 0) == 0);
    CHECK(troupe_lock_release(l) == 0);
}

static void test_rlock_is_taken_again_by_its_holder(void)
{
    troupe_lock_t *l = troupe_rlock_new();
    CHECK(l && troupe_lock_acquire(l, -1) == 0 && troupe_lock_acquire(l, 0) == 0);
    CHECK(troupe_lock_release(l) == 0 && troupe_lock_release(l) == 0);
    CHECK(troupe_lock_release(l) == -1);
}

/*  Another process cannot have a held lock within its timeout; a killed
    holder's lock is taken, with TROUPE_OWNER_DIED, and so is one whose
    holder exited holding it. */
static void test_a_dead_holders_lock_is_taken_again(void)
{
    troupe_lock_t *l = troupe_lock_new();
    troupe_event_t *held = troupe_event_new();
    CHECK(l && held);
    if (!l || !held)
        return;
    troupe_process_t *p = start(hold_lock_until_killed, troupe_lock_address(l),
                                troupe_event_address(held), 0);
    CHECK(p && troupe_event_wait(held, 60));
    CHECK(run(try_lock, troupe_lock_address(l), NULL, 200) == 0);
    CHECK(troupe_lock_acquire(l, 0) == -1);
    if (p)
        kill(troupe_process_pid(p), SIGKILL);
    CHECK(joined(p) == -SIGKILL);
    CHECK(troupe_lock_acquire(l, 10) == TROUPE_OWNER_DIED);
    CHECK(troupe_lock_release(l) == 0);
    CHECK(troupe_lock_acquire(l, 0) == 0 && troupe_lock_release(l) == 0);

    CHECK(run(exit_holding, troupe_lock_address(l), NULL, 0) == 0);
    CHECK(troupe_lock_acquire(l, 10) == TROUPE_OWNER_DIED);
    CHECK(troupe_lock_release(l) == 0);
}

static void test_event_set_clear_wait(void)
{
    troupe_event_t *e = troupe_event_new();
    CHECK(e && !troupe_event_is_set(e));
    CHECK(!troupe_event_wait(e, 0));
    CHECK(!troupe_event_wait(e, 0.05)); /* times out */
    CHECK(troupe_event_set(e) == 0 && troupe_event_is_set(e) && troupe_event_wait(e, -1));
    CHECK(run(wait_event, troupe_event_address(e), NULL, 0) == 0); /* set: at once */
    CHECK(troupe_event_clear(e) == 0 && !troupe_event_is_set(e));
    /* a child sets it while the parent waits, and one waits while the parent sets */
    troupe_process_t *setter = start(set_event, troupe_event_address(e), NULL, 0);
    CHECK(troupe_event_wait(e, 60));
    CHECK(joined(setter) == 0);
    CHECK(troupe_event_clear(e) == 0);
    troupe_process_t *waiter = start(wait_event, troupe_event_address(e), NULL, 0);
    usleep(100000);
    CHECK(troupe_event_set(e) == 0);
    CHECK(joined(waiter) == 0);
}

static void test_semaphore_counts(void)
{
    troupe_semaphore_t *s = troupe_semaphore_new(2, false);
    CHECK(s && troupe_semaphore_value(s) == 2);
    CHECK(troupe_semaphore_acquire(s, -1) == 0 && troupe_semaphore_acquire(s, 0) == 0);
    CHECK(troupe_semaphore_value(s) == 0);
    CHECK(troupe_semaphore_acquire(s, 0) == -1);
    CHECK(troupe_semaphore_acquire(s, 0.05) == -1); /* times out */
    CHECK(run(release_n, troupe_semaphore_address(s), NULL, 3) == 0);
    CHECK(troupe_semaphore_value(s) == 3); /* not bounded: above its start */
    CHECK(troupe_semaphore_acquire(s, 10) == 0);

    troupe_semaphore_t *b = troupe_semaphore_new(2, true);
    CHECK(b && troupe_semaphore_acquire(b, 0) == 0);
    CHECK(troupe_semaphore_release(b) == 0);
    CHECK(troupe_semaphore_release(b) == -1); /* above its value: refused */
    CHECK(strstr(troupe_error(), "more often") != NULL);
    CHECK(troupe_semaphore_value(b) == 2);
    CHECK(run(release_n, troupe_semaphore_address(b), NULL, 1) == 11);
}

static void test_addresses_are_checked(void)
{
    troupe_lock_t *l = troupe_lock_new();
    troupe_shared_t *s = troupe_shared_new(8);
    CHECK(l && s);
    if (!l || !s)
        return;
    CHECK(troupe_lock_open(troupe_lock_address(l)) == l);
    CHECK(troupe_lock_open(troupe_lock_address(troupe_shared_lock(s)))
          == troupe_shared_lock(s));
    CHECK(troupe_event_open(troupe_lock_address(l)) == NULL); /* a lock, not an event */
    CHECK(strstr(troupe_error(), "of kind 'lock', not 'event'") != NULL);
    CHECK(troupe_lock_open("not an address") == NULL);
    CHECK(troupe_lock_open(NULL) == NULL);
    char forged[128];
    const char *a = troupe_lock_address(l);
    /* another arena's id; an offset no object starts at; one past the end */
    snprintf(forged, sizeof forged, "troupe-shared:%016x:lock:64", 0x1234);
    CHECK(troupe_lock_open(forged) == NULL);
    snprintf(forged, sizeof forged, "%.*s:lock:%d", (int)(strchr(a + 14, ':') - a), a, 65);
    CHECK(troupe_lock_open(forged) == NULL);
    snprintf(forged, sizeof forged, "%.*s:lock:%llu", (int)(strchr(a + 14, ':') - a), a,
             1ull << 40);
    CHECK(troupe_lock_open(forged) == NULL);
    CHECK(troupe_shared_new((size_t)1 << 40) == NULL);
}

static void test_grandchildren_share_it_too(void)
{
    troupe_shared_t *s = troupe_shared_new(2 * sizeof(int64_t));
    CHECK(s && run(start_grandchild, troupe_shared_address(s), NULL, 500) == 0);
    CHECK(s && ((int64_t *)troupe_shared_data(s))[1] == 500);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(name) { #name, name }
        T(test_five_processes_count_exactly_under_the_lock),
        T(test_a_child_fills_an_array_the_parent_reads),
        T(test_lock_acquire_release_and_misuse),
        T(test_rlock_is_taken_again_by_its_holder),
        T(test_a_dead_holders_lock_is_taken_again),
        T(test_event_set_clear_wait),
        T(test_semaphore_counts),
        T(test_addresses_are_checked),
        T(test_grandchildren_share_it_too),
#undef T
    };
    embed_run(tests, sizeof tests / sizeof *tests, NULL, &failures);
    return failures ? 1 : 0;
}

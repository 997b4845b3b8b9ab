/*  failmalloc.c: an LD_PRELOAD shim for the out-of-memory tests. malloc,
    calloc and realloc go straight to glibc's until a test arms a failure
    with failmalloc_arm (found with dlsym: a process that never arms it
    behaves as without the shim); then the one call it chose returns NULL
    with errno ENOMEM, and everything goes on as before.

    A failure is chosen by function, size and count rather than by the Nth
    allocation alone: zmq's threads allocate all the time, and a count of
    every call would land on a different call in every run.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t size);

enum { F_ANY, F_MALLOC, F_CALLOC, F_REALLOC };

static _Atomic unsigned left; /* calls to let through, plus one; 0: disarmed */
static int which;
static size_t lo, hi;
static bool one_thread;
static __thread bool armed_here;

/*  From now on, the nth call (1: the next one) of `fn` ("malloc", "calloc",
    "realloc" or "any") that asks for min .. max bytes fails, once. With
    this_thread, only the calling thread's calls count. */
__attribute__((visibility("default"))) void
failmalloc_arm(const char *fn, size_t min, size_t max, unsigned nth, int this_thread)
{
    which = !strcmp(fn, "malloc")    ? F_MALLOC
            : !strcmp(fn, "calloc")  ? F_CALLOC
            : !strcmp(fn, "realloc") ? F_REALLOC
                                     : F_ANY;
    lo = min;
    hi = max;
    one_thread = this_thread;
    armed_here = true;
    atomic_store(&left, nth);
}

static bool must_fail(int fn, size_t size)
{
    unsigned n = atomic_load(&left);
    if (!n || (which != F_ANY && which != fn) || size < lo || size > hi
        || (one_thread && !armed_here))
        return false;
    while (n && !atomic_compare_exchange_weak(&left, &n, n - 1))
        ;
    if (n != 1)
        return false;
    errno = ENOMEM;
    return true;
}

__attribute__((visibility("default"))) void *malloc(size_t size)
{
    return must_fail(F_MALLOC, size) ? NULL : __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t nmemb, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(nmemb, size, &bytes))
        bytes = (size_t)-1;
    return must_fail(F_CALLOC, bytes) ? NULL : __libc_calloc(nmemb, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t size)
{
    return must_fail(F_REALLOC, size) ? NULL : __libc_realloc(p, size);
}

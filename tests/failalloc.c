/*  failalloc.c: an LD_PRELOAD shim that makes a process run out of memory
    on cue, for tests/oom.py (the out-of-memory paths of the actor host).

    TROUPE_FAILALLOC=K: nothing happens until the process gets SIGUSR2;
    from then on the first K heap calls (malloc, calloc, realloc) made by
    libtroupe itself succeed and every later one fails, as when memory has
    run out for good. Calls from anything else (libzmq, msgpack-c, libc,
    the module) always succeed: their own out-of-memory paths are theirs,
    and many of them abort. Nothing is checked before the signal, so the
    process starts and warms up as usual.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static volatile sig_atomic_t armed;
static long allowed = -1; /* calls let through once armed; -1: not set up */
static long calls;
static __thread int inside; /* dladdr must not see our own calls */

static void on_usr2(int sig)
{
    (void)sig;
    armed = 1;
}

__attribute__((constructor)) static void setup(void)
{
    const char *k = getenv("TROUPE_FAILALLOC");
    if (!k)
        return;
    allowed = strtol(k, NULL, 10);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}

/*  Whether the call that `caller` returns to must fail. */
static int must_fail(void *caller)
{
    if (!armed || allowed < 0 || inside)
        return 0;
    inside = 1;
    Dl_info info;
    int ours = dladdr(caller, &info) && info.dli_fname
               && strstr(info.dli_fname, "libtroupe");
    inside = 0;
    if (!ours)
        return 0;
    return __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED) > allowed;
}

__attribute__((visibility("default"))) void *malloc(size_t size)
{
    if (must_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size)
{
    if (must_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t size)
{
    if (size && must_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, size);
}

/*  test_pool_cancel.c: troupe_pool_cancel, from another thread and from
    the program's own SIGINT handler: the map waiting returns -1 with
    errno ECANCELED at once (it had minutes of work left), the futures
    pending fail with "cancelled", and the pool goes on: the next map is
    exact, none of the cancelled results leaks into it. The semantics of
    CPython's _TestPool.test_terminate (a pool busy with a long map_async
    is ended without waiting for it) and of concurrent.futures'
    shutdown(cancel_futures=True) (what has not started never runs), with
    the pool kept. With --map-until-cancelled it is the program that
    tests/embed_interrupt.sh stops with Ctrl-C.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*  n ms of sleep, then n + 1. */
static int nap_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (!troupe_as_int(v, &n) || n < 0) {
        troupe_fail(ctx, "not a duration");
        return TROUPE_ERROR;
    }
    embed_sleep_ms((long)n);
    return troupe_emit_int(ctx, n + 1);
}

static const troupe_module_t nap_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "nap",
    .message = nap_message,
};

/*  What the handler reads: cleared before the pool is destroyed. */
static troupe_pool_t *volatile the_pool;

static void on_sigint(int sig)
{
    (void)sig;
    troupe_pool_cancel(the_pool); /* async-signal-safe: that is its point */
}

static void *cancel_later(void *arg)
{
    embed_sleep_ms(300);
    troupe_pool_cancel(arg);
    return NULL;
}

static void *sigint_later(void *arg)
{
    (void)arg;
    embed_sleep_ms(300);
    kill(getpid(), SIGINT); /* to the process: any thread may take it */
    return NULL;
}

/*  A map of 200 items of 100 ms on 2 workers (10 s), interrupted by
    `interrupter` after 0.3 s: -1, ECANCELED. Then a short map is exact. */
static void map_is_cancelled_by(void *(*interrupter)(void *), troupe_pool_t *pool)
{
    enum { N = 200 };
    int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = 100;
    troupe_value_t *item = troupe_value_int(2000);
    troupe_future_t *f = troupe_pool_submit(pool, item); /* before the map */
    troupe_value_destroy(&item);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, interrupter, pool) == 0);
    errno = 0;
    int rc = troupe_pool_map_int(pool, in, out, N);
    int err = errno;
    pthread_join(t, NULL);
    CHECK(rc == -1 && err == ECANCELED);
    CHECK(strstr(troupe_error(), "cancelled"));
    CHECK(troupe_future_wait(f, 10) == 0);
    CHECK(troupe_future_error(f) && strstr(troupe_future_error(f), "cancelled"));
    troupe_future_destroy(&f);

    int64_t again[5] = { 0, 1, 2, 3, 4 }, got[5] = { 0 };
    CHECK(troupe_pool_map_int(pool, again, got, 5) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(got[i] == again[i] + 1);
}

static void test_cancel_from_another_thread(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&nap_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    map_is_cancelled_by(cancel_later, pool);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

static void test_cancel_from_a_sigint_handler(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&nap_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    struct sigaction sa = { .sa_handler = on_sigint }, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    the_pool = pool;
    map_is_cancelled_by(sigint_later, pool);
    the_pool = NULL; /* before the pool goes: the handler may run any time */
    sigaction(SIGINT, &old, NULL);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

static void test_cancel_refuses_a_null_pool(void)
{
    errno = 0;
    CHECK(troupe_pool_cancel(NULL) == -1 && errno == EINVAL);
}

/*  A cancel with nothing pending changes nothing; work submitted after it
    is not cancelled. */
static void test_cancel_touches_only_what_is_pending(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&nap_module, 1, NULL);
    CHECK(pool);
    if (!pool)
        return;
    CHECK(troupe_pool_cancel(pool) == 0);
    int64_t in[3] = { 1, 2, 3 }, out[3];
    CHECK(troupe_pool_map_int(pool, in, out, 3) == 0 && out[2] == 4);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  For tests/embed_interrupt.sh: a map of 500 s under the program's own
    SIGINT handler, which cancels it; then a short map, and a clean end. */
static int map_until_cancelled(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", "1000", NULL },
                                            .name = "cancelled");
    troupe_pool_t *pool = troupe_pool_new("spin", 2, &o);
    if (!pool) {
        fprintf(stderr, "%s\n", troupe_error());
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_sigint };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    the_pool = pool;
    size_t n = 1000000;
    int64_t *xs = calloc(n, sizeof *xs), *ys = calloc(n, sizeof *ys);
    printf("mapping\n");
    fflush(stdout);
    int rc = troupe_pool_map_int(pool, xs, ys, n);
    printf("map: %d %s (%s)\n", rc, rc < 0 && errno == ECANCELED ? "ECANCELED" : "?",
           troupe_error());
    int64_t again[5] = { 1, 2, 3, 4, 5 };
    rc = troupe_pool_map_int(pool, again, ys, 5);
    printf("after: %d, %lld\n", rc, (long long)ys[4]);
    the_pool = NULL;
    rc = troupe_pool_close(pool);
    troupe_pool_destroy(&pool);
    free(xs);
    free(ys);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--map-until-cancelled"))
        return map_until_cancelled();
    const embed_test_t tests[] = {
#define T(f) { #f, f }
        T(test_cancel_from_another_thread),
        T(test_cancel_from_a_sigint_handler),
        T(test_cancel_refuses_a_null_pool),
        T(test_cancel_touches_only_what_is_pending),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    return failures ? 1 : 0;
}

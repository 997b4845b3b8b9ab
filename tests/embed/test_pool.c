/*  test_pool.c: troupe_pool_* and troupe_future_* from a program of its
    own, against real worker processes: results in input order whatever the
    chunking, modules built in, from a .so and defined in this program,
    failed items reported where they belong, timeouts, a SIGKILLed worker
    during a map (results complete and exact), a pool that gives up on its
    workers (every pending future fails with the reason, nothing hangs),
    and no process left behind after close or destroy. Each test_* names
    what it proves; any failed check makes the program exit 1.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>


/* ==== modules this program defines (run in workers: this program again) ========= */

/*  Integers: doubles them; fails on 13 ("unlucky"); sleeps n-1000 ms for
    n in 1001..1999; kills its own process on -9. Strings: uppercased. */
static int odd_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (v->type == MSGPACK_OBJECT_STR) {
        char buf[256];
        size_t len = v->via.str.size < sizeof buf ? v->via.str.size : sizeof buf;
        for (size_t i = 0; i < len; i++) {
            char c = v->via.str.ptr[i];
            buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
        }
        return troupe_emit_strn(ctx, buf, len);
    }
    if (!troupe_as_int(v, &n)) {
        troupe_fail(ctx, "not a number");
        return TROUPE_ERROR;
    }
    if (n == 13) {
        troupe_fail(ctx, "unlucky %lld", (long long)n);
        return TROUPE_ERROR;
    }
    if (n == -9)
        raise(SIGKILL);
    if (n > 1000 && n < 2000)
        embed_sleep_ms(n - 1000);
    return troupe_emit_int(ctx, 2 * n);
}

static const troupe_module_t odd_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "odd",
    .message = odd_message,
};

/*  A module written before the _cstr/_strn rule: troupe_emit_str, the old
    name of troupe_emit_strn, still works for one release. Each string
    comes back as its first half. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static int old_names_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_STR) {
        troupe_fail(ctx, "not a string");
        return TROUPE_ERROR;
    }
    return troupe_emit_str(ctx, v->via.str.ptr, v->via.str.size / 2);
}
#pragma GCC diagnostic pop

static const troupe_module_t old_names_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "old_names",
    .message = old_names_message,
};

/*  Emits nothing for even numbers and the number three times for odd ones:
    a result is nil for none and an array for several. */
static int fan_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n = 0;
    troupe_as_int(v, &n);
    for (int k = 0; k < (n % 2 ? 3 : 0); k++)
        troupe_emit_int(ctx, n);
    return TROUPE_OK;
}

static const troupe_module_t fan_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "fan",
    .message = fan_message,
};

/*  An integer n: a value n arrays deep around n. Anything else: itself. */
static int nest_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (!troupe_as_int(v, &n))
        return troupe_emit_object(ctx, v);
    msgpack_packer *pk = troupe_emit_begin(ctx);
    for (int64_t d = 0; pk && d < n; d++)
        msgpack_pack_array(pk, 1);
    if (pk)
        msgpack_pack_int64(pk, n);
    return troupe_emit_end(ctx);
}

static const troupe_module_t nest_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "nest",
    .message = nest_message,
};

/*  An integer n: a string of n bytes. */
static int big_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n = 0;
    char *text = troupe_as_int(v, &n) && n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!text) {
        troupe_fail(ctx, "not a size");
        return TROUPE_ERROR;
    }
    memset(text, 'x', (size_t)n);
    int rc = troupe_emit_strn(ctx, text, (size_t)n);
    free(text);
    return rc;
}

static const troupe_module_t big_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "big",
    .message = big_message,
};

/* ==== process hygiene =========================================================== */

/*  How many processes have this one as their parent. */
static int children(void)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *close = strrchr(buf, ')'); /* comm may hold spaces */
        int ppid;
        if (close && sscanf(close + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/*  Pids of the pool's workers: processes titled "troupe: NAME/work#N".
    Tests that look for workers name their pools after this process, so
    that tests run side by side never see each other's. */
static char pool_name[64];

static int workers(pid_t *pids, int max)
{
    char title[96];
    snprintf(title, sizeof title, "troupe: %s/work#", pool_name);
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        char path[300], buf[256];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        if (!strncmp(buf, title, strlen(title)))
            pids[n++] = atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

/* ==== the tests ====================================================================== */

static void test_map_int_in_input_order(void)
{
    troupe_pool_t *pool = troupe_pool_new("square", 3, NULL);
    CHECK(pool);
    if (!pool)
        return;
    int64_t in[5] = { 1, 2, 3, 4, 5 }, out[5] = { 0 };
    CHECK(troupe_pool_map_int(pool, in, out, 5) == 0);
    CHECK(out[0] == 1 && out[1] == 4 && out[2] == 9 && out[3] == 16 && out[4] == 25);
    /* many items, many batches: still in input order */
    size_t n = 200000;
    int64_t *xs = malloc(n * sizeof *xs), *ys = malloc(n * sizeof *ys);
    for (size_t i = 0; i < n; i++)
        xs[i] = (int64_t)(n - i);
    CHECK(troupe_pool_map_int(pool, xs, ys, n) == 0);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += ys[i] != xs[i] * xs[i];
    CHECK(wrong == 0);
    double din[3] = { 0.5, -2, 3 }, dout[3];
    CHECK(troupe_pool_map_double(pool, din, dout, 3) == 0);
    CHECK(dout[0] == 0.25 && dout[1] == 4 && dout[2] == 9);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    CHECK(pool == NULL);
    free(xs);
    free(ys);
    CHECK(children() == 0);
}

static void test_chunking_changes_nothing_but_batches(void)
{
    size_t n = 3000;
    int64_t *xs = malloc(n * sizeof *xs), *ys = malloc(n * sizeof *ys);
    for (size_t i = 0; i < n; i++)
        xs[i] = (int64_t)i - 1000;
    unsigned sizes[] = { 1, 7, 1000, 0 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        troupe_pool_opts_t o = TROUPE_POOL_OPTS(.chunksize = sizes[k]);
        troupe_pool_t *pool = troupe_pool_new("square", 2, &o);
        CHECK(pool);
        if (!pool)
            continue;
        memset(ys, 0, n * sizeof *ys);
        CHECK(troupe_pool_map_int(pool, xs, ys, n) == 0);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++)
            wrong += ys[i] != xs[i] * xs[i];
        if (wrong)
            fprintf(stderr, "chunksize %u: %zu wrong\n", sizes[k], wrong);
        CHECK(wrong == 0);
        CHECK(troupe_pool_close(pool) == 0);
        troupe_pool_destroy(&pool);
    }
    free(xs);
    free(ys);
}

static void test_values_through_a_module_of_this_program(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    const char *words[] = { "pool", "map", "Hello, world" };
    troupe_value_t *items[3], *results[3];
    for (int i = 0; i < 3; i++)
        items[i] = troupe_value_cstr(words[i]);
    CHECK(troupe_pool_map(pool, items, 3, results) == 0);
    size_t len;
    const char *s = results[2] ? troupe_value_as_strn(results[2], &len) : NULL;
    CHECK(s && len == 12 && !memcmp(s, "HELLO, WORLD", 12));
    s = results[0] ? troupe_value_as_strn(results[0], &len) : NULL;
    CHECK(s && len == 4 && !memcmp(s, "POOL", 4));
    for (int i = 0; i < 3; i++) {
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);

    /* none and several values per item: nil and an array */
    pool = troupe_pool_new_module(&fan_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *two = troupe_value_int(2), *three = troupe_value_int(3);
    troupe_value_t *in[2] = { two, three }, *out[2] = { NULL, NULL };
    CHECK(troupe_pool_map(pool, in, 2, out) == 0);
    char text[64] = "";
    if (out[0])
        troupe_value_format(out[0], text, sizeof text);
    CHECK(!strcmp(text, "null"));
    text[0] = '\0';
    if (out[1])
        troupe_value_format(out[1], text, sizeof text);
    CHECK(!strcmp(text, "[3, 3, 3]"));
    troupe_value_destroy(&two);
    troupe_value_destroy(&three);
    troupe_value_destroy(&out[0]);
    troupe_value_destroy(&out[1]);
    /* map_int wants one integer per item: several are an error */
    int64_t x = 3, y = 0;
    CHECK(troupe_pool_map_int(pool, &x, &y, 1) == -1);
    CHECK(strstr(troupe_error(), "item 0: the result is not an integer: [3, 3, 3]"));
    troupe_pool_destroy(&pool); /* without close: terminated */
    CHECK(children() == 0);
}

static void test_a_module_with_deprecated_names_still_runs(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&old_names_module, 1, NULL);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *item = troupe_value_cstr("halfhalf"), *result = NULL;
    CHECK(troupe_pool_map(pool, &item, 1, &result) == 0);
    size_t len = 0;
    const char *s = result ? troupe_value_as_strn(result, &len) : NULL;
    CHECK(s && len == 4 && !memcmp(s, "half", 4));
    troupe_value_destroy(&item);
    troupe_value_destroy(&result);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

static void test_failed_items_are_reported_where_they_belong(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    /* map: -1, naming the failed item of lowest index and its message */
    int64_t in[20], out[20];
    for (int i = 0; i < 20; i++)
        in[i] = i;
    CHECK(troupe_pool_map_int(pool, in, out, 20) == -1);
    CHECK(strstr(troupe_error(), "item 13 failed: unlucky 13") != NULL);
    /* the pool goes on */
    in[13] = 14;
    CHECK(troupe_pool_map_int(pool, in, out, 20) == 0 && out[13] == 28);

    /* a future: its error, no result */
    troupe_value_t *v = troupe_value_int(13);
    troupe_future_t *f = troupe_pool_submit(pool, v);
    CHECK(f && troupe_future_wait(f, 30) == 0);
    CHECK(troupe_future_done(f) && !troupe_future_result(f));
    CHECK(troupe_future_error(f) && strstr(troupe_future_error(f), "unlucky 13"));
    troupe_future_destroy(&f);
    CHECK(f == NULL);
    troupe_value_destroy(&v);

    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  A value `depth` arrays deep around `n`. */
static troupe_value_t *nested(int depth, int64_t n)
{
    msgpack_packer *pk = troupe_value_begin();
    for (int d = 0; pk && d < depth; d++)
        msgpack_pack_array(pk, 1);
    if (pk)
        msgpack_pack_int64(pk, n);
    return pk ? troupe_value_end(pk) : NULL;
}

/*  How deep a value nests: arrays of one member. */
static int depth_of(const msgpack_object *v)
{
    int d = 0;
    for (; v && v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 1;
         v = v->via.array.ptr)
        d++;
    return d;
}

typedef struct {
    int seen[100];
    int calls;
    int failed;
    int stop_at;
    char error[256];
} imap_t;

static int on_result(void *arg, size_t index, const msgpack_object *result,
                     const char *error)
{
    imap_t *m = arg;
    int64_t v;
    m->calls++;
    if (error)
        m->failed++;
    else if (index < 100 && result && troupe_as_int(result, &v) && v == 2 * (int64_t)index)
        m->seen[index]++;
    return m->stop_at && m->calls == m->stop_at;
}

/*  For values: the depth each index came back with. */
static int on_deep(void *arg, size_t index, const msgpack_object *result,
                   const char *error)
{
    imap_t *m = arg;
    m->calls++;
    if (error) {
        m->failed++;
        snprintf(m->error, sizeof m->error, "%s", error);
    }
    else if (index < 100)
        m->seen[index] = depth_of(result);
    return 0;
}

static void test_imap_unordered_hands_over_each_result_once(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2,
                                                 &TROUPE_POOL_OPTS(.chunksize = 3));
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *items[100];
    for (int i = 0; i < 100; i++)
        items[i] = troupe_value_int(i);
    imap_t m = { .calls = 0 };
    CHECK(troupe_pool_imap_unordered(pool, items, 100, on_result, &m) == 0);
    int once = 0;
    for (int i = 0; i < 100; i++)
        once += m.seen[i] == 1;
    CHECK(once == 99 && m.failed == 1 && m.calls == 100); /* 13 failed */
    /* stopping early */
    imap_t s = { .stop_at = 10 };
    CHECK(troupe_pool_imap_unordered(pool, items, 100, on_result, &s) == -1);
    CHECK(s.calls == 10 && strstr(troupe_error(), "stopped by the callback"));
    for (int i = 0; i < 100; i++)
        troupe_value_destroy(&items[i]);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  A value nested deeper than a batch carries (29 levels: msgpack-c's 32
    less the envelope's 3) fails its own item, on either side, where it is
    emitted: a result in the worker, an item in the caller. Both used to
    make a batch nobody could decode, and the pool failed as "malformed". */
static void test_a_value_nested_too_deep_fails_only_its_item(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&nest_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    const char *limit = "a value nested more than 29 deep (arrays and maps inside "
                        "one another) is more than a batch can carry";
    /* results: 29 deep comes back, 30 fails its item */
    troupe_value_t *items[3] = { troupe_value_int(29), troupe_value_int(30),
                                 troupe_value_int(2) };
    troupe_value_t *results[3];
    CHECK(troupe_pool_map(pool, items, 3, results) == -1);
    CHECK(strstr(troupe_error(), "item 1 failed: ") && strstr(troupe_error(), limit));
    troupe_value_destroy(&items[1]);
    items[1] = troupe_value_int(0);
    CHECK(troupe_pool_map(pool, items, 3, results) == 0);
    CHECK(results[0] && depth_of(troupe_value_get(results[0])) == 29);
    for (int i = 0; i < 3; i++) {
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    /* items: 29 deep goes through, 30 fails where the caller sends it */
    items[0] = nested(29, 5);
    items[1] = nested(30, 6);
    items[2] = nested(3, 7);
    CHECK(items[0] && items[1] && items[2]);
    imap_t m = { .calls = 0 };
    CHECK(troupe_pool_imap_unordered(pool, items, 3, on_deep, &m) == 0);
    CHECK(m.calls == 3 && m.failed == 1 && m.seen[0] == 29 && m.seen[2] == 3);
    CHECK(strstr(m.error, limit));
    /* a future of it fails alone, and the pool goes on */
    troupe_future_t *f = troupe_pool_submit(pool, items[1]);
    CHECK(f && troupe_future_wait(f, 60) == 0);
    CHECK(troupe_future_error(f) && strstr(troupe_future_error(f), limit));
    troupe_future_destroy(&f);
    int64_t in[2] = { 1, 2 }, out[2];
    CHECK(troupe_pool_map_int(pool, in, out, 2) == -1); /* a result is not an int */
    CHECK(strstr(troupe_error(), "the result is not an integer: [1]"));
    for (int i = 0; i < 3; i++)
        troupe_value_destroy(&items[i]);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/* ==== out of memory (run under tests/failmalloc.so: the pool-oom test) ======== */

typedef void arm_fn(const char *fn, size_t min, size_t max, unsigned nth,
                    int this_thread);

static arm_fn *failmalloc(void)
{
    arm_fn *arm = (arm_fn *)dlsym(RTLD_DEFAULT, "failmalloc_arm");
    if (!arm)
        printf("skip: needs tests/failmalloc.so in LD_PRELOAD (the pool-oom test)\n");
    return arm;
}

typedef struct {
    troupe_pool_t *pool;
    troupe_value_t **items;
    size_t n;
    imap_t *m;
    int rc;
    char error[256]; /* troupe_error () is the calling thread's */
} imap_call_t;

static void *imap_in_a_thread(void *arg)
{
    imap_call_t *c = arg;
    c->rc = troupe_pool_imap_unordered(c->pool, c->items, c->n, on_result, c->m);
    snprintf(c->error, sizeof c->error, "%s", troupe_error());
    return NULL;
}

/*  A result the pool's thread found no memory to keep (the calloc of its
    record, 4 pointers: comp_t in runtime/embed/pool.h) is counted done and
    never handed over: imap_unordered used to wait for it, spinning for
    ever. It returns -1 once the rest is handed over, saying so. */
static void test_out_of_memory_a_lost_result_ends_imap_unordered(void)
{
    arm_fn *arm = failmalloc();
    if (!arm)
        return;
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *items[10];
    for (int i = 0; i < 10; i++)
        items[i] = troupe_value_int(i);
    imap_t m = { .calls = 0 };
    imap_call_t call = { pool, items, 10, &m, 0, "" };
    pthread_t t;
    arm("calloc", 4 * sizeof(void *), 4 * sizeof(void *), 3, 0);
    pthread_create(&t, NULL, imap_in_a_thread, &call);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    if (pthread_timedjoin_np(t, NULL, &until) != 0) {
        fprintf(stderr, "FAIL %s:%d: imap_unordered still running after 60 s\n",
                __FILE__, __LINE__);
        _exit(1); /* it spins with the pool's lock taken and given back: no way out */
    }
    int right = 0;
    for (int i = 0; i < 10; i++)
        right += m.seen[i] == 1;
    CHECK(call.rc == -1 && m.calls == 9 && right == 9); /* each under its index */
    CHECK(strstr(call.error, "out of memory: 1 result was lost"));
    /* the pool goes on */
    imap_t again = { .calls = 0 };
    CHECK(troupe_pool_imap_unordered(pool, items, 10, on_result, &again) == 0);
    CHECK(again.calls == 10);
    for (int i = 0; i < 10; i++)
        troupe_value_destroy(&items[i]);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  A map's result the pool's thread cannot copy (the copy of a 64 KB
    string grows to 128 KB) fails its item: map used to return 0 with that
    result NULL. */
static void test_out_of_memory_a_result_not_kept_fails_its_item(void)
{
    arm_fn *arm = failmalloc();
    if (!arm)
        return;
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.chunksize = 1);
    troupe_pool_t *pool = troupe_pool_new_module(&big_module, 1, &o);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *items[3] = { troupe_value_int(65536), troupe_value_int(65536),
                                 troupe_value_int(3) };
    troupe_value_t *results[3];
    arm("realloc", 100000, 200000, 1, 0);
    CHECK(troupe_pool_map(pool, items, 3, results) == -1);
    CHECK(strstr(troupe_error(), ": out of memory: its result could not be kept"));
    CHECK(!results[0] && !results[1] && !results[2]);
    arm("any", 0, 0, 0, 0);
    CHECK(troupe_pool_map(pool, items, 3, results) == 0);
    size_t len = 0;
    CHECK(results[0] && troupe_value_as_strn(results[0], &len) && len == 65536);
    for (int i = 0; i < 3; i++) {
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

/*  An array of NULL futures is refused with a message, not a crash
    (troupe_future_wait_all read the first one's pool before its check). */
static void test_waiting_on_null_futures_is_an_error(void)
{
    troupe_future_t *none[2] = { NULL, NULL };
    CHECK(troupe_future_wait_all(none, 2, 0) == -1 && strstr(troupe_error(), "NULL"));
    CHECK(troupe_future_wait_any(none, 2, 0) == -1 && strstr(troupe_error(), "NULL"));
}

static void test_futures_complete_as_they_finish(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    /* a slow item times out, then finishes */
    troupe_value_t *slow = troupe_value_int(1600);
    troupe_future_t *f = troupe_pool_submit(pool, slow);
    double t0 = embed_now();
    CHECK(troupe_future_wait(f, 0.1) == -1 && errno == ETIMEDOUT);
    CHECK(embed_now() - t0 < 5 && !troupe_future_done(f));
    CHECK(troupe_future_wait(f, 30) == 0);
    int64_t v = 0;
    CHECK(troupe_future_result(f) && troupe_as_int(troupe_future_result(f), &v) && v == 3200);
    troupe_future_destroy(&f);
    troupe_value_destroy(&slow);

    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);

    /* as_completed: one slow item (0.6 s) and ten quick ones on two
       workers. Futures share batches as map items do; chunksize 1 sends
       each on its own. A quick one comes back first, long before the slow
       one; every one comes back once, with its own result. */
    pool = troupe_pool_new_module(&odd_module, 2, &TROUPE_POOL_OPTS(.chunksize = 1));
    CHECK(pool);
    if (!pool)
        return;
    troupe_future_t *fs[11], *pending[11];
    for (int i = 0; i < 11; i++) {
        troupe_value_t *x = troupe_value_int(i == 0 ? 1600 : i);
        fs[i] = pending[i] = troupe_pool_submit(pool, x);
        troupe_value_destroy(&x); /* the future holds its own copy */
    }
    t0 = embed_now();
    size_t left = 11;
    int64_t sum = 0;
    double first_at = 0, slow_at = 0;
    for (int k = 0; k < 11; k++) {
        int i = troupe_future_wait_any(pending, left, 30);
        CHECK(i >= 0);
        if (i < 0)
            break;
        int64_t r = 0;
        CHECK(troupe_as_int(troupe_future_result(pending[i]), &r));
        if (k == 0) {
            first_at = embed_now() - t0;
            CHECK(r != 3200);
        }
        if (r == 3200)
            slow_at = embed_now() - t0;
        sum += r;
        pending[i] = pending[--left];
    }
    CHECK(sum == 3200 + 2 * 55);
    CHECK(first_at < slow_at && slow_at > 0.5);
    CHECK(troupe_future_wait_all(fs, 11, 1) == 0);
    for (int i = 0; i < 11; i++)
        troupe_future_destroy(&fs[i]);
    CHECK(troupe_future_wait_any(pending, 0, 0) == -1);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

static void *kill_a_worker(void *arg)
{
    embed_sleep_ms(150);
    pid_t pids[8];
    int k = workers(pids, 8);
    if (k > 0 && kill(pids[0], SIGKILL) == 0)
        *(int *)arg = 1;
    return NULL;
}

static void test_a_killed_worker_loses_nothing(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", "20", NULL },
                                            .name = pool_name);
    troupe_pool_t *pool = troupe_pool_new("spin", 2, &o);
    CHECK(pool);
    if (!pool)
        return;
    size_t n = 40000; /* 20 us each: 0.4 s on two workers */
    int64_t *xs = malloc(n * sizeof *xs), *ys = malloc(n * sizeof *ys);
    for (size_t i = 0; i < n; i++) {
        xs[i] = (int64_t)i;
        ys[i] = -1;
    }
    /* a thread kills a worker while the map runs */
    pthread_t killer;
    int killed = 0;
    pthread_create(&killer, NULL, kill_a_worker, &killed);
    CHECK(troupe_pool_map_int(pool, xs, ys, n) == 0);
    pthread_join(killer, NULL);
    CHECK(killed == 1);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += ys[i] != xs[i];
    CHECK(wrong == 0);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    free(xs);
    free(ys);
    CHECK(children() == 0);
}

static void test_a_pool_that_gives_up_fails_its_futures(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.max_restarts = 2, .restart_period = 30);
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 1, &o);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *bomb = troupe_value_int(-9), *fine = troupe_value_int(1);
    troupe_future_t *f = troupe_pool_submit(pool, bomb);
    double t0 = embed_now();
    CHECK(troupe_future_wait(f, 30) == 0);
    CHECK(embed_now() - t0 < 20);
    const char *e = troupe_future_error(f);
    CHECK(e && strstr(e, "max_restarts") && strstr(e, "signal 9"));
    /* after that: refused at once, with the reason */
    CHECK(troupe_pool_submit(pool, fine) == NULL);
    CHECK(strstr(troupe_error(), "max_restarts") != NULL);
    int64_t x = 1, y;
    CHECK(troupe_pool_map_int(pool, &x, &y, 1) == -1);
    CHECK(troupe_pool_close(pool) == -1 && strstr(troupe_error(), "max_restarts"));
    troupe_pool_destroy(&pool);
    /* the future outlives its pool */
    CHECK(troupe_future_done(f) && troupe_future_error(f));
    troupe_future_destroy(&f);
    troupe_value_destroy(&bomb);
    troupe_value_destroy(&fine);
    CHECK(children() == 0);
}

static void test_destroy_terminates_pending_work(void)
{
    troupe_pool_t *pool = troupe_pool_new_module(&odd_module, 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    troupe_value_t *slow = troupe_value_int(1900);
    troupe_future_t *f = troupe_pool_submit(pool, slow);
    embed_sleep_ms(50);
    double t0 = embed_now();
    troupe_pool_destroy(&pool);
    CHECK(embed_now() - t0 < 1.5); /* killed, not waited for */
    CHECK(troupe_future_done(f));
    CHECK(troupe_future_error(f) && strstr(troupe_future_error(f), "destroyed"));
    troupe_future_destroy(&f);
    troupe_value_destroy(&slow);
    CHECK(children() == 0);
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

typedef struct {
    troupe_pool_t *pool;
    int64_t base;
    int ok;
} mapper_t;

static void *map_in_a_thread(void *arg)
{
    mapper_t *m = arg;
    int64_t in[1000], out[1000];
    m->ok = 1;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++)
            in[i] = m->base + round * 1000 + i;
        if (troupe_pool_map_int(m->pool, in, out, 1000) != 0)
            m->ok = 0;
        for (int i = 0; i < 1000; i++)
            if (out[i] != in[i] * in[i])
                m->ok = 0;
    }
    return NULL;
}

static void test_threads_share_a_pool_beside_the_callers_zmq(void)
{
    /* the program's own zmq context and sockets, busy while pools run */
    void *zctx = zmq_ctx_new();
    void *a = zmq_socket(zctx, ZMQ_PAIR), *b = zmq_socket(zctx, ZMQ_PAIR);
    CHECK(zmq_bind(a, "inproc://mine") == 0 && zmq_connect(b, "inproc://mine") == 0);
    troupe_pool_t *pool = troupe_pool_new("square", 2, NULL);
    CHECK(pool);
    if (!pool)
        return;
    mapper_t m[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        m[i] = (mapper_t){ .pool = pool, .base = i * 1000000 };
        pthread_create(&t[i], NULL, map_in_a_thread, &m[i]);
    }
    int pings = 0;
    for (int i = 0; i < 100; i++) {
        char buf[8];
        if (zmq_send(a, "ping", 4, 0) == 4 && zmq_recv(b, buf, sizeof buf, 0) == 4)
            pings++;
    }
    CHECK(pings == 100);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK(m[i].ok == 1);
    }
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
    zmq_close(a);
    zmq_close(b);
    CHECK(zmq_ctx_term(zctx) == 0);
    CHECK(children() == 0);
}

static void test_bad_modules_are_refused_with_a_reason(void)
{
    CHECK(troupe_pool_new("no-such-module", 2, NULL) == NULL);
    CHECK(strstr(troupe_error(), "no-such-module") != NULL);
    CHECK(troupe_pool_new(NULL, 2, NULL) == NULL);
    /* a module that refuses its arguments: the worker's reason, every
       time (not "the pool's supervisor exited with status 2") */
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", "lots", NULL });
    for (int i = 0; i < 10; i++) {
        CHECK(troupe_pool_new("spin", 1, &o) == NULL);
        CHECK(strstr(troupe_error(), "argument 'us': 'lots' is not an integer"));
    }
    /* a descriptor on the heap cannot be found by a worker */
    troupe_module_t *heap = malloc(sizeof *heap);
    memcpy(heap, &odd_module, sizeof *heap);
    CHECK(troupe_pool_new_module(heap, 1, NULL) == NULL);
    CHECK(strstr(troupe_error(), "not a static object") != NULL);
    free(heap);
    CHECK(children() == 0);
}

/*  A caller that connects to its pool's supervisor only after the run has
    failed (tests/slowconnect.so holds back its connect; the pool-reason
    test) still gets the reason: the supervisor, whose first ABORT went
    nowhere, sends it again on the caller's HELLO, and stays until the
    caller ends it. It used to exit at once, and the caller saw only "the
    pool's supervisor exited with status 2". */
static void test_the_reason_reaches_a_caller_that_connects_late(void)
{
    void (*arm)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "slowconnect_arm");
    if (!arm) {
        printf("skip: needs tests/slowconnect.so in LD_PRELOAD (the pool-reason test)\n");
        return;
    }
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", "lots", NULL });
    arm(1000);
    troupe_pool_t *pool = troupe_pool_new("spin", 1, &o);
    arm(0);
    CHECK(pool == NULL);
    CHECK(strstr(troupe_error(), "argument 'us': 'lots' is not an integer"));
    troupe_pool_destroy(&pool);
    CHECK(children() == 0);
}

/*  troupe_pool_opts_t can grow: the library reads what the caller's size
    covers. Options from a newer troupe.h (a field this library does not
    know) work, their extra field ignored; options whose size is 0 (not
    started from TROUPE_POOL_OPTS_INIT) or shorter than any troupe.h's are
    refused with EINVAL and a reason; NULL is every default. */
static void test_options_are_read_as_far_as_their_size(void)
{
    int64_t in[3] = { 1, 2, 3 }, out[3] = { 0 };
    struct {
        troupe_pool_opts_t known;
        double later_field; /* what a newer troupe.h might add */
    } newer = { .known = TROUPE_POOL_OPTS_INIT, .later_field = 1e9 };
    newer.known.size = sizeof newer;
    newer.known.chunksize = 1;
    troupe_pool_t *pool = troupe_pool_new("square", 1, &newer.known);
    CHECK(pool);
    CHECK(pool && troupe_pool_map_int(pool, in, out, 3) == 0);
    CHECK(out[0] == 1 && out[1] == 4 && out[2] == 9);
    CHECK(pool && troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);

    troupe_pool_opts_t unsized = { .chunksize = 1 };
    errno = 0;
    CHECK(troupe_pool_new("square", 1, &unsized) == NULL);
    CHECK(errno == EINVAL);
    CHECK(strstr(troupe_error(), "TROUPE_POOL_OPTS_INIT") != NULL);
    troupe_pool_opts_t short_one = TROUPE_POOL_OPTS_INIT;
    short_one.size = sizeof(size_t) + sizeof(unsigned);
    errno = 0;
    CHECK(troupe_pool_new("square", 1, &short_one) == NULL);
    CHECK(errno == EINVAL);

    pool = troupe_pool_new("square", 1, NULL);
    CHECK(pool && troupe_pool_map_int(pool, in, out, 3) == 0);
    CHECK(out[2] == 9);
    troupe_pool_destroy(&pool);
    CHECK(children() == 0);
}

static int count_result(void *arg, size_t index, const msgpack_object *result,
                        const char *error)
{
    (void)index;
    (void)result;
    *(int *)arg += error == NULL;
    return 0;
}

/*  Every pool and future call that succeeds leaves troupe_error () "",
    even right after a call that failed (troupe_value_cstr (NULL) here). */

static void test_a_success_clears_the_last_error(void)
{
    troupe_pool_t *pool = NULL;
    AFTER_A_FAILURE((pool = troupe_pool_new("square", 2, NULL)) != NULL);
    if (!pool)
        return;
    int64_t in[3] = { 1, 2, 3 }, out[3];
    double din[2] = { 0.5, 2 }, dout[2];
    AFTER_A_FAILURE(troupe_pool_map_int(pool, in, out, 3) == 0);
    AFTER_A_FAILURE(troupe_pool_map_double(pool, din, dout, 2) == 0);
    troupe_value_t *items[2] = { troupe_value_int(4), troupe_value_int(5) };
    troupe_value_t *results[2] = { NULL, NULL };
    AFTER_A_FAILURE(troupe_pool_map(pool, items, 2, results) == 0);
    int got = 0;
    AFTER_A_FAILURE(troupe_pool_imap_unordered(pool, items, 2, count_result, &got) == 0);
    CHECK(got == 2);
    troupe_future_t *fs[2] = { NULL, NULL };
    AFTER_A_FAILURE((fs[0] = troupe_pool_submit(pool, items[0])) != NULL);
    AFTER_A_FAILURE((fs[1] = troupe_pool_submit(pool, items[1])) != NULL);
    AFTER_A_FAILURE(troupe_future_wait(fs[0], 60) == 0);
    AFTER_A_FAILURE(troupe_future_wait_any(fs, 2, 60) >= 0);
    AFTER_A_FAILURE(troupe_future_wait_all(fs, 2, 60) == 0);
    AFTER_A_FAILURE(troupe_pool_close(pool) == 0);
    for (int i = 0; i < 2; i++) {
        troupe_future_destroy(&fs[i]);
        troupe_value_destroy(&items[i]);
        troupe_value_destroy(&results[i]);
    }
    troupe_pool_destroy(&pool);
    AFTER_A_FAILURE((pool = troupe_pool_new_module(&odd_module, 1, NULL)) != NULL);
    troupe_pool_destroy(&pool);
    CHECK(children() == 0);
}

/*  For tests/embed_interrupt.sh: a pool busy mapping, until a signal. */
static int serve_until_killed(void)
{
    troupe_pool_opts_t o = TROUPE_POOL_OPTS(.args = (const char *const[]){ "us", "1000", NULL },
                                            .name = "interrupted");
    troupe_pool_t *pool = troupe_pool_new("spin", 2, &o);
    if (!pool) {
        fprintf(stderr, "%s\n", troupe_error());
        return 1;
    }
    size_t n = 1000000;
    int64_t *xs = calloc(n, sizeof *xs), *ys = calloc(n, sizeof *ys);
    printf("mapping\n");
    fflush(stdout);
    troupe_pool_map_int(pool, xs, ys, n); /* 500 s: ended by a signal */
    troupe_pool_destroy(&pool);
    free(xs);
    free(ys);
    return 1;
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    snprintf(pool_name, sizeof pool_name, "test-pool-%d", (int)getpid());
    if (argc > 1 && !strcmp(argv[1], "--serve-until-killed"))
        return serve_until_killed();
    const embed_test_t tests[] = {
#define T(f) { #f, f }
        T(test_map_int_in_input_order),
        T(test_chunking_changes_nothing_but_batches),
        T(test_values_through_a_module_of_this_program),
        T(test_failed_items_are_reported_where_they_belong),
        T(test_imap_unordered_hands_over_each_result_once),
        T(test_a_value_nested_too_deep_fails_only_its_item),
        T(test_waiting_on_null_futures_is_an_error),
        T(test_futures_complete_as_they_finish),
        T(test_a_killed_worker_loses_nothing),
        T(test_a_pool_that_gives_up_fails_its_futures),
        T(test_destroy_terminates_pending_work),
        T(test_bad_modules_are_refused_with_a_reason),
        T(test_the_reason_reaches_a_caller_that_connects_late),
        T(test_options_are_read_as_far_as_their_size),
        T(test_a_success_clears_the_last_error),
        T(test_a_module_with_deprecated_names_still_runs),
        T(test_threads_share_a_pool_beside_the_callers_zmq),
        T(test_out_of_memory_a_lost_result_ends_imap_unordered),
        T(test_out_of_memory_a_result_not_kept_fails_its_item),
    };
    embed_run(tests, sizeof tests / sizeof *tests, argc > 1 ? argv[1] : NULL, &failures);
    return failures ? 1 : 0;
}

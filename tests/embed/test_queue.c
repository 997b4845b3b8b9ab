/*  test_queue: troupe_queue behaves as Python's multiprocessing.Queue:
    FIFO order, a bounded queue that blocks puts until a get makes room, a
    put that times out leaves nothing behind, a get that times out on an
    empty queue, threads sharing a handle, real processes putting at once
    (each value arrives exactly once), a closed queue said so, and a broker
    that drops malformed frames without answering them.

    The processes are this program started again (/proc/self/exe) with
    `put ADDRESS N K` or `open ADDRESS`. */
#include "../unit/check.h"
#include "embed/queue.h"
#include "embed/queue_broker.h"
#include "embed/queue_wire.h"
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  The next value as an integer; INT64_MIN when there is none. */
static int64_t get_int(troupe_queue_t *q, double timeout)
{
    troupe_value_t *v = troupe_queue_get(q, timeout);
    int64_t i = INT64_MIN;
    if (v && !troupe_value_as_int(v, &i))
        i = INT64_MIN;
    troupe_value_destroy(&v);
    return i;
}

static void test_fifo(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    CHECK(q != NULL);
    if (!q)
        return;
    /* ipc://DIR/queue, DIR private to this user, under $XDG_RUNTIME_DIR
       when that is usable, else /dev/shm (a roomy one) or /tmp */
    const char *address = troupe_queue_address(q);
    CHECK(strncmp(address, "ipc://", 6) == 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", address + 6);
    char *slash = strrchr(dir, '/');
    CHECK(slash && strcmp(slash, "/queue") == 0);
    if (slash)
        *slash = '\0';
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *base = xdg && xdg[0] == '/' && access(xdg, W_OK) == 0 ? xdg
                       : strncmp(dir, "/dev/shm/", 9) == 0 ? "/dev/shm"
                                                            : "/tmp";
    CHECK(strncmp(dir, base, strlen(base)) == 0 && dir[strlen(base)] == '/');
    CHECK(!strchr(dir + strlen(base) + 1, '/'));
    for (int64_t i = 0; i < 100; i++)
        CHECK(troupe_queue_put_int(q, i * 7 - 50) == 0);
    /* values of other kinds keep their place and their bytes */
    troupe_value_t *s = troupe_value_cstr("after the ints");
    const char *names[] = { "x", "y" };
    troupe_value_t *a = troupe_value_cstrs(names, 2);
    CHECK(troupe_queue_put(q, s, 1) == 0);
    CHECK(troupe_queue_put(q, a, 1) == 0);
    for (int64_t i = 0; i < 100; i++)
        CHECK(get_int(q, 1) == i * 7 - 50);
    char buf[64];
    troupe_value_t *v = troupe_queue_get(q, 1);
    troupe_value_format(v, buf, sizeof buf);
    CHECK_STR(buf, "after the ints");
    troupe_value_destroy(&v);
    v = troupe_queue_get(q, 1);
    size_t n1, n2;
    const void *d1 = troupe_value_data(v, &n1), *d2 = troupe_value_data(a, &n2);
    CHECK(v && n1 == n2 && memcmp(d1, d2, n1) == 0);
    troupe_value_destroy(&v);
    troupe_value_destroy(&s);
    troupe_value_destroy(&a);

    /* empty now */
    errno = 0;
    CHECK(troupe_queue_get(q, 0) == NULL && errno == ETIMEDOUT);
    troupe_queue_destroy(&q);
    CHECK(q == NULL);
    troupe_queue_destroy(&q); /* harmless twice */
    troupe_queue_destroy(NULL);
}

static void test_get_timeout(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    double t0 = now_s();
    errno = 0;
    CHECK(troupe_queue_get(q, 0.2) == NULL);
    double took = now_s() - t0;
    CHECK(errno == ETIMEDOUT);
    CHECK_STR(troupe_error(), "get timed out after 200 ms: the queue stayed empty");
    CHECK(took >= 0.19 && took < 1.5);
    /* 0: no wait at all */
    t0 = now_s();
    CHECK(troupe_queue_get(q, 0) == NULL && errno == ETIMEDOUT);
    CHECK(now_s() - t0 < 0.1);
    errno = 0;
    CHECK(troupe_queue_get(q, 0.0 / 0.0) == NULL && errno == EINVAL);
    troupe_queue_destroy(&q);
}

static void test_full_put_times_out(void)
{
    troupe_queue_t *q = troupe_queue_new(2);
    troupe_value_t *one = troupe_value_int(1), *two = troupe_value_int(2),
                   *three = troupe_value_int(3);
    CHECK(troupe_queue_put(q, one, 0) == 0);
    CHECK(troupe_queue_put(q, two, 0) == 0);
    double t0 = now_s();
    errno = 0;
    CHECK(troupe_queue_put(q, three, 0.2) == -1);
    double took = now_s() - t0;
    CHECK(errno == ETIMEDOUT);
    CHECK_STR(troupe_error(), "put timed out after 200 ms: the queue stayed full");
    CHECK(took >= 0.19 && took < 1.5);
    CHECK(troupe_queue_put(q, three, 0) == -1 && errno == ETIMEDOUT);
    /* the timed-out puts left nothing behind */
    CHECK(get_int(q, 1) == 1);
    CHECK(get_int(q, 1) == 2);
    errno = 0;
    CHECK(get_int(q, 0.1) == INT64_MIN && errno == ETIMEDOUT);
    troupe_value_destroy(&one);
    troupe_value_destroy(&two);
    troupe_value_destroy(&three);
    troupe_queue_destroy(&q);
}

typedef struct {
    troupe_queue_t *q;
    int64_t value; /* put this, or what get returned */
    int rc;
    int done; /* atomic */
} job_t;

static void *put_forever(void *arg)
{
    job_t *j = arg;
    troupe_value_t *v = troupe_value_int(j->value);
    j->rc = troupe_queue_put(j->q, v, -1);
    troupe_value_destroy(&v);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *get_forever(void *arg)
{
    job_t *j = arg;
    troupe_value_t *v = troupe_queue_get(j->q, -1);
    j->rc = v ? 0 : -1;
    j->value = INT64_MIN;
    if (v)
        troupe_value_as_int(v, &j->value);
    troupe_value_destroy(&v);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/*  A put on a full queue waits until a get makes room; the putting thread
    shares the getter's handle, which must not keep either waiting. */
static void test_full_put_waits_for_room(void)
{
    troupe_queue_t *q = troupe_queue_new(1);
    CHECK(troupe_queue_put_int(q, 1) == 0);
    job_t j = { .q = q, .value = 2 };
    pthread_t t;
    pthread_create(&t, NULL, put_forever, &j);
    embed_sleep_ms(300);
    CHECK(__atomic_load_n(&j.done, __ATOMIC_SEQ_CST) == 0); /* still blocked */
    CHECK(get_int(q, 1) == 1);
    pthread_join(t, NULL);
    CHECK(j.rc == 0);
    CHECK(get_int(q, 1) == 2);
    CHECK(get_int(q, 0) == INT64_MIN);
    troupe_queue_destroy(&q);
}

/*  Getters that wait are served in the order they came. */
static void test_getters_in_order(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    job_t j[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (job_t){ .q = q };
        pthread_create(&t[i], NULL, get_forever, &j[i]);
        embed_sleep_ms(100); /* so that they reach the broker in this order */
    }
    for (int i = 0; i < 3; i++)
        CHECK(__atomic_load_n(&j[i].done, __ATOMIC_SEQ_CST) == 0);
    for (int64_t v = 10; v < 13; v++)
        CHECK(troupe_queue_put_int(q, v) == 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK(j[i].rc == 0 && j[i].value == 10 + i);
    }
    troupe_queue_destroy(&q);
}

/*  Frames that are not requests are dropped and counted, never answered,
    and the queue goes on; a request by hand gets its answer. */
static void test_malformed_frames(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    CHECK(zmq_connect(s, troupe_queue_address(q)) == 0);
    struct {
        const char *data;
        size_t size;
    } bad[] = {
        { "\xc1", 1 },                        /* not msgpack */
        { "", 0 },                            /* nothing */
        { "\xdd\xff\xff\xff\xff", 5 },        /* a huge declared array */
        { "\x92\x01", 2 },                    /* truncated */
        { "\x91\x01", 2 },                    /* [1]: no id */
        { "\x92\x09\x01", 3 },                /* [9, 1]: no such kind */
        { "\x93\x02\x01\xa1x", 5 },           /* get with a string timeout */
        { "\x94\x01\x01\xff\xa1x", 6 },       /* put of a str, not a bin */
        { "\x94\x01\x01\xff\xc4\x01\xc1", 7 }, /* put: bin not msgpack */
        { "\x94\x01\x01\xff\xc4\x02\x01\x02", 8 }, /* put: bin holds two values */
        { "\x94\x01\x01\xff\xc4\x00", 6 },    /* put: empty bin */
        { "\x92\x04\x01\xc0", 4 },            /* a ping with a trailing byte */
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < nbad; i++)
        CHECK(zmq_send(s, bad[i].data, bad[i].size, 0) == (int)bad[i].size);
    /* a message of three frames is dropped whole, once */
    zmq_send(s, "\x92\x04\x01", 3, ZMQ_SNDMORE);
    zmq_send(s, "\x92\x04\x02", 3, ZMQ_SNDMORE);
    zmq_send(s, "\x92\x04\x03", 3, 0);
    for (int i = 0; i < 100 && queue_dropped(q) < nbad + 1; i++)
        embed_sleep_ms(20);
    CHECK(queue_dropped(q) == nbad + 1);
    /* none was answered */
    zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
    CHECK(zmq_poll(&it, 1, 100) == 0);
    /* a ping by hand: [4, 77] comes back as it went */
    CHECK(zmq_send(s, "\x92\x04\x4d", 3, 0) == 3);
    char reply[16];
    CHECK(zmq_poll(&it, 1, 2000) == 1);
    CHECK(zmq_recv(s, reply, sizeof reply, 0) == 3 && memcmp(reply, "\x92\x04\x4d", 3) == 0);
    CHECK(queue_dropped(q) == nbad + 1);
    /* and the queue still works */
    CHECK(troupe_queue_put_int(q, 5) == 0);
    CHECK(get_int(q, 1) == 5);
    zmq_close(s);
    zmq_ctx_term(ctx);
    troupe_queue_destroy(&q);
}

/*  A process waiting on a queue whose host ends it hears so at once; later
    calls find nobody there. */
static void test_closed(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    troupe_queue_t *o = troupe_queue_open(troupe_queue_address(q));
    CHECK(o != NULL);
    if (!o) {
        troupe_queue_destroy(&q);
        return;
    }
    char address[256];
    snprintf(address, sizeof address, "%s", troupe_queue_address(q));
    CHECK_STR(troupe_queue_address(o), address);
    /* a value put through one handle comes out of the other */
    CHECK(troupe_queue_put_int(o, 99) == 0);
    CHECK(get_int(q, 1) == 99);

    job_t j = { .q = o };
    pthread_t t;
    pthread_create(&t, NULL, get_forever, &j);
    embed_sleep_ms(200);
    double t0 = now_s();
    troupe_queue_destroy(&q);
    pthread_join(t, NULL);
    CHECK(now_s() - t0 < 1.0);
    CHECK(j.rc == -1);
    /* the thread's own error is gone with it: ask again, from here */
    t0 = now_s();
    errno = 0;
    CHECK(troupe_queue_put_int(o, 1) == -1);
    CHECK(errno == ENOTCONN);
    char want[300];
    snprintf(want, sizeof want, "queue at %s does not answer", address);
    CHECK_STR(troupe_error(), want);
    CHECK(now_s() - t0 >= 2.5);
    troupe_queue_destroy(&o);
    /* the host removed its socket and directory */
    CHECK(access(address + 6, F_OK) != 0);
    char *dir = strdup(address + 6);
    *strrchr(dir, '/') = '\0';
    CHECK(access(dir, F_OK) != 0);
    free(dir);
}

/*  The closed notice itself, seen by the waiting thread. */
static void *get_and_keep_error(void *arg)
{
    job_t *j = arg;
    troupe_value_t *v = troupe_queue_get(j->q, -1);
    j->rc = v ? 0 : -1;
    j->value = errno;
    troupe_value_destroy(&v);
    char want[300];
    snprintf(want, sizeof want, "queue at %s was closed", troupe_queue_address(j->q));
    CHECK_STR(troupe_error(), want);
    return NULL;
}

static void test_closed_notice(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    troupe_queue_t *o = troupe_queue_open(troupe_queue_address(q));
    job_t j = { .q = o };
    pthread_t t;
    pthread_create(&t, NULL, get_and_keep_error, &j);
    embed_sleep_ms(200);
    troupe_queue_destroy(&q);
    pthread_join(t, NULL);
    CHECK(j.rc == -1 && j.value == EPIPE);
    troupe_queue_destroy(&o);
}

/* ---- processes -------------------------------------------------------------- */

/*  Starts this program again with args (NULL-terminated, after argv[0]);
    its stdout goes to *out_fd when out_fd is not NULL. */
static pid_t spawn_self(const char *const *args, int *out_fd)
{
    const char *argv[8] = { "test_queue" };
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    /* resolved before the fork: under valgrind, /proc/self/exe itself is
       valgrind, but readlink of it tells the program's path */
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    int fds[2] = { -1, -1 };
    if (out_fd && pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (out_fd) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        }
        execv(self, (char *const *)argv);
        _exit(127);
    }
    if (out_fd) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

static int reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

enum { CHILDREN = 4, PER_CHILD = 1000 };

static void test_processes(void)
{
    /* bounded, so that the children also block on a full queue */
    troupe_queue_t *q = troupe_queue_new(64);
    pid_t pids[CHILDREN];
    char n[16], k[CHILDREN][16];
    snprintf(n, sizeof n, "%d", PER_CHILD);
    for (int i = 0; i < CHILDREN; i++) {
        snprintf(k[i], sizeof k[i], "%d", i);
        const char *args[] = { "put", troupe_queue_address(q), n, k[i], NULL };
        pids[i] = spawn_self(args, NULL);
        CHECK(pids[i] > 0);
    }
    static int seen[CHILDREN * PER_CHILD];
    int got = 0, outside = 0, twice = 0;
    for (int i = 0; i < CHILDREN * PER_CHILD; i++) {
        int64_t v = get_int(q, 30);
        if (v == INT64_MIN) {
            fprintf(stderr, "get %d: %s\n", i, troupe_error());
            break;
        }
        if (v < 0 || v >= CHILDREN * PER_CHILD)
            outside++;
        else if (seen[v]++)
            twice++;
        got++;
    }
    CHECK(got == CHILDREN * PER_CHILD);
    CHECK(outside == 0 && twice == 0);
    int missing = 0;
    for (int i = 0; i < CHILDREN * PER_CHILD; i++)
        missing += seen[i] != 1;
    CHECK(missing == 0);
    CHECK(get_int(q, 0.2) == INT64_MIN && errno == ETIMEDOUT); /* no extra */
    for (int i = 0; i < CHILDREN; i++)
        if (pids[i] > 0)
            CHECK(reap(pids[i]) == 0);
    troupe_queue_destroy(&q);
}

/*  A child's open of an address where there is no queue fails, and says
    why in words. */
static void test_bad_address(void)
{
    const char *address = "ipc:///nonexistent-troupe-test/queue";
    const char *args[] = { "open", address, NULL };
    int fd = -1;
    pid_t pid = spawn_self(args, &fd);
    CHECK(pid > 0);
    char out[512] = "";
    size_t len = 0;
    ssize_t r;
    while (fd >= 0 && len < sizeof out - 1 && (r = read(fd, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    if (fd >= 0)
        close(fd);
    CHECK(reap(pid) == 0);
    CHECK_STR(out, "no queue at ipc:///nonexistent-troupe-test/queue: "
                   "No such file or directory\n");

    /* here too: a file that is no socket, and no endpoint at all */
    char path[] = "/tmp/troupe-test-XXXXXX";
    int tmp = mkstemp(path);
    close(tmp);
    char bad[64];
    snprintf(bad, sizeof bad, "ipc://%s", path);
    errno = 0;
    CHECK(troupe_queue_open(bad) == NULL && errno == ENOTSOCK);
    char want[128];
    snprintf(want, sizeof want, "no queue at %s: not a socket", bad);
    CHECK_STR(troupe_error(), want);
    unlink(path);
    CHECK(troupe_queue_open("no-such-transport") == NULL);
    CHECK_STR(troupe_error(), "queue address no-such-transport: Invalid argument");
    CHECK(troupe_queue_open(NULL) == NULL && errno == EINVAL);
}

/*  Child: put n values k*n .. k*n + n-1, then exit 0. */
static int child_put(const char *address, int n, int k)
{
    troupe_queue_t *q = troupe_queue_open(address);
    if (!q) {
        fprintf(stderr, "child %d: %s\n", k, troupe_error());
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (troupe_queue_put_int(q, (int64_t)k * n + i) < 0) {
            fprintf(stderr, "child %d: put %d: %s\n", k, i, troupe_error());
            troupe_queue_destroy(&q);
            return 1;
        }
    troupe_queue_destroy(&q);
    return 0;
}

/*  Child: open must fail; print why. */
static int child_open(const char *address)
{
    troupe_queue_t *q = troupe_queue_open(address);
    if (q) {
        troupe_queue_destroy(&q);
        return 1;
    }
    printf("%s\n", troupe_error());
    return 0;
}

/*  Every queue call that succeeds leaves troupe_error () "", even right
    after a call that failed (troupe_value_cstr (NULL) here). */

static void test_a_success_clears_the_last_error(void)
{
    troupe_queue_t *q = NULL, *other = NULL;
    AFTER_A_FAILURE((q = troupe_queue_new(0)) != NULL);
    if (!q)
        return;
    AFTER_A_FAILURE((other = troupe_queue_open(troupe_queue_address(q))) != NULL);
    troupe_value_t *v = troupe_value_int(5), *got = NULL;
    AFTER_A_FAILURE(troupe_queue_put(other, v, 5) == 0);
    AFTER_A_FAILURE(troupe_queue_put_int(q, 6) == 0);
    AFTER_A_FAILURE((got = troupe_queue_get(other, 5)) != NULL);
    troupe_value_destroy(&got);
    AFTER_A_FAILURE((got = troupe_queue_get(q, 5)) != NULL);
    troupe_value_destroy(&got);
    troupe_value_destroy(&v);
    troupe_queue_destroy(&other);
    troupe_queue_destroy(&q);
}

/*  CPython's test_qsize and test_empty/full: exact counts as values come
    and go, full only when bounded and at its bound. */
static void test_qsize_empty_full(void)
{
    troupe_queue_t *q = troupe_queue_new(2), *u = troupe_queue_new(0);
    CHECK(troupe_queue_qsize(q) == 0 && troupe_queue_empty(q) == 1 && troupe_queue_full(q) == 0);
    CHECK(troupe_queue_put_int(q, 1) == 0);
    CHECK(troupe_queue_qsize(q) == 1 && troupe_queue_empty(q) == 0 && troupe_queue_full(q) == 0);
    CHECK(troupe_queue_put_int(q, 2) == 0);
    CHECK(troupe_queue_qsize(q) == 2 && troupe_queue_full(q) == 1);
    CHECK(get_int(q, 1) == 1 && troupe_queue_qsize(q) == 1 && troupe_queue_full(q) == 0);
    for (int i = 0; i < 100; i++)
        CHECK(troupe_queue_put_int(u, i) == 0);
    CHECK(troupe_queue_qsize(u) == 100 && troupe_queue_full(u) == 0);
    CHECK(troupe_queue_qsize(NULL) == -1 && troupe_queue_empty(NULL) == -1);
    troupe_queue_destroy(&q);
    troupe_queue_destroy(&u);
}

/*  Values about to be marked done, counted before each task_done is sent:
    once join has returned, all of them must have been. */
static int about_done;

/*  A worker thread: gets n values, task_done for each, a moment later. */
static void *get_and_mark_done(void *arg)
{
    job_t *j = arg;
    int bad = 0;
    for (int64_t i = 0; i < j->value; i++) {
        bad += get_int(j->q, 10) == INT64_MIN;
        embed_sleep_ms(2);
        __atomic_add_fetch(&about_done, 1, __ATOMIC_SEQ_CST);
        bad += troupe_queue_task_done(j->q) != 0;
    }
    j->rc = bad;
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/*  CPython's test_task_done (JoinableQueue): join returns once every value
    put has been marked done, not merely taken; one task_done too many is
    refused (Python's ValueError); a join with values undone times out. */
static void test_join_waits_for_task_done(void)
{
    troupe_queue_t *q = troupe_queue_new(0);
    CHECK(troupe_queue_join(q, 0) == 0); /* nothing put: at once */
    for (int i = 0; i < 40; i++)
        CHECK(troupe_queue_put_int(q, i) == 0);
    CHECK(troupe_queue_join(q, 0.05) == -1 && errno == ETIMEDOUT);
    job_t js[4];
    pthread_t ts[4];
    for (int i = 0; i < 4; i++) {
        js[i] = (job_t){ .q = q, .value = 10 };
        pthread_create(&ts[i], NULL, get_and_mark_done, &js[i]);
    }
    CHECK(troupe_queue_join(q, 60) == 0);
    /* not when the queue ran empty: when the last value was marked done */
    CHECK(__atomic_load_n(&about_done, __ATOMIC_SEQ_CST) == 40);
    for (int i = 0; i < 4; i++) {
        pthread_join(ts[i], NULL);
        CHECK(js[i].rc == 0);
    }
    CHECK(troupe_queue_qsize(q) == 0);
    CHECK(troupe_queue_task_done(q) == -1 && errno == EINVAL);
    CHECK(strstr(troupe_error(), "more times") != NULL);
    AFTER_A_FAILURE(troupe_queue_join(q, 0) == 0);
    troupe_queue_destroy(&q);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "put") == 0)
        return child_put(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 3 && strcmp(argv[1], "open") == 0)
        return child_open(argv[2]);
    test_fifo();
    test_get_timeout();
    test_full_put_times_out();
    test_full_put_waits_for_room();
    test_getters_in_order();
    test_malformed_frames();
    test_closed_notice();
    test_closed();
    test_processes();
    test_bad_address();
    test_a_success_clears_the_last_error();
    test_qsize_empty_full();
    test_join_waits_for_task_done();
    CHECK_DONE();
}

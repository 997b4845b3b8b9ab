/*  zmq_chain: the raw libzmq peers troupe is measured against.

    zmq_chain chain N      source -> worker -> sink over ipc PUSH/PULL, one
                           msgpack message per item (the worker decodes,
                           squares, encodes again); prints seconds and the
                           sum of the squares.
    zmq_chain latency N    N REQ/REP round trips over ipc; prints the
                           median and 99th percentile in microseconds.
    zmq_chain bare         a process that opens one libzmq socket; prints
                           its peak RSS in kB.

    Each process of the chain is forked before any zmq context exists.
    The sink tells the source it has everything before the source exits,
    so that no tail is lost (see shared/DESIGN.md's ipc trap). If any
    process of the chain dies early, the others are killed and the run
    fails: a broken peer must not hang the bench.
*/
#include <msgpack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static char dir[64];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void endpoint(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "ipc://%s/%s", dir, name);
}

static void *sock(void *ctx, int type, const char *name, int bind)
{
    char ep[128];
    endpoint(ep, sizeof ep, name);
    void *s = zmq_socket(ctx, type);
    /* A connect that races ahead of its peer's bind retries after the
       reconnect interval (100 ms by default): keep that from being part
       of the peer's figure. */
    int hwm = 100000, ivl = 1;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
        fprintf(stderr, "zmq_chain: %s %s: %s\n", bind ? "bind" : "connect", ep,
                zmq_strerror(zmq_errno()));
        exit(1);
    }
    return s;
}

static int64_t decode(const char *buf, int n, msgpack_zone *zone)
{
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(zone);
    if (msgpack_unpack(buf, (size_t)n, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS)
        return 0;
    return o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o.via.i64 : (int64_t)o.via.u64;
}

static void send_int(void *s, msgpack_sbuffer *sb, msgpack_packer *pk, int64_t v)
{
    sb->size = 0;
    msgpack_pack_int64(pk, v);
    zmq_send(s, sb->data, sb->size, 0);
}

static void source(long n)
{
    void *ctx = zmq_ctx_new();
    void *out = sock(ctx, ZMQ_PUSH, "a", 1);
    void *done = sock(ctx, ZMQ_PULL, "done", 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (long i = 0; i < n; i++)
        send_int(out, &sb, &pk, i);
    char c;
    zmq_recv(done, &c, 1, 0); /* the sink has all: now we may go */
    msgpack_sbuffer_destroy(&sb);
    zmq_close(out);
    zmq_close(done);
    zmq_ctx_term(ctx);
    exit(0);
}

static void worker(long n)
{
    void *ctx = zmq_ctx_new();
    void *in = sock(ctx, ZMQ_PULL, "a", 0);
    void *out = sock(ctx, ZMQ_PUSH, "b", 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    char buf[64];
    for (long i = 0; i < n; i++) {
        int len = zmq_recv(in, buf, sizeof buf, 0);
        int64_t v = decode(buf, len, &zone);
        send_int(out, &sb, &pk, v * v);
    }
    pause(); /* until the parent ends us: our tail must not be lost */
    exit(0);
}

static void sink(long n)
{
    void *ctx = zmq_ctx_new();
    void *in = sock(ctx, ZMQ_PULL, "b", 0);
    void *done = sock(ctx, ZMQ_PUSH, "done", 0);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    char buf[64];
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        int len = zmq_recv(in, buf, sizeof buf, 0);
        sum += (uint64_t)decode(buf, len, &zone);
    }
    zmq_send(done, "", 1, 0);
    printf("%llu\n", (unsigned long long)sum);
    fflush(stdout);
    int linger = -1;
    zmq_setsockopt(done, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(done);
    zmq_close(in);
    zmq_ctx_term(ctx);
    exit(0);
}

static int chain(long n)
{
    double t0 = now();
    /* Binders first (source binds a, worker binds b), so the connects
       usually find their peer at once. */
    pid_t ps = fork();
    if (ps == 0)
        source(n);
    pid_t pw = fork();
    if (pw == 0)
        worker(n);
    pid_t pk = fork();
    if (pk == 0)
        sink(n);
    if (ps < 0 || pw < 0 || pk < 0) { /* never kill(-1, ...) below */
        perror("zmq_chain: fork");
        exit(1);
    }
    /* The source and the sink end, in either order, once the sink has
       everything (the source waits for its word); the worker never ends by
       itself. Anything else is a failure. */
    int st, ended = 0, ok = 1;
    while (ok && ended < 2) {
        pid_t who = wait(&st);
        if ((who == ps || who == pk) && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ended++;
        else
            ok = 0;
    }
    double t = now() - t0;
    if (!ok) {
        fprintf(stderr, "zmq_chain: a process of the chain ended early\n");
        kill(ps, SIGKILL);
        kill(pk, SIGKILL);
    }
    kill(pw, SIGKILL);
    while (wait(NULL) > 0)
        ;
    printf("%.6f\n", t);
    return ok ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*  A peer that is gone must not leave the other waiting forever. */
static void give_up_after(void *s, int ms)
{
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof ms);
}

static int latency(long n)
{
    pid_t echo = fork();
    if (echo < 0) {
        perror("zmq_chain: fork");
        return 1;
    }
    if (echo == 0) {
        void *ctx = zmq_ctx_new();
        void *rep = sock(ctx, ZMQ_REP, "rep", 1);
        give_up_after(rep, 10000);
        char buf[64];
        for (long i = 0; i < n + 100; i++) {
            int len = zmq_recv(rep, buf, sizeof buf, 0);
            if (len < 0)
                exit(1);
            zmq_send(rep, buf, (size_t)len, 0);
        }
        zmq_close(rep);
        zmq_ctx_term(ctx);
        exit(0);
    }
    void *ctx = zmq_ctx_new();
    void *req = sock(ctx, ZMQ_REQ, "rep", 0);
    give_up_after(req, 10000);
    double *us = malloc((size_t)n * sizeof *us);
    char buf[64];
    int rc = 0;
    for (long i = 0; i < n + 100 && rc == 0; i++) {
        double t0 = now();
        zmq_send(req, "123456789012345", 15, 0);
        if (zmq_recv(req, buf, sizeof buf, 0) < 0) {
            fprintf(stderr, "zmq_chain: no reply: %s\n", zmq_strerror(zmq_errno()));
            kill(echo, SIGKILL);
            rc = 1;
        } else if (i >= 100) { /* after a warm-up */
            us[i - 100] = (now() - t0) * 1e6;
        }
    }
    if (rc == 0) {
        qsort(us, (size_t)n, sizeof *us, cmp_double);
        printf("%.1f %.1f\n", us[n / 2], us[n * 99 / 100]);
    }
    free(us);
    int linger = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(req);
    zmq_ctx_term(ctx);
    waitpid(echo, NULL, 0);
    return rc;
}

static int bare(void)
{
    void *ctx = zmq_ctx_new();
    void *s = sock(ctx, ZMQ_PULL, "bare", 1);
    usleep(100000);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            printf("%ld\n", strtol(line + 6, NULL, 10));
    if (f)
        fclose(f);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: zmq_chain chain N | latency N | bare\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/zmq_chain.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    int rc;
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (!strcmp(argv[1], "chain") && n > 0)
        rc = chain(n);
    else if (!strcmp(argv[1], "latency") && n > 0)
        rc = latency(n);
    else if (!strcmp(argv[1], "bare"))
        rc = bare();
    else {
        fprintf(stderr, "usage: zmq_chain chain N | latency N | bare\n");
        rc = 2;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}

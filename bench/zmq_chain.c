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
    so that no tail is lost (see shared/DESIGN.md's ipc trap).
*/
#include <msgpack.h>
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
    int hwm = 100000, ivl = 10;
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
    pid_t pk = fork();
    if (pk == 0)
        sink(n);
    pid_t pw = fork();
    if (pw == 0)
        worker(n);
    pid_t ps = fork();
    if (ps == 0)
        source(n);
    int st;
    waitpid(pk, &st, 0);
    double t = now() - t0;
    waitpid(ps, NULL, 0);
    kill(pw, SIGTERM);
    waitpid(pw, NULL, 0);
    printf("%.6f\n", t);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int latency(long n)
{
    pid_t echo = fork();
    if (echo == 0) {
        void *ctx = zmq_ctx_new();
        void *rep = sock(ctx, ZMQ_REP, "rep", 1);
        char buf[64];
        for (long i = 0; i < n + 100; i++) {
            int len = zmq_recv(rep, buf, sizeof buf, 0);
            zmq_send(rep, buf, (size_t)len, 0);
        }
        zmq_close(rep);
        zmq_ctx_term(ctx);
        exit(0);
    }
    void *ctx = zmq_ctx_new();
    void *req = sock(ctx, ZMQ_REQ, "rep", 0);
    double *us = malloc((size_t)n * sizeof *us);
    char buf[64];
    for (long i = 0; i < n + 100; i++) {
        double t0 = now();
        zmq_send(req, "123456789012345", 15, 0);
        zmq_recv(req, buf, sizeof buf, 0);
        if (i >= 100) /* after a warm-up */
            us[i - 100] = (now() - t0) * 1e6;
    }
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    printf("%.1f %.1f\n", us[n / 2], us[n * 99 / 100]);
    free(us);
    zmq_close(req);
    zmq_ctx_term(ctx);
    waitpid(echo, NULL, 0);
    return 0;
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

/*  zmq_batched: the plain batched libzmq program troupe's squares.zpl is
    measured against, with none of troupe's guarantees (no acks, no
    redelivery, no checkpoints, nothing restarted).

    zmq_batched N    source -> 2 workers -> sink, each its own process,
                     PUSH/PULL over ipc in a temporary directory it removes.
                     The source sends 0..N-1 in batches of 1024, each one
                     zmq message, a msgpack array [batch index, values...],
                     batch b to worker b % 2; the workers square every value;
                     the sink puts the batches back in source order (a
                     reorder buffer keyed by batch index) and prints every
                     square, one line each ("%lld\n"), as print does: into
                     a 64 KB buffer, one write(2) when it is full.

    End of stream: the source sends an empty array to each worker, which
    passes it on to the sink and ends; the sink ends after both. Every
    process closes its sockets with an infinite linger, so that what it
    sent is delivered before it exits. If any process ends badly, the
    others are killed and the run fails: a broken peer must not hang the
    bench.
*/
#include <msgpack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define BATCH 1024

static char dir[64];

static void *sock(void *ctx, int type, const char *name, int bind)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/%s", dir, name);
    void *s = zmq_socket(ctx, type);
    /* A connect that races ahead of its peer's bind retries after the
       reconnect interval (100 ms by default): keep that out of the figure. */
    int ivl = 1, linger = -1;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
        fprintf(stderr, "zmq_batched: %s %s: %s\n", bind ? "bind" : "connect", ep,
                zmq_strerror(zmq_errno()));
        exit(1);
    }
    return s;
}

static void send_buf(void *s, msgpack_sbuffer *sb)
{
    if (zmq_send(s, sb->data, sb->size, 0) < 0) {
        fprintf(stderr, "zmq_batched: send: %s\n", zmq_strerror(zmq_errno()));
        exit(1);
    }
}

/*  One message: the array it holds (empty: the end of the stream). */
static msgpack_object_array recv_array(void *s, zmq_msg_t *m, msgpack_zone *zone)
{
    if (zmq_msg_recv(m, s, 0) < 0) {
        fprintf(stderr, "zmq_batched: recv: %s\n", zmq_strerror(zmq_errno()));
        exit(1);
    }
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(zone);
    if (msgpack_unpack(zmq_msg_data(m), zmq_msg_size(m), &off, zone, &o) !=
            MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "zmq_batched: a message that is not an array\n");
        exit(1);
    }
    return o.via.array;
}

static int64_t int_of(msgpack_object o)
{
    return o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o.via.i64 : (int64_t)o.via.u64;
}

static void source(long n)
{
    void *ctx = zmq_ctx_new();
    void *out[2] = {sock(ctx, ZMQ_PUSH, "w0", 1), sock(ctx, ZMQ_PUSH, "w1", 1)};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (long first = 0, b = 0; first < n; first += BATCH, b++) {
        long k = n - first < BATCH ? n - first : BATCH;
        sb.size = 0;
        msgpack_pack_array(&pk, (size_t)k + 1);
        msgpack_pack_int64(&pk, b);
        for (long i = first; i < first + k; i++)
            msgpack_pack_int64(&pk, i);
        send_buf(out[b % 2], &sb);
    }
    for (int w = 0; w < 2; w++) { /* the end, to each worker */
        sb.size = 0;
        msgpack_pack_array(&pk, 0);
        send_buf(out[w], &sb);
        zmq_close(out[w]);
    }
    msgpack_sbuffer_destroy(&sb);
    zmq_ctx_term(ctx);
    exit(0);
}

static void worker(int w)
{
    void *ctx = zmq_ctx_new();
    void *in = sock(ctx, ZMQ_PULL, w ? "w1" : "w0", 0);
    void *out = sock(ctx, ZMQ_PUSH, "sink", 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 64 * 1024);
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        msgpack_object_array a = recv_array(in, &m, &zone);
        sb.size = 0;
        msgpack_pack_array(&pk, a.size);
        if (a.size > 0) {
            msgpack_pack_int64(&pk, int_of(a.ptr[0]));
            for (uint32_t i = 1; i < a.size; i++) {
                int64_t v = int_of(a.ptr[i]);
                msgpack_pack_int64(&pk, v * v);
            }
        }
        send_buf(out, &sb);
        if (a.size == 0)
            break;
    }
    zmq_msg_close(&m);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
    zmq_close(in);
    zmq_close(out);
    zmq_ctx_term(ctx);
    exit(0);
}

static char obuf[64 * 1024];
static size_t olen;

static void flush_out(void)
{
    for (size_t off = 0; off < olen;) {
        ssize_t k = write(1, obuf + off, olen - off);
        if (k <= 0) {
            perror("zmq_batched: write");
            exit(1);
        }
        off += (size_t)k;
    }
    olen = 0;
}

static void print_int(int64_t v)
{
    char tmp[24];
    int k = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    if (olen + 24 > sizeof obuf)
        flush_out();
    do
        tmp[k++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        obuf[olen++] = '-';
    while (k > 0)
        obuf[olen++] = tmp[--k];
    obuf[olen++] = '\n';
}

static void print_batch(msgpack_object_array a)
{
    for (uint32_t i = 1; i < a.size; i++)
        print_int(int_of(a.ptr[i]));
}

static void sink(long n)
{
    void *ctx = zmq_ctx_new();
    void *in = sock(ctx, ZMQ_PULL, "sink", 1);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 64 * 1024);
    /* The reorder buffer: batches that came early, kept whole (the raw
       message), slot b % cap; it doubles when one comes too early. */
    size_t cap = 64, next = 0, ends = 0, printed = 0;
    zmq_msg_t *slot = calloc(cap, sizeof *slot);
    long *key = malloc(cap * sizeof *key);
    for (size_t i = 0; i < cap; i++)
        key[i] = -1;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (ends < 2) {
        msgpack_object_array a = recv_array(in, &m, &zone);
        if (a.size == 0) {
            ends++;
            continue;
        }
        size_t b = (size_t)int_of(a.ptr[0]);
        if (b != next) { /* early: keep it */
            while (b - next >= cap) {
                size_t ncap = cap * 2;
                zmq_msg_t *ns = calloc(ncap, sizeof *ns);
                long *nk = malloc(ncap * sizeof *nk);
                for (size_t i = 0; i < ncap; i++)
                    nk[i] = -1;
                for (size_t i = 0; i < cap; i++)
                    if (key[i] >= 0) {
                        ns[key[i] % ncap] = slot[i];
                        nk[key[i] % ncap] = key[i];
                    }
                free(slot);
                free(key);
                slot = ns, key = nk, cap = ncap;
            }
            zmq_msg_init(&slot[b % cap]);
            zmq_msg_move(&slot[b % cap], &m);
            key[b % cap] = (long)b;
            continue;
        }
        print_batch(a);
        printed += a.size - 1;
        next++;
        while (key[next % cap] == (long)next) { /* and whatever it freed */
            size_t s = next % cap;
            msgpack_object o;
            size_t off = 0;
            msgpack_zone_clear(&zone);
            msgpack_unpack(zmq_msg_data(&slot[s]), zmq_msg_size(&slot[s]), &off, &zone, &o);
            print_batch(o.via.array);
            printed += o.via.array.size - 1;
            zmq_msg_close(&slot[s]);
            key[s] = -1;
            next++;
        }
    }
    flush_out();
    if (printed != (size_t)n) {
        fprintf(stderr, "zmq_batched: printed %zu of %ld\n", printed, n);
        exit(1);
    }
    zmq_msg_close(&m);
    free(slot);
    free(key);
    zmq_close(in);
    zmq_ctx_term(ctx);
    exit(0);
}

int main(int argc, char **argv)
{
    long n = argc == 2 ? atol(argv[1]) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: zmq_batched N\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/zmq_batched.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    /* Binders first (the sink binds sink, the source w0 and w1). */
    pid_t pid[4] = {0};
    for (int i = 0; i < 4; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            if (i == 0)
                sink(n);
            else if (i == 1)
                source(n);
            else
                worker(i - 2);
        }
        if (pid[i] < 0) { /* never kill(-1, ...) below */
            perror("zmq_batched: fork");
            for (int j = 0; j < i; j++)
                kill(pid[j], SIGKILL);
            break;
        }
    }
    int rc = pid[3] > 0 ? 0 : 1, left = rc ? 0 : 4, st;
    while (left > 0) {
        pid_t who = wait(&st);
        if (who < 0)
            break;
        left--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (rc == 0) {
                fprintf(stderr, "zmq_batched: a process ended badly\n");
                for (int j = 0; j < 4; j++)
                    if (pid[j] > 0 && pid[j] != who)
                        kill(pid[j], SIGKILL);
            }
            rc = 1;
        }
    }
    while (wait(NULL) > 0)
        ;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}

/*  test_chan: the outbox over real zmq sockets (inproc): credit bounds what
    each consumer is sent, acks free batches, a lost consumer's batches go
    to the other, a broadcast batch waits for every subscriber and stops
    waiting for one that is gone, a stale ack from a predecessor is ignored.
    Out of memory (the allocator below): once warm, neither end allocates
    per batch, and no acknowledgement is ever dropped.
*/
#define _GNU_SOURCE
#include "wire/chan.h"
#include "check.h"
#include "wire/envelope.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* ---- an allocator that fails the wire layer's calls on demand ---------
    This program's malloc, calloc and realloc are the ones every library in
    it calls. While `oom` is set, every call made from the wire layer
    (chan.c and envelope.c, built as a library of their own for this test:
    tests/meson.build) fails and is counted; libzmq's, msgpack-c's and this
    program's go through. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static bool oom;
static long oom_refused;

static bool refuse(void *caller)
{
    if (!oom)
        return false;
    Dl_info lib, at;
    if (!dladdr((void *)chan_in_ack, &lib) || !dladdr(caller, &at)
        || at.dli_fbase != lib.dli_fbase)
        return false;
    oom_refused++;
    errno = ENOMEM;
    return true;
}

__attribute__((visibility("default"))) void *malloc(size_t size)
{
    return refuse(__builtin_return_address(0)) ? NULL : __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size)
{
    return refuse(__builtin_return_address(0)) ? NULL : __libc_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t size)
{
    return refuse(__builtin_return_address(0)) ? NULL : __libc_realloc(p, size);
}

static void *ctx;
static int acked_count;

static void on_acked(void *arg, inrec_t *src)
{
    (void)arg;
    (void)src;
    acked_count++;
}

static chan_out_t *producer_window(const char *ep, bool broadcast, uint64_t first_id,
                                   uint32_t window)
{
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    CHECK(zmq_bind(s, ep) == 0);
    chan_out_t *out = chan_out_new(0, "c", broadcast, "", s, window, first_id);
    out->on_acked = on_acked;
    /* these tests count on a consumer being sent all its credit: no
       consumer here is slow or far (test_flow_* are about that) */
    out->hand_min = UINT32_MAX;
    return out;
}

static chan_out_t *producer(const char *ep, bool broadcast, uint64_t first_id)
{
    return producer_window(ep, broadcast, first_id, 8);
}

static chan_in_t *consumer(const char *ep, const char *rid, const char *name,
                           uint32_t credit)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid));
    CHECK(zmq_connect(s, ep) == 0);
    return chan_in_new(s, ep, name, credit, "");
}

static void make_batch(chan_out_t *out, uint64_t seq)
{
    chan_out_begin(out, 1, seq, NULL);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_uint64(&pk, seq);
    chan_out_group(out, 1, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    CHECK(chan_out_flush(out) == 0);
}

/*  Lets the producer read what consumers sent, then send what it can. */
static void settle(chan_out_t *out)
{
    uint64_t bad = 0;
    for (int i = 0; i < 20; i++) {
        zmq_pollitem_t it = { .socket = out->sock, .events = ZMQ_POLLIN };
        zmq_poll(&it, 1, 5);
        chan_out_read(out, 100, &bad);
        chan_out_pump(out);
    }
    CHECK(bad == 0);
}

/*  Receives every batch waiting at a consumer; their ids in ids[] and,
    when seqs is not NULL, their first seqs in seqs[]. */
static int drain_seqs(chan_in_t *in, uint64_t *ids, uint64_t *seqs, int max)
{
    int n = 0;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, in->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        msgpack_object root;
        env_batch_t b;
        msgpack_zone_clear(&zone);
        CHECK(env_decode(zmq_msg_data(&m), zmq_msg_size(&m), &zone, &root) == ENV_OK);
        CHECK(env_batch_view(&root, &b) == ENV_OK);
        if (n < max) {
            ids[n] = b.batch_id;
            if (seqs)
                seqs[n] = b.first_seq;
        }
        n++;
        zmq_msg_close(&m);
    }
    msgpack_zone_destroy(&zone);
    return n;
}

static int drain(chan_in_t *in, uint64_t *ids, int max)
{
    return drain_seqs(in, ids, NULL, max);
}

static void ack_all(chan_in_t *in, const uint64_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        chan_in_ack(in, ids[i]);
    in->credit_owed += (uint32_t)n;
    CHECK(chan_in_flush(in) == 0);
}

static void test_pipe(void)
{
    acked_count = 0;
    chan_out_t *out = producer("inproc://pipe", false, 0);
    chan_in_t *a = consumer("inproc://pipe", "a.0", "a#0", 2);
    chan_in_t *b = consumer("inproc://pipe", "b.0", "b#0", 2);
    settle(out);
    for (uint64_t i = 0; i < 5; i++)
        make_batch(out, i * 10);
    settle(out);
    uint64_t ida[8], idb[8];
    int na = drain(a, ida, 8), nb = drain(b, idb, 8);
    CHECK(na == 2 && nb == 2); /* credit 2 each; the fifth waits */
    CHECK(out->next_id - out->send_cursor == 1); /* that one, unsent */

    /* b is lost: its two batches and the waiting one go to a as credit comes */
    chan_out_lost(out, "b#0");
    ack_all(a, ida, na);
    settle(out);
    uint64_t more[8];
    int n2 = drain(a, more, 8);
    CHECK(n2 == 2);
    ack_all(a, more, n2);
    settle(out);
    int n3 = drain(a, more, 8);
    CHECK(n3 == 1);
    ack_all(a, more, n3);
    settle(out);
    CHECK(acked_count == 5);
    CHECK(chan_out_idle(out));
    /* a late ack from b for a batch a already acknowledged changes nothing */
    ack_all(b, idb, nb);
    settle(out);
    CHECK(acked_count == 5);
    chan_in_destroy(&a);
    chan_in_destroy(&b);
    chan_out_destroy(&out);
}

/*  A consumer's BYE (a pool worker retiring) comes after its acks: what
    it acked is done, what it held unacked goes to the others, once. */
static void test_bye_hands_back_what_was_not_acked(void)
{
    acked_count = 0;
    chan_out_t *out = producer("inproc://bye", false, 0);
    chan_in_t *a = consumer("inproc://bye", "a.0", "a#0", 2);
    chan_in_t *b = consumer("inproc://bye", "b.0", "b#0", 2);
    settle(out);
    for (uint64_t i = 0; i < 4; i++)
        make_batch(out, i * 10);
    settle(out);
    uint64_t ida[8], idb[8], seqb[8], more[8], seqm[8];
    int na = drain(a, ida, 8), nb = drain_seqs(b, idb, seqb, 8);
    CHECK(na == 2 && nb == 2);
    chan_in_ack(b, idb[0]); /* b took one, and goes */
    b->credit_owed = 1;
    CHECK(chan_in_bye(b, 0) == 0);
    ack_all(a, ida, na);
    settle(out);
    CHECK(acked_count == 3);
    int n2 = drain_seqs(a, more, seqm, 8);
    CHECK(n2 == 1 && seqm[0] == seqb[1]); /* only the one b never acked */
    ack_all(a, more, n2);
    settle(out);
    CHECK(acked_count == 4 && chan_out_idle(out));
    chan_in_destroy(&a);
    chan_in_destroy(&b);
    chan_out_destroy(&out);
}

/*  A homed pipe: each batch goes to the home of its block, only there;
    a lost home's batches wait for its successor, never go to a sibling. */
static void test_homed(void)
{
    acked_count = 0;
    /* each home holds up to its share of the window: 8, all of its 6 */
    chan_out_t *out = producer_window("inproc://homed", false, 0, 16);
    CHECK(chan_out_home(out, 2, "h", 10) == 0);
    chan_in_t *h0 = consumer("inproc://homed", "h.0.0", "h#0", 8);
    chan_in_t *h1 = consumer("inproc://homed", "h.1.0", "h#1", 8);
    settle(out);
    int want0 = 0;
    for (uint64_t k = 0; k < 6; k++) {
        make_batch(out, k * 10 + 3); /* block k */
        want0 += chan_home(1, k, 2) == 0;
    }
    CHECK(want0 > 0 && want0 < 6); /* both homes get some (these blocks) */
    settle(out);
    uint64_t ids0[8], s0[8], ids1[8], s1[8];
    int n0 = drain_seqs(h0, ids0, s0, 8), n1 = drain_seqs(h1, ids1, s1, 8);
    CHECK(n0 == want0 && n1 == 6 - want0);
    for (int i = 0; i < n0 && i < 8; i++)
        CHECK(chan_home(1, s0[i] / 10, 2) == 0);
    for (int i = 0; i < n1 && i < 8; i++)
        CHECK(chan_home(1, s1[i] / 10, 2) == 1);
    ack_all(h1, ids1, n1);

    /* h#0 dies: its batches stay for it, h#1 gets none of them */
    chan_out_lost(out, "h#0");
    chan_in_destroy(&h0);
    settle(out);
    CHECK(drain_seqs(h1, ids1, s1, 8) == 0);
    CHECK(!chan_out_idle(out));
    /* its successor (same name, a new routing id) gets them all */
    chan_in_t *h0b = consumer("inproc://homed", "h.0.1", "h#0", 8);
    settle(out);
    int again = drain_seqs(h0b, ids0, s0, 8);
    CHECK(again == want0);
    ack_all(h0b, ids0, again);
    settle(out);
    CHECK(acked_count == 6 && chan_out_idle(out));
    chan_in_destroy(&h0b);
    chan_in_destroy(&h1);
    chan_out_destroy(&out);
}

static void test_broadcast(void)
{
    acked_count = 0;
    chan_out_t *out = producer("inproc://bcast", true, 7ull << 40);
    CHECK(chan_out_expect(out, "x#0", "") == 0);
    CHECK(chan_out_expect(out, "y#0", "") == 0);
    /* made before anyone says hello: still due to both */
    make_batch(out, 0);
    make_batch(out, 1);
    chan_in_t *x = consumer("inproc://bcast", "x.0", "x#0", 4);
    chan_in_t *y = consumer("inproc://bcast", "y.0", "y#0", 4);
    settle(out);
    uint64_t idx[8], idy[8];
    int nx = drain(x, idx, 8), ny = drain(y, idy, 8);
    CHECK(nx == 2 && ny == 2);
    CHECK(idx[0] == 7ull << 40); /* ids from the epoch given */
    ack_all(x, idx, nx);
    settle(out);
    CHECK(acked_count == 0); /* y has not acknowledged */
    CHECK(!chan_out_idle(out));
    /* y is gone for good: nobody waits for it any more */
    chan_out_gone(out, "y#0");
    CHECK(acked_count == 2);
    CHECK(chan_out_idle(out));
    /* a stale ack (an id from before this epoch) is ignored */
    uint64_t stale = 3;
    ack_all(x, &stale, 1);
    settle(out);
    CHECK(acked_count == 2);
    chan_in_destroy(&x);
    chan_in_destroy(&y);
    chan_out_destroy(&out);
}

/*  Once a window's worth of batches has gone round, making, sending and
    acknowledging a batch allocates nothing at either end: the batch
    buffers come back to their pool, the acks are packed on the stack, and
    what consumers send is decoded into the output's own zone. */
static void test_warm_allocates_nothing(void)
{
    acked_count = 0;
    chan_out_t *out = producer("inproc://warm", false, 0);
    chan_in_t *in = consumer("inproc://warm", "w.0", "w#0", 8);
    settle(out);
    uint64_t ids[8];
    for (int round = 0; round < 8; round++) {
        oom = round >= 3; /* warm after three windows */
        for (uint64_t i = 0; i < 8; i++)
            make_batch(out, (uint64_t)round * 100 + i);
        settle(out);
        int n = drain(in, ids, 8);
        CHECK(n == 8);
        ack_all(in, ids, n);
        settle(out);
    }
    oom = false;
    CHECK(oom_refused == 0);
    CHECK(acked_count == 64 && chan_out_idle(out));
    chan_in_destroy(&in);
    chan_out_destroy(&out);
}

/*  Out of memory, a consumer that cannot queue another ack sends the
    queue instead: every batch is acknowledged, none dropped (a dropped ack
    hangs the run: the producer waits for it for ever). A long queue goes
    in several ACKs. */
static void test_acks_out_of_memory(void)
{
    enum { N = 200 };
    acked_count = 0;
    oom_refused = 0;
    chan_out_t *out = producer_window("inproc://acks", false, 0, N);
    chan_in_t *in = consumer("inproc://acks", "k.0", "k#0", N);
    settle(out);
    for (uint64_t i = 0; i < N; i++)
        make_batch(out, i);
    settle(out);
    static uint64_t ids[N];
    CHECK(drain(in, ids, N) == N);
    oom = true;
    for (int i = 0; i < N; i++)
        chan_in_ack(in, ids[i]);
    in->credit_owed += N;
    CHECK(chan_in_flush(in) == 0);
    oom = false;
    CHECK(oom_refused > 0); /* the queue did try to grow */
    settle(out);
    CHECK(acked_count == N && chan_out_idle(out));
    chan_in_destroy(&in);
    chan_out_destroy(&out);
}

/*  A batch whose buffer cannot be had is refused whole: nothing is in the
    outbox, nothing was sent, and the next batch is fine. */
static void test_batch_out_of_memory(void)
{
    acked_count = 0;
    chan_out_t *out = producer("inproc://nomem", false, 0);
    chan_in_t *in = consumer("inproc://nomem", "m.0", "m#0", 8);
    settle(out);
    oom = true;
    chan_out_begin(out, 1, 0, NULL);
    chan_out_group(out, 1, "\x01", 1);
    CHECK(chan_out_flush(out) == -1 && errno == ENOMEM);
    oom = false;
    CHECK(chan_out_idle(out) && out->batches_out == 0);
    make_batch(out, 5);
    settle(out);
    uint64_t ids[8], seqs[8];
    CHECK(drain_seqs(in, ids, seqs, 8) == 1 && seqs[0] == 5);
    ack_all(in, ids, 1);
    settle(out);
    CHECK(acked_count == 1 && chan_out_idle(out));
    chan_in_destroy(&in);
    chan_out_destroy(&out);
}

/*  A keyed output splits a group by key: equal keys (1 and 1.0, a string
    and the same key set with chan_key_hash) go to one home, each value
    once; a value without the key, or with a map for one, is refused with
    the reason; each home's batch holds its values only, all-empty homes
    send nothing. */
static int home_of(chan_out_t *out, const char *data, size_t size)
{
    char err[256];
    CHECK(chan_out_split(out, 1, data, size, NULL, 0, err, sizeof err) == 0);
    return out->nsplit == 1 ? (int)out->split[0].home : -1;
}

static void test_keyed(void)
{
    chan_out_t *out = producer("inproc://keyed", false, 0);
    CHECK(chan_out_keyed(out, 4, "count", NULL) == 0 && out->nbuild == 4);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int seen[4] = { 0 };
    for (int i = 0; i < 64; i++) { /* 64 keys spread over the 4 homes */
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_int(&pk, i);
        int home = home_of(out, sb.data, sb.size);
        CHECK(home >= 0 && home < 4);
        if (home >= 0 && home < 4)
            seen[home]++;
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_double(&pk, (double)i);
        CHECK(home_of(out, sb.data, sb.size) == home); /* i and i.0: one key */
    }
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_str_with_body(&pk, "fox", 3);
    int fox = home_of(out, sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_int(&pk, 1);
    uint64_t key = chan_key_hash("fox", 3);
    char err[256];
    CHECK(chan_out_split(out, 1, sb.data, sb.size, &key, 1, err, sizeof err) == 0);
    CHECK(out->split[0].home == (unsigned)fox);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 0);
    CHECK(chan_out_split(out, 1, sb.data, sb.size, NULL, 0, err, sizeof err) < 0);
    CHECK(strstr(err, "is a map, which cannot be a key"));
    msgpack_pack_double(&pk, 0.0 / 0.0);
    CHECK(chan_out_split(out, 1, sb.data + 1, sb.size - 1, NULL, 0, err, sizeof err) < 0);
    CHECK(strstr(err, "is a NaN"));
    chan_out_destroy(&out);

    /* key = word: a map's field */
    out = producer("inproc://keyed-field", false, 0);
    CHECK(chan_out_keyed(out, 2, "count", "word") == 0);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_int(&pk, 1);
    CHECK(chan_out_split(out, 1, sb.data, sb.size, NULL, 0, err, sizeof err) < 0);
    CHECK(strstr(err, "value has no key 'word'"));
    /* a group of three values, two of one key: each home's batch has its own */
    msgpack_sbuffer_clear(&sb);
    const char *words[3] = { "a", "b", "a" };
    for (int i = 0; i < 3; i++) {
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "word", 4);
        msgpack_pack_str_with_body(&pk, words[i], 1);
    }
    chan_out_begin(out, 1, 0, NULL);
    CHECK(chan_out_split(out, 3, sb.data, sb.size, NULL, 0, err, sizeof err) == 0);
    CHECK(out->split[0].home == out->split[2].home);
    unsigned a_home = out->split[0].home, b_home = out->split[1].home;
    chan_out_group(out, 3, sb.data, sb.size);
    CHECK(out->build[a_home].nonempty == 1 && (a_home == b_home || out->build[b_home].nonempty == 1));
    CHECK(chan_out_flush(out) == 0);
    CHECK(out->next_id == (a_home == b_home ? 1u : 2u)); /* one batch per home with values */
    msgpack_sbuffer_destroy(&sb);
    chan_out_destroy(&out);
}

/*  A string emitted straight into its home (chan_out_keyed_put_str, the
    word count's path) lands where the same string packed would, byte for
    byte, at every string header size, with the module's key or its own;
    an output keyed by a field refuses it (the packed path reads the
    field). */
static void test_keyed_put_str(void)
{
    chan_out_t *a = producer("inproc://keyed-packed", false, 0);
    chan_out_t *b = producer("inproc://keyed-str", false, 0);
    CHECK(chan_out_keyed(a, 4, "count", NULL) == 0 && chan_out_keyed(b, 4, "count", NULL) == 0);
    static char text[70000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i * 7 % 26);
    const size_t lens[] = { 0, 1, 3, 31, 32, 255, 256, 65535, 65536, 70000 };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char err[256];
    chan_out_begin(a, 1, 0, NULL);
    chan_out_begin(b, 1, 0, NULL);
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
        for (int keyed = 0; keyed < 2; keyed++) {
            const char *str = text + k; /* a different string each time */
            uint64_t set = keyed ? chan_key_hash(&k, sizeof k) : 0;
            msgpack_sbuffer_clear(&sb);
            msgpack_pack_str_with_body(&pk, str, lens[k]);
            CHECK(chan_out_keyed_put(a, sb.data, sb.size, set, 0, err, sizeof err) == 0);
            CHECK(chan_out_keyed_put_str(b, str, lens[k], set) == 0);
            for (unsigned h = 0; h < 4; h++)
                CHECK(a->split_count[h] == b->split_count[h]
                      && a->build[h].sb.size == b->build[h].sb.size
                      && !memcmp(a->build[h].sb.data, b->build[h].sb.data, a->build[h].sb.size));
        }
    chan_out_keyed_close(a);
    chan_out_keyed_close(b);
    for (unsigned h = 0; h < 4; h++)
        CHECK(a->build[h].sb.size == b->build[h].sb.size
              && !memcmp(a->build[h].sb.data, b->build[h].sb.data, a->build[h].sb.size));
    chan_out_destroy(&a);
    chan_out_destroy(&b);
    b = producer("inproc://keyed-str-field", false, 0);
    CHECK(chan_out_keyed(b, 2, "count", "word") == 0);
    CHECK(chan_out_keyed_put_str(b, "fox", 3, 0) == -1);
    chan_out_destroy(&b);
    msgpack_sbuffer_destroy(&sb);
}

/*  Reads and sends without waiting (inproc delivers at once). */
static void turn(chan_out_t *out)
{
    uint64_t bad = 0;
    chan_out_read(out, 1000, &bad);
    chan_out_pump(out);
    CHECK(bad == 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  Flow control is per consumer: one that takes its batches and never
    acknowledges them (a cut link) holds its share of the window (16 / 2)
    and no more; the producer goes on at full speed with the other. With
    the window counted from the oldest unacknowledged batch, as before,
    the producer stopped after 16. */
static void test_flow_a_stuck_consumer_holds_only_its_share(void)
{
    enum { N = 400 };
    acked_count = 0;
    chan_out_t *out = producer_window("inproc://stuck", false, 0, 16);
    out->hand_min = 2; /* as in a run */
    chan_in_t *a = consumer("inproc://stuck", "a.0", "a#0", 64);
    chan_in_t *b = consumer("inproc://stuck", "b.0", "b#0", 64);
    settle(out);
    int made = 0, held_a = 0, got_b = 0;
    uint64_t ids[64];
    for (int spins = 0; made < N && spins < 100 * N; spins++) {
        while (made < N && chan_out_ready(out))
            make_batch(out, (uint64_t)made++);
        turn(out);
        int n = drain(a, ids, 64);
        held_a += n;
        a->credit_owed += (uint32_t)n; /* read, never acknowledged */
        chan_in_flush(a);
        n = drain(b, ids, 64);
        got_b += n;
        ack_all(b, ids, n);
    }
    turn(out);
    CHECK(made == N);
    CHECK(held_a <= 8);
    CHECK(got_b >= N - 8);
    CHECK(acked_count == got_b);
    if (held_a > 8 || made < N)
        fprintf(stderr, "  made %d, a holds %d, b took %d\n", made, held_a, got_b);
    chan_in_destroy(&a);
    chan_in_destroy(&b);
    chan_out_destroy(&out);
}

/*  With an ordered actor downstream, the producer stops once the oldest
    unacknowledged batch (the stuck consumer's) is 4 x what the two may
    hold (8 each, or the other's round trip if more; at least 64) behind
    the newest: the other consumer's batches would only wait at the
    ordered actor for the stuck one's. Unordered, it went on (above). And
    it stops at 512 KiB of batches from the oldest on, however few: 64 KiB
    values stop it at 8 (every consumer may hold a few), or a few more if
    the other's round trip needs them in flight; long before 64. */
static void stuck_ordered(const char *ep, size_t value_size, int *made, uint64_t *span)
{
    enum { N = 400 };
    chan_out_t *out = producer_window(ep, false, 0, 16);
    out->hand_min = 2;
    out->ordered = true;
    chan_in_t *a = consumer(ep, "a.0", "a#0", 64);
    chan_in_t *b = consumer(ep, "b.0", "b#0", 64);
    settle(out);
    char *value = calloc(1, value_size);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_bin(&pk, value_size);
    msgpack_pack_bin_body(&pk, value, value_size);
    uint64_t ids[64];
    *made = 0;
    for (int spins = 0; spins < 2000; spins++) {
        while (*made < N && chan_out_ready(out)) {
            chan_out_begin(out, 1, (uint64_t)*made, NULL);
            chan_out_group(out, 1, sb.data, sb.size);
            CHECK(chan_out_flush(out) == 0);
            ++*made;
        }
        turn(out);
        int n = drain(a, ids, 64);
        a->credit_owed += (uint32_t)n; /* read, never acknowledged */
        chan_in_flush(a);
        n = drain(b, ids, 64);
        ack_all(b, ids, n);
    }
    *span = out->next_id - out->head;
    msgpack_sbuffer_destroy(&sb);
    free(value);
    chan_in_destroy(&a);
    chan_in_destroy(&b);
    chan_out_destroy(&out);
}

static void test_flow_ordered_bounds_the_span(void)
{
    int made;
    uint64_t span;
    stuck_ordered("inproc://stuck-ordered", 8, &made, &span);
    CHECK(made >= CHAN_ORDER_SPAN_MIN && made < 400);
    CHECK(span == (uint64_t)made); /* the stuck one's first batch is the oldest */
    if (made < CHAN_ORDER_SPAN_MIN || made >= 400)
        fprintf(stderr, "  small values: made %d, span %llu\n", made, (unsigned long long)span);
    stuck_ordered("inproc://stuck-ordered-big", 64 << 10, &made, &span);
    CHECK(made >= 8 && made < CHAN_ORDER_SPAN_MIN);
    if (made < 8 || made >= CHAN_ORDER_SPAN_MIN)
        fprintf(stderr, "  64 KiB values: made %d, span %llu\n", made, (unsigned long long)span);
}

/*  A consumer whose acks come 20 ms after its batches (a long link, or a
    deep pipeline after it) is sent more than the window's 16: as many as
    twice its rate times that round trip, so that it is never idle
    waiting. However slow the machine, its rate is what it holds over 20
    ms, so what it is allowed doubles each period: it soon holds more
    than 16 (with the window counted from the oldest batch, never). No
    time is asserted: the loop ends when it does, or after 10 s. */
static void test_flow_a_far_consumer_is_sent_its_round_trip(void)
{
    enum { RING = 8192 };
    acked_count = 0;
    chan_out_t *out = producer_window("inproc://far", false, 0, 16);
    out->hand_min = 2;
    chan_in_t *c = consumer("inproc://far", "c.0", "c#0", 1024);
    settle(out);
    static uint64_t ids[RING];
    static double at[RING];
    size_t got = 0, acked = 0;
    uint64_t made = 0;
    uint32_t most = 0;
    double t0 = now_s();
    while (most <= 32 && now_s() - t0 < 10) {
        while (chan_out_ready(out) && made - acked < RING - 64)
            make_batch(out, made++);
        turn(out);
        uint64_t in[64];
        int n = drain(c, in, 64);
        for (int i = 0; i < n; i++) {
            ids[got % RING] = in[i];
            at[got % RING] = now_s();
            got++;
        }
        c->credit_owed += (uint32_t)n; /* read at once, acked 20 ms later */
        while (acked < got && now_s() - at[acked % RING] >= 0.020) {
            chan_in_ack(c, ids[acked % RING]);
            acked++;
        }
        chan_in_flush(c);
        most = out->slots[0].live > most ? out->slots[0].live : most;
    }
    CHECK(most > 32);
    CHECK(most <= CHAN_SLOT_LIVE_MAX);
    if (most <= 32)
        fprintf(stderr, "  at most %u in flight, %zu acknowledged in %.1f s\n", most, acked,
                now_s() - t0);
    chan_in_destroy(&c);
    chan_out_destroy(&out);
}

int main(void)
{
    ctx = zmq_ctx_new();
    test_pipe();
    test_bye_hands_back_what_was_not_acked();
    test_homed();
    test_broadcast();
    test_keyed();
    test_keyed_put_str();
    test_warm_allocates_nothing();
    test_acks_out_of_memory();
    test_batch_out_of_memory();
    test_flow_a_stuck_consumer_holds_only_its_share();
    test_flow_ordered_bounds_the_span();
    test_flow_a_far_consumer_is_sent_its_round_trip();
    zmq_ctx_term(ctx);
    CHECK_DONE();
}

/*  actor.c: the actor host. One process runs one instance of one actor: it
    takes its config from the supervisor, loads the module, binds its outputs,
    connects its inputs, and then loops: read acks and batches, call the
    module's hooks, send batches, report counters, until the supervisor says
    stop. Nothing here blocks except zmq_poll.
*/
#include "host/actor.h"
#include "base/log.h"
#include "base/rundir.h"

#include "wire/auth.h"
#include "wire/checkpoint.h"
#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/envelope.h"
#include "wire/packbuf.h"
#include "host/host.h"
#include "base/module.h"
#include "host/poison.h"
#include "plan/plan.h"
#include "wire/seen.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Output batches are split at group boundaries past this size (checked
   every 64 groups). */
#define SPLIT_BYTES (1u << 20)
/* Input batches handled per input per loop turn: fairness vs. poll cost. */
#define BATCHES_PER_TURN 4
/*  A source sizes its batches so that the slowest stage downstream spends
    about this long on one: long enough that per-batch costs vanish, short
    enough that N workers share even a small input evenly. */
#define BATCH_TARGET_NS 10000000ull
/* Batch size before any consumer has reported what an item costs. */
#define FIRST_BATCH 16
/*  A batch a source has been filling this long goes out as it is: a source
    whose produce hook waits (for input, for time) must not hold items back
    until its batch is full. */
#define BATCH_LINGER_NS 1000000ull
/*  The zone batches are decoded into starts with a first chunk this big and
    doubles it, up to ZONE_KEEP_MAX, when a batch does not fit in it
    (batch_zone_clear says why). */
#define ZONE_FIRST (64u << 10)
#define ZONE_KEEP_MAX (4u << 20)
/*  An exact actor takes a checkpoint once this many handled batches wait
    for one, or once the oldest has waited CKPT_MAX_WAIT_NS, whichever
    comes first (and never more often than its cost allows: checkpoint.h).
    Its producers hold what waits, so the count keeps them inside their
    window (16 by default); the wait bounds how late a sink's output and a
    trickle's acknowledgements are. Not at every pause in the input: a
    fast reducer pauses after nearly every batch, and a checkpoint each
    time cost the map 5 to 8% (bench/run --only checkpoint). */
#define CKPT_BATCHES 8
#define CKPT_MAX_WAIT_NS 5000000ull
/*  The peak resident memory a heartbeat reports is read again at most
    every this many heartbeats (2 s) unless getrusage says it grew, and
    always at DONE (send_stats says why). */
#define RSS_EVERY_BEATS 8

/*  A batch an ordered actor holds for later: its frame only, decoded when
    its turn comes (a decoded batch of 4096 items takes about 200 KB; the
    source's window may put a dozen in the list), and on arrival only its
    header is read. */
typedef struct held {
    zmq_msg_t msg;
    uint64_t first_seq;
    uint32_t ngroups;
    inrec_t *rec;      /* unacknowledged until handed on or held long
                          (promote_held); NULL: a checkpoint carries it */
    uint64_t since_ns;
    struct held *next; /* in its order, or among the free ones */
} held_t;

typedef struct {
    uint32_t origin;
    uint64_t next_seq;
    held_t *list; /* sorted by first_seq */
} order_t;

typedef struct {
    troupe_ctx_t ctx; /* first: the module's handle is this struct */
    void *zctx;
    void *ctl;
    char *rid; /* our routing id on every socket */
    void *dl;
    unsigned batch, window, credit;
    unsigned incarnation, retries;
    bool ordered;
    bool dedup; /* stateful or terminal: take each item once */
    seen_t seen;
    bool ckpt_on;  /* acknowledges only what a checkpoint covers */
    ckpt_t ckpt;
    bool ckpt_closed; /* the checkpoint after the flush is taken */
    bool touched;     /* the message hook ran for the batch being handled */
    unsigned held_waiting; /* held batches not yet acknowledged (promote_held) */
    int ckpt_fd;      /* checkpoints go to this file (checkpoint.h); -1: sent */
    msgpack_sbuffer ckpt_state, ckpt_map; /* kept between checkpoints */
    msgpack_zone ckpt_zone; /* where a snapshot is checked */
    ckpt_head_t ckpt_head;
    uint64_t commit_out; /* a sink's output committed by the last checkpoint */
    uint64_t commit_said; /* ... and as much as COMMIT has told */
    uint64_t commit_said_ns;
    /* poison items (poison.h): our slot in the supervisor's file, and the
       items it found to kill their workers */
    poison_slot_t *slot;
    void *slots_map;
    size_t slots_len;
    struct poisoned {
        uint32_t origin;
        uint64_t item;
        char *text;
    } *poison;
    int npoison;
    bool out_file; /* stdout is a file of the run's, which the supervisor
                      copies to the real one as checkpoints commit it */
    /* lifecycle */
    bool started, input_end, flushed, done_sent, stop;
    bool source_done;
    bool busy; /* handled input since the module last heard it was idle */
    uint64_t block_k;   /* a source's block: instance + k * instances */
    uint64_t block_off; /* items of that block already made */
    uint64_t cost_ns;   /* what one of our items costs us, averaged */
    /* input bookkeeping */
    inrec_t *free_recs;
    inrec_t *made_recs; /* all of them, free or held by unacknowledged batches */
    held_t *free_held;  /* held batches' records, for the next early ones */
    msgpack_zone zone; /* for the batch being handled */
    size_t zone_size;  /* its first chunk's size */
    const void *zone_first; /* that chunk: a batch that spilled out of it
                               left another at the head of the zone's list */
    order_t *orders;
    int norders;
    uint64_t next_beat;
    unsigned beats;     /* heartbeats sent */
    long peak_rss_kb;   /* as the last one read it */
    long maxrss_seen;   /* getrusage's figure then */
    msgpack_zone ctl_zone; /* control messages are decoded here */
    bool fatal;         /* out of memory where nothing may be dropped: the
                           host stops, acknowledges nothing more, exits 1 */
    const actor_embed_t *embed; /* NULL in an actor process */
    /* CURVE, on a tcp run (NULL otherwise): our key pair and the folder of
       the keys our bound sockets admit; auth is czmq's zauth, started when
       the first output is bound, and its context holds our ROUTERs */
    char *curve_public, *curve_secret, *allow_dir;
    char *own_allow;  /* a folder of our own that allow_dir names, or NULL */
    int own_nallow;
    auth_t *auth;
} host_t;

/* ==== control channel ======================================================== */

/*  [FAIL, item, text]: an item failed. */
/*  The messages sent on every heartbeat, batch or failed item are packed
    on the stack (packbuf.h): they allocate nothing. */
static void send_packbuf(host_t *h, const packbuf_t *buf)
{
    if (!buf->over)
        zmq_send(h->ctl, buf->data, buf->size, ZMQ_DONTWAIT);
}

/*  [FAIL, item, text]: an item failed. Out of line: it is rare, and its
    buffer would keep group_end, which runs for every item, from being
    inlined. */
__attribute__((cold, noinline)) static void send_fail(host_t *h, uint64_t item,
                                                      const char *text)
{
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_packer *pk = &buf.pk;
    size_t len = strlen(text);
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, CTL_FAIL);
    msgpack_pack_uint64(pk, item);
    /* the text is at most ctx->error's 512 bytes; cut, should it not fit */
    msgpack_pack_str_with_body(pk, text, len < PACKBUF_MAX - 32 ? len : PACKBUF_MAX - 32);
    send_packbuf(h, &buf);
}

/*  Out of memory where going on would drop or wrongly acknowledge a batch:
    says so and stops the host, which acknowledges nothing from now on and
    exits 1. What it has not acknowledged its producers still hold, and
    they give it to its successor, as for any death. */
__attribute__((cold, noinline)) static void host_fatal(host_t *h, const char *what)
{
    if (h->fatal)
        return;
    h->fatal = true;
    h->stop = true;
    char text[256];
    snprintf(text, sizeof text, "out of memory %s: stopping, what it holds goes to its "
             "successor", what);
    if (h->embed && h->embed->aborted)
        h->embed->aborted(h->embed->arg, text);
    else if (!h->embed) {
        char who[300];
        snprintf(who, sizeof who, "troupe actor %s", h->ctx.id ? h->ctx.id : "?");
        log_write(who, LOG_ERROR, "%s", text);
    }
}

/*  Peak resident memory in kB, as the kernel counts it for this process
    image (getrusage's figure would include what the process was before
    exec). One open and one read into a buffer on the stack: no FILE,
    nothing on the heap. */
long host_peak_rss_kb(void)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char text[4096];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    const char *at = strstr(text, "\nVmHWM:");
    return at ? strtol(at + 7, NULL, 10) : 0;
}

/*  The peak for a heartbeat. VmHWM only grows, so the one read at DONE is
    this image's true peak; in between, reading /proc on every heartbeat of
    every actor is more than troupe top needs. So it is read again when
    getrusage's peak (one system call, no text) grew, which it does when
    VmHWM grows past what the process was before exec, and otherwise every
    RSS_EVERY_BEATS heartbeats. */
static long heartbeat_rss_kb(host_t *h, int kind)
{
    struct rusage ru;
    long maxrss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    if (kind != CTL_STATS || h->beats++ % RSS_EVERY_BEATS == 0
        || maxrss != h->maxrss_seen) {
        h->peak_rss_kb = host_peak_rss_kb();
        h->maxrss_seen = maxrss;
    }
    return h->peak_rss_kb;
}

__attribute__((noinline)) static void send_stats(host_t *h, int kind)
{
    host_stats_t *s = &h->ctx.stats;
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_packer *pk = &buf.pk;
    msgpack_pack_array(pk, 13);
    msgpack_pack_int(pk, kind);
    msgpack_pack_uint64(pk, s->items_in);
    msgpack_pack_uint64(pk, s->items_out);
    uint64_t batches_out = 0;
    for (int i = 0; i < h->ctx.nouts; i++)
        batches_out += h->ctx.outs[i]->batches_out;
    msgpack_pack_uint64(pk, s->batches_in);
    msgpack_pack_uint64(pk, batches_out);
    msgpack_pack_uint64(pk, s->failed);
    msgpack_pack_uint64(pk, s->malformed);
    msgpack_pack_uint64(pk, s->busy_ns);
    msgpack_pack_uint64(pk, (uint64_t)heartbeat_rss_kb(h, kind));
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    msgpack_pack_uint64(pk, (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec);
    uint64_t unacked = 0;
    for (int i = 0; i < h->ctx.nouts; i++)
        unacked += h->ctx.outs[i]->next_id - h->ctx.outs[i]->head;
    msgpack_pack_uint64(pk, s->held);
    msgpack_pack_uint64(pk, unacked);
    msgpack_pack_uint64(pk, s->total);
    send_packbuf(h, &buf);
}

/*  The supervisor takes an actor that stays silent too long for hung; a
    long batch beats from inside its loop. */
static void heartbeat(host_t *h)
{
    uint64_t now = now_ms();
    if (now >= h->next_beat) {
        send_stats(h, CTL_STATS);
        h->next_beat = now + CTL_HEARTBEAT_MS;
    }
}

/*  Reads one control message; returns its kind (and keeps the decoded
    message in *root / zone for CONFIG), 0 when none, -1 on garbage. */
static int ctl_read(host_t *h, msgpack_zone *zone, msgpack_object *root,
                    zmq_msg_t *msg)
{
    if (zmq_msg_recv(msg, h->ctl, ZMQ_DONTWAIT) < 0)
        return 0;
    if (msgpack_unpack(zmq_msg_data(msg), zmq_msg_size(msg), &(size_t){ 0 }, zone,
                       root)
            != MSGPACK_UNPACK_SUCCESS
        || root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 1
        || root->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    return (int)root->via.array.ptr[0].via.u64;
}

/* ==== configuration ============================================================== */

static void *new_socket(void *zctx, int type)
{
    void *s = zmq_socket(zctx, type);
    if (!s)
        return NULL;
    int zero = 0, hwm = 100000, ivl = 10;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    return s;
}

static void on_out_acked(void *arg, inrec_t *src);

/*  On a tcp run, bound sockets are CURVE servers made in the context zauth
    answers for (auth.c says why it must be czmq's). zauth starts before the
    first bind, so no peer ever meets a socket without it. */
static void *new_output_socket(host_t *h, char *err, size_t errlen)
{
    if (!h->curve_secret)
        return new_socket(h->zctx, ZMQ_ROUTER);
    if (!h->auth && !(h->auth = auth_new(h->allow_dir, err, errlen)))
        return NULL;
    void *sock = new_socket(auth_zctx(h->auth), ZMQ_ROUTER);
    if (sock && auth_set_server(sock, h->curve_secret) != 0) {
        snprintf(err, errlen, "cannot make a CURVE server: %s", zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/*  Binds sock at endpoint; a tcp endpoint whose port is '*' takes a port
    from ports [lo, hi] when the run has a range (--data-ports), trying
    each in turn from one that depends on the pid, so that instances
    starting together mostly try different ones first. libzmq has no
    ranges of its own (czmq's zsock_bind has, but actors do not link
    czmq: supervisor/actor_process.c says why). */
static int bind_output(void *sock, const char *name, const char *endpoint,
                       const msgpack_object *ports, char *err, size_t errlen)
{
    size_t len = strlen(endpoint);
    uint64_t lo = ports && ports->type == MSGPACK_OBJECT_ARRAY && ports->via.array.size == 2
                      && ports->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                      ? ports->via.array.ptr[0].via.u64 : 0;
    uint64_t hi = lo && ports->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                      ? ports->via.array.ptr[1].via.u64 : 0;
    if (!lo || hi < lo || hi > 65535 || strncmp(endpoint, "tcp://", 6) || len < 8
        || strcmp(endpoint + len - 2, ":*")) {
        int rc = zmq_bind(sock, endpoint);
        if (rc != 0)
            snprintf(err, errlen, "cannot bind output '%s' at %s: %s", name, endpoint,
                     zmq_strerror(errno));
        return rc;
    }
    uint64_t n = hi - lo + 1, first = (uint64_t)getpid() % n;
    char ep[300];
    for (uint64_t k = 0; k < n; k++) {
        snprintf(ep, sizeof ep, "%.*s:%llu", (int)(len - 2), endpoint,
                 (unsigned long long)(lo + (first + k) % n));
        if (zmq_bind(sock, ep) == 0)
            return 0;
        if (errno != EADDRINUSE) {
            snprintf(err, errlen, "cannot bind output '%s' at %s: %s", name, ep,
                     zmq_strerror(errno));
            return -1;
        }
    }
    snprintf(err, errlen, "cannot bind output '%s' at %s: every port from %llu to %llu "
             "(--data-ports) is taken", name, endpoint, (unsigned long long)lo,
             (unsigned long long)hi);
    return -1;
}

static int setup_outputs(host_t *h, const msgpack_object *list, char *err,
                         size_t errlen)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    h->ctx.outs = calloc(list->via.array.size + 1, sizeof *h->ctx.outs);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char *name = ctl_map_str(o, "name");
        char *endpoint = ctl_map_str(o, "endpoint");
        char *topic = ctl_map_str(o, "topic");
        bool broadcast = ctl_map_bool(o, "broadcast", false);
        void *sock = new_output_socket(h, err, errlen);
        int one = 1;
        int rc = -1;
        if (sock && name && endpoint) {
            zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
            rc = bind_output(sock, name, endpoint, ctl_map_get(o, "ports"), err, errlen);
        }
        chan_out_t *out = NULL;
        if (rc == 0) {
            out = chan_out_new((int)ctl_map_u64(o, "chan", 0), name, broadcast,
                               topic, sock, h->window,
                               (uint64_t)h->incarnation << 40);
            sock = NULL;
        }
        char *home_actor = out ? ctl_map_str(o, "home_actor") : NULL;
        if (out && home_actor
            && chan_out_home(out, (unsigned)ctl_map_u64(o, "home", 0), home_actor,
                             ctl_map_u64(o, "block", 0)) < 0)
            chan_out_destroy(&out);
        free(home_actor);
        if (out) {
            out->on_acked = on_out_acked;
            out->acked_arg = h;
            const msgpack_object *exp = ctl_map_get(o, "expect");
            for (uint32_t j = 0; exp && exp->type == MSGPACK_OBJECT_ARRAY
                                 && j < exp->via.array.size;
                 j++) {
                char *cn = ctl_map_str(&exp->via.array.ptr[j], "consumer");
                char *pre = ctl_map_str(&exp->via.array.ptr[j], "prefix");
                if (cn && chan_out_expect(out, cn, pre ? pre : "") < 0)
                    snprintf(err, errlen, "too many subscribers on '%s'", name);
                free(cn);
                free(pre);
            }
            h->ctx.outs[h->ctx.nouts++] = out;
        }
        if (sock)
            zmq_close(sock);
        free(name);
        free(endpoint);
        free(topic);
        if (!out) {
            if (!*err)
                snprintf(err, errlen, "cannot set up an output: %s",
                         zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int setup_inputs(host_t *h, const msgpack_object *list, char *err,
                        size_t errlen)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    h->ctx.ins = calloc(list->via.array.size + 1, sizeof *h->ctx.ins);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char *endpoint = ctl_map_str(o, "endpoint");
        char *sub = ctl_map_str(o, "subscribe");
        char *producer = ctl_map_str(o, "producer");
        char *server_key = ctl_map_str(o, "server_key");
        void *sock = new_socket(h->zctx, ZMQ_DEALER);
        chan_in_t *in = NULL;
        /* on a tcp run, never a connection in the clear: a producer
           without a key is an error, not a plain socket */
        bool curve_ok = !h->curve_public
                        || auth_set_client(sock, h->curve_public, h->curve_secret,
                                           server_key ? server_key : "")
                               == 0;
        if (sock && endpoint && !curve_ok)
            snprintf(err, errlen, "no good CURVE key for producer %s",
                     producer ? producer : endpoint);
        else if (sock && endpoint) {
            zmq_setsockopt(sock, ZMQ_ROUTING_ID, h->rid, strlen(h->rid));
            if (zmq_connect(sock, endpoint) == 0) {
                in = chan_in_new(sock, endpoint, h->ctx.id, h->credit,
                                 sub ? sub : "");
                if (in) {
                    sock = NULL;
                    in->producer = producer;
                    producer = NULL;
                }
            }
        }
        if (!in && !*err)
            snprintf(err, errlen, "cannot connect input %s: %s",
                     endpoint ? endpoint : "?", zmq_strerror(errno));
        if (sock)
            zmq_close(sock);
        free(endpoint);
        free(sub);
        free(producer);
        free(server_key);
        if (!in)
            return -1;
        h->ctx.ins[h->ctx.nins++] = in;
    }
    return 0;
}

/*  "curve" in CONFIG: {public, secret, allow, allow_dir}. The actor uses
    the folder, which holds the allowed keys as zcert public certificates,
    since that is what zauth reads; "allow" lists the same keys. */
static int take_curve(host_t *h, const msgpack_object *curve, char *err, size_t errlen)
{
    h->curve_public = ctl_map_str(curve, "public");
    h->curve_secret = ctl_map_str(curve, "secret");
    h->allow_dir = ctl_map_str(curve, "allow_dir");
    if (!auth_key_ok(h->curve_public) || !auth_key_ok(h->curve_secret)) {
        snprintf(err, errlen, "the config's CURVE keys are not Z85 keys");
        return -1;
    }
    if (h->allow_dir && access(h->allow_dir, R_OK | X_OK) == 0)
        return 0;
    /* the supervisor's folder is on another machine (an instance a node
       runs): write the same keys into a private folder of our own */
    const msgpack_object *allow = ctl_map_get(curve, "allow");
    if (!allow || allow->type != MSGPACK_OBJECT_ARRAY || !allow->via.array.size) {
        snprintf(err, errlen, "the config's CURVE allowlist is empty");
        return -1;
    }
    uint32_t n = allow->via.array.size;
    char **keys = calloc(n, sizeof *keys);
    char dir[128];
    int rc = keys && rundir_make("troupe-allow", dir, sizeof dir) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "cannot make an allowlist folder in %s: %s", rundir_base(),
                 strerror(errno));
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        if (!(keys[i] = strndup(allow->via.array.ptr[i].via.str.ptr,
                                allow->via.array.ptr[i].type == MSGPACK_OBJECT_STR
                                    ? allow->via.array.ptr[i].via.str.size
                                    : 0)))
            rc = -1;
    char sub[160];
    snprintf(sub, sizeof sub, "%s/allow", dir);
    if (rc == 0 && auth_allow_write(sub, (const char *const *)keys, (int)n, err, errlen) == 0) {
        free(h->allow_dir);
        h->allow_dir = strdup(sub);
        h->own_allow = strdup(dir);
        h->own_nallow = (int)n;
    }
    else if (rc == 0) {
        rmdir(dir);
        rc = -1;
    }
    for (uint32_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    return rc == 0 && h->allow_dir && h->own_allow ? 0 : -1;
}

/*  "stdout": a sink's stdout goes to this file of the run directory, from
    which the supervisor copies what each checkpoint commits to the run's
    real stdout: what a sink wrote for items no checkpoint covers is
    dropped when it dies, and written again by its successor. */
static int take_stdout(host_t *h, const msgpack_object *cfg, char *err, size_t errlen)
{
    char *path = ctl_map_str(cfg, "stdout");
    if (!path) {
        /* or it writes the run's stdout itself, a regular file that the
           supervisor cuts back to its last checkpoint when it dies */
        h->out_file = ctl_map_bool(cfg, "stdout_direct", false);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || (fd != STDOUT_FILENO && dup2(fd, STDOUT_FILENO) < 0)) {
        snprintf(err, errlen, "cannot open the run's output file %s: %s", path,
                 strerror(errno));
        free(path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd != STDOUT_FILENO)
        close(fd);
    free(path);
    h->out_file = true;
    return 0;
}

static order_t *order_for(host_t *h, uint32_t origin);
static struct held *order_hold(host_t *h, order_t *o, zmq_msg_t *msg, const env_batch_t *b);

/*  An item found to kill its worker: failed from now on, never handled. */
static void add_poison(host_t *h, uint64_t origin, uint64_t item, const char *text,
                       size_t len)
{
    for (int i = 0; i < h->npoison; i++)
        if (h->poison[i].origin == origin && h->poison[i].item == item)
            return;
    struct poisoned *more = realloc(h->poison, (h->npoison + 1) * sizeof *more);
    if (!more)
        return; /* it kills its worker again, and is found again */
    h->poison = more;
    h->poison[h->npoison] = (struct poisoned){ (uint32_t)origin, item, strndup(text, len) };
    if (h->poison[h->npoison].text)
        h->npoison++;
}

static const char *poisoned(const host_t *h, uint32_t origin, uint64_t item)
{
    for (int i = 0; i < h->npoison; i++)
        if (h->poison[i].origin == origin && h->poison[i].item == item)
            return h->poison[i].text;
    return NULL;
}

/*  [POISON, origin, item, text] as a control message or in CONFIG's list. */
static void take_poison(host_t *h, const msgpack_object *e, uint32_t from)
{
    const msgpack_object *v = e->via.array.ptr;
    if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= from + 3
        && v[from].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && v[from + 1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && v[from + 2].type == MSGPACK_OBJECT_STR)
        add_poison(h, v[from].via.u64, v[from + 1].via.u64, v[from + 2].via.str.ptr,
                   v[from + 2].via.str.size);
}

/*  "items" and "item_slot": where this instance says what it handles. */
static void take_slot(host_t *h, const msgpack_object *cfg)
{
    char *path = ctl_map_str(cfg, "items");
    const msgpack_object *at = ctl_map_get(cfg, "item_slot");
    int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
    free(path);
    struct stat st;
    if (fd < 0 || !at || at->type != MSGPACK_OBJECT_POSITIVE_INTEGER || fstat(fd, &st) < 0
        || (uint64_t)st.st_size < (at->via.u64 + 1) * sizeof(poison_slot_t)) {
        if (fd >= 0)
            close(fd);
        return; /* a node's instance, or an old supervisor: no slot */
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return;
    h->slots_map = map;
    h->slots_len = (size_t)st.st_size;
    h->slot = (poison_slot_t *)map + at->via.u64;
}

/*  CONFIG's parts of the plan (plan/plan.h's codec): the pipeline's fields
    and the actor's. The module's path goes to *path (the caller's). */
static int take_plan(host_t *h, const msgpack_object *cfg, char **path)
{
    troupe_ctx_t *ctx = &h->ctx;
    plan_t pipe;
    memset(&pipe, 0, sizeof pipe);
    plan_defaults(&pipe);
    plan_actor_t a;
    plan_actor_init(&a, NULL);
    bool ok = plan_unpack_pipeline(ctl_map_get(cfg, "pipeline"), &pipe)
              && plan_unpack_actor(ctl_map_get(cfg, "actor"), &a, INT32_MAX) && a.module_path;
    if (ok) {
        ctx->pipeline = pipe.name;
        ctx->base_dir = pipe.dir;
        ctx->actor = a.name;
        *path = a.module_path;
        pipe.name = pipe.dir = a.name = a.module_path = NULL;
        ctx->instances = a.instances;
        h->batch = ctx->batch = pipe.batch; /* ctx's: for troupe_index_share */
        h->window = pipe.window;
        h->credit = pipe.credit;
        h->ordered = a.ordered > 0;
        h->retries = a.retries;
        ok = (ctx->args = calloc((size_t)a.nargs + 1, sizeof *ctx->args)) != NULL;
        for (int i = 0; ok && i < a.nargs; i++) {
            ctx->args[ctx->nargs++] = (host_arg_t){ a.args[i].key, a.args[i].value };
            a.args[i].key = a.args[i].value = NULL;
        }
    }
    free(pipe.name);
    free(pipe.file);
    free(pipe.dir);
    free(pipe.rundir);
    free(pipe.tcp_host);
    plan_actor_clear(&a);
    return ok ? 0 : -1;
}

/*  "restore": the last checkpoint of this instance's predecessor, as it
    packed it: the module's state, the items it had taken, how far an
    ordered actor had handed its input on. */
static int take_restore(host_t *h, const msgpack_object *r, char *err, size_t errlen)
{
    troupe_ctx_t *ctx = &h->ctx;
    const msgpack_object *seen = ctl_map_get(r, "seen");
    if (seen && seen_unpack(&h->seen, seen) < 0) {
        snprintf(err, errlen, "the checkpoint to resume from is damaged (seen)");
        return -1;
    }
    const msgpack_object *order = ctl_map_get(r, "order");
    for (uint32_t i = 0; order && order->type == MSGPACK_OBJECT_ARRAY
                         && i < order->via.array.size; i++) {
        const msgpack_object *e = &order->via.array.ptr[i];
        order_t *o;
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2
            || e->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || e->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || !(o = order_for(h, (uint32_t)e->via.array.ptr[0].via.u64))) {
            snprintf(err, errlen, "the checkpoint to resume from is damaged (order)");
            return -1;
        }
        o->next_seq = e->via.array.ptr[1].via.u64;
    }
    const msgpack_object *held = ctl_map_get(r, "held");
    for (uint32_t i = 0; held && held->type == MSGPACK_OBJECT_ARRAY
                         && i < held->via.array.size; i++) {
        const msgpack_object *f = &held->via.array.ptr[i];
        zmq_msg_t msg;
        env_batch_t b;
        msgpack_zone zone;
        msgpack_object root;
        msgpack_zone_init(&zone, 4096);
        bool ok = f->type == MSGPACK_OBJECT_BIN
                  && env_decode(f->via.bin.ptr, f->via.bin.size, &zone, &root) == ENV_OK
                  && env_batch_view(&root, &b) == ENV_OK;
        order_t *o = ok ? order_for(h, b.origin) : NULL;
        msgpack_zone_destroy(&zone);
        if (!o || zmq_msg_init_size(&msg, f->via.bin.size) != 0) {
            snprintf(err, errlen, "the checkpoint to resume from is damaged (held)");
            return -1;
        }
        memcpy(zmq_msg_data(&msg), f->via.bin.ptr, f->via.bin.size);
        struct held *x = order_hold(h, o, &msg, &b);
        zmq_msg_close(&msg);
        if (!x) {
            snprintf(err, errlen, "out of memory for what the checkpoint holds");
            return -1;
        }
    }
    const msgpack_object *state = ctl_map_get(r, "state");
    troupe_restore_fn *fn = module_restore(ctx->mod);
    if (!state || state->type == MSGPACK_OBJECT_NIL || !fn)
        return 0;
    host_group_reset(ctx);
    int rc = fn(ctx, state);
    if (rc == TROUPE_ERROR || ctx->failed) {
        snprintf(err, errlen, "restore failed: %.400s",
                 ctx->failed ? ctx->error : "(no message given)");
        return -1;
    }
    return 0;
}

static int take_config(host_t *h, const msgpack_object *cfg, char *err,
                       size_t errlen)
{
    troupe_ctx_t *ctx = &h->ctx;
    char *path = NULL;
    if (take_plan(h, cfg, &path) < 0) {
        snprintf(err, errlen, "incomplete config from the supervisor");
        free(path);
        return -1;
    }
    ctx->origin = (uint32_t)ctl_map_u64(cfg, "index", 0);
    ctx->instance = (unsigned)ctl_map_u64(cfg, "instance", 0);
    ctx->log = (unsigned)ctl_map_u64(cfg, "log", 0);
    h->incarnation = (unsigned)ctl_map_u64(cfg, "incarnation", 0);
    const msgpack_object *curve = ctl_map_get(cfg, "curve");
    if (curve && take_curve(h, curve, err, errlen) < 0) {
        free(path);
        return -1;
    }
    char id[256];
    snprintf(id, sizeof id, "%s#%u", ctx->actor, ctx->instance);
    ctx->id = strdup(id);
    if (h->embed) {
        ctx->mod = h->embed->module;
        ctx->state = h->embed->arg;
    }
    else
        ctx->mod = module_load(path, &h->dl, err, errlen);
    free(path);
    if (!ctx->mod)
        return -1;
    h->ckpt_on = !h->embed && ctl_map_bool(cfg, "checkpoint", false);
    char *ckpt_path = h->ckpt_on ? ctl_map_str(cfg, "ckpt_file") : NULL;
    if (ckpt_path) {
        h->ckpt_fd = open(ckpt_path, O_RDWR | O_CLOEXEC);
        /* its predecessor's last checkpoint stays until ours replaces it */
        if (h->ckpt_fd >= 0 && ckpt_file_head(h->ckpt_fd, &h->ckpt_head) < 0)
            h->ckpt_head = (ckpt_head_t){ 0 };
        free(ckpt_path);
    }
    take_slot(h, cfg);
    const msgpack_object *poison = ctl_map_get(cfg, "poison");
    for (uint32_t i = 0; poison && poison->type == MSGPACK_OBJECT_ARRAY
                         && i < poison->via.array.size; i++)
        take_poison(h, &poison->via.array.ptr[i], 0);
    if (take_stdout(h, cfg, err, errlen) < 0)
        return -1;
    if (ctx->mod->start) {
        host_group_reset(ctx);
        int rc = ctx->mod->start(ctx);
        if (rc == TROUPE_ERROR || ctx->failed) {
            snprintf(err, errlen, "%s", ctx->failed ? ctx->error : "start failed");
            return -1;
        }
    }
    if (setup_outputs(h, ctl_map_get(cfg, "outputs"), err, errlen) < 0)
        return -1;
    /* An item sent again after a crash must not count twice where it leaves
       a mark: in a module's state, or out of the pipeline. An ordered actor
       drops repeats by their place in the order instead. */
    h->dedup = !h->ordered
               && (ctl_map_bool(cfg, "exact", false)
                   || (ctx->mod->flags & TROUPE_STATEFUL) || ctx->nouts == 0);
    const msgpack_object *restore = ctl_map_get(cfg, "restore");
    if (restore && take_restore(h, restore, err, errlen) < 0)
        return -1;
    /* inputs are connected on START, once every producer has bound */
    return 0;
}

/* ==== handling items =============================================================== */

static inrec_t *rec_new(host_t *h, int input, uint64_t batch_id)
{
    inrec_t *r = h->free_recs;
    if (r)
        h->free_recs = r->next_free;
    else if ((r = malloc(sizeof *r))) {
        r->next_made = h->made_recs;
        h->made_recs = r;
    }
    else
        return NULL;
    r->input = input;
    r->batch_id = batch_id;
    r->pending = 1; /* held while its groups are handled */
    r->effect = false;
    r->next_free = NULL;
    h->ctx.stats.held++;
    return r;
}

/*  Acknowledges an input batch (sent at the end of the loop turn), unless
    the host has failed (host_fatal): what it holds unacknowledged then
    goes to its successor. */
static void ack_batch(host_t *h, int input, uint64_t batch_id)
{
    if (!h->fatal && chan_in_ack(h->ctx.ins[input], batch_id) < 0)
        host_fatal(h, "for an acknowledgement");
}

static void ack_input(void *arg, int input, uint64_t batch_id)
{
    host_t *h = arg;
    ack_batch(h, input, batch_id);
    h->ctx.stats.held--;
}

/*  Everything a batch made is safely downstream: it is acknowledged, or
    for an exact actor, it waits for the checkpoint that covers it. */
static void rec_release(host_t *h, inrec_t *r)
{
    if (--r->pending > 0)
        return;
    /* a batch none of whose values reached the module (all empty, all
       failed or repeats: a filter's or a reducer's pass-through) changed
       nothing a checkpoint keeps */
    if (!h->ckpt_on || !r->effect)
        ack_input(h, r->input, r->batch_id);
    else if (ckpt_wait(&h->ckpt, r->input, r->batch_id, now_ns()) < 0)
        /* acknowledged before a checkpoint covers it, it would be lost
           with a death before the next one */
        host_fatal(h, "for a batch waiting for a checkpoint");
    r->next_free = h->free_recs;
    h->free_recs = r;
}

static void on_out_acked(void *arg, inrec_t *src)
{
    if (src)
        rec_release(arg, src);
}

static void outs_begin(host_t *h, uint32_t origin, uint64_t seq, inrec_t *src)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        chan_out_begin(h->ctx.outs[i], origin, seq, src);
}

/*  A batch that cannot be made is not dropped: the input it came from
    would be acknowledged with nothing made of it. */
static void outs_flush(host_t *h)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (chan_out_flush(h->ctx.outs[i]) < 0)
            host_fatal(h, "for an output batch");
}

/*  The group just made by a hook goes to every output; a failed item is
    reported and travels on as its message. */
static void group_end(host_t *h, int rc)
{
    troupe_ctx_t *ctx = &h->ctx;
    if (rc == TROUPE_ERROR || ctx->failed) {
        if (!ctx->failed)
            snprintf(ctx->error, sizeof ctx->error, "failed (no message given)");
        ctx->stats.failed++;
        send_fail(h, ctx->item, ctx->error);
        for (int i = 0; i < ctx->nouts; i++)
            chan_out_group_failed(ctx->outs[i], ctx->error);
        return;
    }
    if (ctx->emit_open) { /* emit_begin without emit_end: drop the half value,
                             not counted yet, or the group is garbage */
        ctx->group_sb.size = ctx->emit_at;
        ctx->emit_open = false;
    }
    ctx->stats.items_out += ctx->group_n;
    for (int i = 0; i < ctx->nouts; i++)
        chan_out_group(ctx->outs[i], ctx->group_n, ctx->group_sb.data,
                       ctx->group_sb.size);
}

static void split_if_big(host_t *h, uint32_t origin, uint64_t next_seq,
                         inrec_t *src)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (chan_out_size(h->ctx.outs[i]) > SPLIT_BYTES) {
            outs_flush(h);
            outs_begin(h, origin, next_seq, src);
            return;
        }
}

/*  Runs the message hook over groups [from, to) of a batch. */
static void handle_groups(host_t *h, const env_batch_t *b, uint32_t from,
                          uint32_t to, inrec_t *src)
{
    troupe_ctx_t *ctx = &h->ctx;
    troupe_message_fn *fn = ctx->mod->message;
    uint64_t t0 = now_ns();
    outs_begin(h, b->origin, b->first_seq + from, src);
    for (uint32_t g = from; g < to; g++) {
        ctx->item = b->first_seq + g;
        if (!b->groups.ptr) { /* all empty: nothing to call the module for */
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group(ctx->outs[i], 0, NULL, 0);
            continue;
        }
        const msgpack_object *grp = &b->groups.ptr[g];
        if (grp->type == MSGPACK_OBJECT_STR) { /* failed upstream: pass on */
            char msg[512];
            snprintf(msg, sizeof msg, "%.*s", (int)grp->via.str.size,
                     grp->via.str.ptr);
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group_failed(ctx->outs[i], msg);
            continue;
        }
        bool seen = grp->type != MSGPACK_OBJECT_NIL && h->dedup
                    && seen_check(&h->seen, b->origin, ctx->item);
        if (grp->type == MSGPACK_OBJECT_NIL || seen) {
            /* a repeat we took ourselves may have been taken since our last
               checkpoint: this batch, which is its only copy now if the
               first one's producer died, waits for the next checkpoint as
               the first one does (touched), or a death before it would
               lose the item */
            h->touched |= seen;
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group_repeat(ctx->outs[i]);
            continue;
        }
        ctx->stats.items_in += grp->via.array.size;
        const char *poison = h->npoison ? poisoned(h, b->origin, ctx->item) : NULL;
        if (poison) { /* it kills whoever handles it: failed, not handled */
            host_group_reset(ctx);
            snprintf(ctx->error, sizeof ctx->error, "%s", poison);
            ctx->failed = true;
            group_end(h, TROUPE_ERROR);
            continue;
        }
        if (h->slot) { /* what we die on, if we do */
            h->slot->origin = b->origin;
            h->slot->item = ctx->item;
            __atomic_store_n(&h->slot->busy, 1, __ATOMIC_RELEASE);
        }
        int rc = TROUPE_OK;
        h->touched = true;
        for (unsigned attempt = 0; attempt <= h->retries; attempt++) {
            host_group_reset(ctx);
            ctx->in_hook = true;
            rc = TROUPE_OK;
            for (uint32_t v = 0; v < grp->via.array.size && rc != TROUPE_ERROR; v++) {
                rc = fn(ctx, &grp->via.array.ptr[v]);
                if (ctx->failed)
                    rc = TROUPE_ERROR;
            }
            if (rc != TROUPE_ERROR)
                break;
        }
        ctx->in_hook = false;
        if (h->slot)
            __atomic_store_n(&h->slot->busy, 0, __ATOMIC_RELEASE);
        group_end(h, rc);
        if ((g & 63) == 63) {
            split_if_big(h, b->origin, ctx->item + 1, src);
            heartbeat(h);
        }
    }
    outs_flush(h);
    uint64_t spent = now_ns() - t0;
    ctx->stats.busy_ns += spent;
    if (to > from) {
        uint64_t per = spent / (to - from);
        h->cost_ns = h->cost_ns ? (h->cost_ns * 7 + per) / 8 : per;
    }
}

/*  What an item costs from here downstream: ours or the slowest of our
    consumers', whichever is more. Reported upstream with every ack. */
static uint64_t cost_downstream(host_t *h)
{
    uint64_t cost = h->cost_ns;
    for (int i = 0; i < h->ctx.nouts; i++) {
        uint64_t c = chan_out_cost(h->ctx.outs[i]);
        if (c > cost)
            cost = c;
    }
    return cost;
}

static order_t *order_for(host_t *h, uint32_t origin)
{
    for (int i = 0; i < h->norders; i++)
        if (h->orders[i].origin == origin)
            return &h->orders[i];
    order_t *more = realloc(h->orders, (h->norders + 1) * sizeof *more);
    if (!more)
        return NULL;
    h->orders = more;
    order_t *o = &h->orders[h->norders++];
    o->origin = origin;
    o->next_seq = 0;
    o->list = NULL;
    return o;
}

/*  A held batch is done with: its record waits for the next early one. */
static void held_free(host_t *h, held_t *x)
{
    zmq_msg_close(&x->msg);
    x->next = h->free_held;
    h->free_held = x;
}

static bool decode_batch(host_t *h, zmq_msg_t *msg, env_batch_t *b);

/*  Hands on, in order, every held batch that continues the sequence; with
    `all`, everything held, gaps or not (the input has ended). A held batch
    is decoded here, once: on arrival only its header was read. */
static void order_drain(host_t *h, order_t *o, bool all)
{
    while (!h->fatal && o->list && (all || o->list->first_seq <= o->next_seq)) {
        held_t *x = o->list;
        uint64_t end = x->first_seq + x->ngroups;
        env_batch_t b;
        if (end > o->next_seq) {
            if (decode_batch(h, &x->msg, &b)) {
                uint64_t from = o->next_seq > x->first_seq ? o->next_seq - x->first_seq : 0;
                handle_groups(h, &b, (uint32_t)from, b.groups.size, NULL);
                o->next_seq = end;
            }
            else if (h->fatal)
                return; /* out of memory: it stays held, as its checkpoint has it */
            /* else not a batch after all (counted): its header moves nothing */
        }
        o->list = x->next;
        if (x->rec) { /* handed on: the checkpoint's position covers it */
            x->rec->effect = true;
            rec_release(h, x->rec);
            h->held_waiting--;
        }
        held_free(h, x);
    }
}

/*  Makes the batch zone ready for the next batch. Clearing a msgpack zone
    keeps its first chunk and frees every other, and a batch of 4096
    one-value groups needs about 200 KB of msgpack_objects: with a first
    chunk smaller than that, every batch would allocate the rest again and
    free it. Worse, glibc serves a chunk of 128 KB or more with mmap when
    its heap has no free block that large, and unmaps it on free, so once
    it starts, every batch maps, faults in and unmaps its zone (one run of
    bench/map.zpl in four or five took twice as long, 8000 page faults
    more, nearly all of them in one actor). So a zone that a batch outgrew
    is made again with a first chunk twice as large, up to ZONE_KEEP_MAX,
    and after a batch or two a whole batch fits in what clearing keeps.
    Bigger batches than that still allocate their spill each time. */
static void batch_zone_clear(host_t *h)
{
    if (h->zone.chunk_list.head != h->zone_first && h->zone_size < ZONE_KEEP_MAX) {
        msgpack_zone bigger;
        if (msgpack_zone_init(&bigger, h->zone_size * 2)) {
            msgpack_zone_destroy(&h->zone);
            h->zone = bigger;
            h->zone_size *= 2;
            h->zone_first = h->zone.chunk_list.head;
            return;
        }
    }
    msgpack_zone_clear(&h->zone);
}

/*  Decodes a batch frame into the batch zone (which it clears first). A
    frame that is not a batch is counted and dropped; out of memory, the
    host fails (host_fatal), since the batch may not be dropped. */
static bool decode_batch(host_t *h, zmq_msg_t *msg, env_batch_t *b)
{
    batch_zone_clear(h);
    msgpack_object root;
    env_status_t st = env_decode(zmq_msg_data(msg), zmq_msg_size(msg), &h->zone, &root);
    if (st == ENV_OK)
        st = env_batch_view(&root, b);
    if (st == ENV_E_NOMEM)
        host_fatal(h, "to decode a batch");
    else if (st != ENV_OK)
        h->ctx.stats.malformed++;
    return st == ENV_OK;
}

static bool read_batch(host_t *h, zmq_msg_t *msg, env_batch_t *b)
{
    if (!decode_batch(h, msg, b))
        return false;
    h->ctx.stats.batches_in++;
    return true;
}

/*  Holds a batch that came early, in first_seq order; the frame is moved
    into it. Returns its record, or NULL out of memory (the frame is the
    caller's still). */
static held_t *order_hold(host_t *h, order_t *o, zmq_msg_t *msg, const env_batch_t *b)
{
    held_t *x = h->free_held;
    if (x)
        h->free_held = x->next;
    else if (!(x = malloc(sizeof *x)))
        return NULL;
    memset(x, 0, sizeof *x);
    zmq_msg_init(&x->msg);
    zmq_msg_move(&x->msg, msg); /* the frame, now ours; b was decoded from it */
    x->first_seq = b->first_seq;
    x->ngroups = b->groups.size;
    held_t **pp = &o->list;
    while (*pp && (*pp)->first_seq < x->first_seq)
        pp = &(*pp)->next;
    x->next = *pp;
    *pp = x;
    return x;
}

/*  A batch held for later stays unacknowledged, as its producer's, while
    it waits a moment for the one before it (two workers' batches cross
    all the time). One held long, or too many held, would hold back its
    producers for good: with several source instances a gap may stay open
    until the input ends, which would then never come. Those are
    acknowledged once a checkpoint carries them whole (take_checkpoint). */
#define HOLD_ACK_NS 20000000ull
#define HOLD_ACK_MAX 8
static void promote_held(host_t *h)
{
    if (!h->held_waiting)
        return;
    uint64_t now = now_ns();
    bool all = h->held_waiting >= HOLD_ACK_MAX;
    for (int i = 0; i < h->norders; i++)
        for (held_t *x = h->orders[i].list; x; x = x->next)
            if (x->rec && (all || now - x->since_ns >= HOLD_ACK_NS)) {
                x->rec->effect = true;
                rec_release(h, x->rec);
                x->rec = NULL;
                h->held_waiting--;
            }
}

/*  An ordered actor hands on at once a batch that continues the sequence
    (the common case), and holds one that arrives early until its turn.
    Its input cannot wait for the order to be acknowledged: with several
    source instances a gap may stay open until the input ends, which it
    would then never do. So one that does not checkpoint acknowledges a
    batch once it is handed on or held, and the source's window bounds how
    far ahead anything can be; one that does (an ordered sink) acknowledges
    a batch once a checkpoint covers it: once handed on (the checkpoint's
    position), or, held for long, carried whole in the checkpoint
    (promote_held). Nothing is acknowledged before it is safely held: out
    of memory for that, the host fails instead (host_fatal), and the batch
    goes to its successor.
    Only the header of a batch is read on arrival (env_batch_peek): one
    that comes early is decoded once, when its turn comes. */
static void order_batch(host_t *h, int input, zmq_msg_t *msg)
{
    env_batch_t b;
    bool decoded = false;
    if (env_batch_peek(zmq_msg_data(msg), zmq_msg_size(msg), &b) == ENV_OK)
        h->ctx.stats.batches_in++;
    else if (read_batch(h, msg, &b))
        decoded = true; /* a header of another form: decoded whole */
    else
        return;
    order_t *o = order_for(h, b.origin);
    if (!o) {
        host_fatal(h, "for the order of a new origin");
        return;
    }
    uint64_t end = b.first_seq + b.groups.size;
    bool now = !o->list && b.first_seq <= o->next_seq && end > o->next_seq;
    if (now && !decoded && !decode_batch(h, msg, &b))
        return; /* not a batch after all (counted), or out of memory */
    inrec_t *r = h->ckpt_on ? rec_new(h, input, b.batch_id) : NULL;
    if (h->ckpt_on && !r) {
        host_fatal(h, "for the record of an input batch");
        return;
    }
    held_t *x = NULL;
    if (now) {
        handle_groups(h, &b, (uint32_t)(o->next_seq - b.first_seq), b.groups.size,
                      h->ctx.nouts ? r : NULL);
        o->next_seq = end;
    }
    else if (end > o->next_seq && !(x = order_hold(h, o, msg, &b))) {
        host_fatal(h, "to hold a batch that came early");
        if (r) { /* never acknowledged: back among the free ones */
            r->next_free = h->free_recs;
            h->free_recs = r;
            h->ctx.stats.held--;
        }
        return;
    }
    if (!r)
        ack_batch(h, input, b.batch_id); /* handed on, held, or a repeat */
    else if (x) {
        x->rec = r; /* acknowledged once handed on, or held long */
        x->since_ns = now_ns();
        h->held_waiting++;
    }
    else {
        /* the order's position is the checkpoint's too; and a repeat (of
           what has gone already, dropped) may repeat what we took since
           our last one, so it waits for the next as the first copy does */
        r->effect = true;
        rec_release(h, r);
    }
    if (x)
        order_drain(h, o, false);
}

static void handle_batch(host_t *h, int input, zmq_msg_t *msg)
{
    env_batch_t b;
    if (!read_batch(h, msg, &b))
        return;
    inrec_t *r = rec_new(h, input, b.batch_id);
    if (!r) { /* dropped unacknowledged, its producer would wait for ever */
        host_fatal(h, "for the record of an input batch");
        return;
    }
    h->touched = false;
    handle_groups(h, &b, 0, b.groups.size, h->ctx.nouts ? r : NULL);
    r->effect = h->touched;
    rec_release(h, r);
}

/*  The embedding caller takes each group itself; the batch is acknowledged
    at once, as a sink's is. Repeats are the caller's to drop: it knows
    which items it is still waiting for. */
static void collect_batch(host_t *h, int input, zmq_msg_t *msg)
{
    env_batch_t b;
    if (!read_batch(h, msg, &b))
        return;
    const actor_embed_t *e = h->embed;
    for (uint32_t g = 0; g < b.groups.size; g++) {
        const msgpack_object *grp = b.groups.ptr ? &b.groups.ptr[g] : NULL;
        if (grp && grp->type == MSGPACK_OBJECT_NIL)
            continue; /* a repeat */
        if (grp && grp->type == MSGPACK_OBJECT_ARRAY)
            h->ctx.stats.items_in += grp->via.array.size;
        e->collect(e->arg, b.origin, b.first_seq + g,
                   grp && grp->type == MSGPACK_OBJECT_ARRAY && !grp->via.array.size
                       ? NULL
                       : grp);
    }
    ack_batch(h, input, b.batch_id);
    if (e->collect_end)
        e->collect_end(e->arg);
}

static bool outs_ready(host_t *h)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (!chan_out_ready(h->ctx.outs[i]))
            return false;
    return true;
}

static bool outs_idle(host_t *h)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (!chan_out_idle(h->ctx.outs[i]))
            return false;
    return true;
}

static void read_input(host_t *h, int input)
{
    chan_in_t *in = h->ctx.ins[input];
    /* what the embedding caller collects makes no output: it is always
       taken, else a full task window and unread results would wait on
       each other */
    bool collect = h->embed && h->embed->collect;
    for (int n = 0; n < BATCHES_PER_TURN && !h->fatal && (collect || outs_ready(h)); n++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, in->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_more(&msg)) { /* we send one frame; anything else is junk */
            h->ctx.stats.malformed++;
            while (zmq_msg_more(&msg))
                zmq_msg_recv(&msg, in->sock, 0);
            zmq_msg_close(&msg);
            continue;
        }
        in->credit_owed++;
        if (h->embed && h->embed->collect)
            collect_batch(h, input, &msg);
        else if (h->ordered)
            order_batch(h, input, &msg);
        else
            handle_batch(h, input, &msg);
        zmq_msg_close(&msg);
    }
}

/*  How many items a source puts in its next batch. */
static uint64_t batch_size(host_t *h)
{
    uint64_t cost = 0;
    for (int i = 0; i < h->ctx.nouts; i++) {
        uint64_t c = chan_out_cost(h->ctx.outs[i]);
        if (c > cost)
            cost = c;
    }
    uint64_t n = !h->ctx.nouts ? h->batch
                 : cost ? BATCH_TARGET_NS / cost
                        : FIRST_BATCH;
    return n < 1 ? 1 : n > h->batch ? h->batch : n;
}

/*  A source makes one batch per call. Instances share the index space in
    fixed blocks of `batch` indexes (instance i takes blocks i, i+n, ...);
    a block goes out as one batch or, when items are costly, several. */
static void produce_batch(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    uint64_t block = ctx->instance + h->block_k * ctx->instances;
    uint64_t base = block * h->batch + h->block_off;
    uint64_t n = batch_size(h);
    if (n > h->batch - h->block_off)
        n = h->batch - h->block_off;
    uint64_t t0 = now_ns();
    outs_begin(h, ctx->origin, base, NULL);
    for (uint64_t i = 0; i < n; i++) {
        host_group_reset(ctx);
        ctx->item = base + i;
        ctx->in_hook = true;
        int rc = ctx->mod->produce(ctx, base + i);
        ctx->in_hook = false;
        if (rc == TROUPE_DONE) {
            h->source_done = true;
            break;
        }
        if (rc == TROUPE_LATER) {
            n = i; /* this index again once the fd is readable */
            break;
        }
        group_end(h, rc);
        if ((i & 63) == 63)
            split_if_big(h, ctx->origin, base + i + 1, NULL);
        if ((i < 64 || (i & 63) == 63) && now_ns() - t0 > BATCH_LINGER_NS) {
            n = i + 1; /* the rest of the block comes in the next batch */
            heartbeat(h);
            break;
        }
    }
    if (h->embed && h->embed->produce_end)
        h->embed->produce_end(h->embed->arg);
    outs_flush(h);
    h->block_off += n;
    if (h->block_off == h->batch) {
        h->block_k++;
        h->block_off = 0;
    }
    ctx->stats.busy_ns += now_ns() - t0;
}

static void flush_module(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    for (int i = 0; i < h->norders; i++)
        order_drain(h, &h->orders[i], true);
    h->flushed = true;
    if (!ctx->mod->flush)
        return;
    outs_begin(h, ctx->origin, ctx->instance, NULL);
    host_group_reset(ctx);
    ctx->item = ctx->instance;
    ctx->in_hook = true;
    int rc = ctx->mod->flush(ctx);
    ctx->in_hook = false;
    group_end(h, rc);
    outs_flush(h);
}

/* ==== checkpoints ==================================================================== */

/*  The module's snapshot into sb: exactly one msgpack value (nil without a
    hook). Returns 0, or -1 when the hook failed or packed something else. */
static int snapshot_module(host_t *h, msgpack_sbuffer *sb, char *why, size_t whylen)
{
    troupe_ctx_t *ctx = &h->ctx;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    troupe_snapshot_fn *fn = module_snapshot(ctx->mod);
    if (!fn) {
        msgpack_pack_nil(&pk);
        return 0;
    }
    host_group_reset(ctx);
    int rc = fn(ctx, &pk);
    if (rc == TROUPE_ERROR || ctx->failed) {
        snprintf(why, whylen, "%s", ctx->failed ? ctx->error : "(no message given)");
        ctx->failed = false;
        return -1;
    }
    /* one whole value, or the checkpoint would be garbage */
    msgpack_zone_clear(&h->ckpt_zone);
    msgpack_object obj;
    size_t off = 0;
    int st = sb->size ? msgpack_unpack(sb->data, sb->size, &off, &h->ckpt_zone, &obj)
                      : MSGPACK_UNPACK_CONTINUE;
    if (st != MSGPACK_UNPACK_SUCCESS) {
        snprintf(why, whylen, "the snapshot hook packed %s",
                 sb->size ? "more or less than one msgpack value" : "nothing");
        return -1;
    }
    return 0;
}

/*  [COMMIT, out]: tells the supervisor how much of a sink's output the
    checkpoints in its file cover, so that it copies that to stdout. At most
    every COMMIT_EVERY_NS while output flows: the rest is said when the
    flow pauses (say_commit from the loop), when the sink finishes, or read
    from the file when it dies. */
#define COMMIT_EVERY_NS 2000000ull
static void say_commit(host_t *h, bool now)
{
    uint64_t t = now_ns();
    if (h->commit_out <= h->commit_said
        || (!now && t - h->commit_said_ns < COMMIT_EVERY_NS))
        return;
    packbuf_t buf;
    packbuf_init(&buf);
    msgpack_pack_array(&buf.pk, 2);
    msgpack_pack_int(&buf.pk, CTL_COMMIT);
    msgpack_pack_uint64(&buf.pk, h->commit_out);
    send_packbuf(h, &buf);
    h->commit_said = h->commit_out;
    h->commit_said_ns = t;
}

/*  A checkpoint into the instance's file: kept as soon as written, so the
    batches it covers are acknowledged at once. */
static void keep_checkpoint(host_t *h, uint64_t seq, const msgpack_sbuffer *map,
                            uint64_t out, bool final)
{
    if (ckpt_file_write(h->ckpt_fd, &h->ckpt_head, map->data, map->size, out) < 0) {
        /* the file is in the run directory: this means a full disk. The
           batches stay unacknowledged until a checkpoint can be kept. */
        troupe_warn(&h->ctx, "cannot write a checkpoint: %s", strerror(errno));
        if (!final && ckpt_abandon(&h->ckpt, now_ns()) < 0)
            host_fatal(h, "for the batches a checkpoint could not cover");
        return;
    }
    if (!final)
        ckpt_kept(&h->ckpt, seq, ack_input, h);
    h->commit_out = out;
    say_commit(h, final);
}

/*  [CHECKPOINT, seq, {state, seen, order, out}, final], to the supervisor,
    which keeps it and answers CHECKPOINTED: an instance on a node, whose
    supervisor is on another machine. A final one (the run is being
    stopped) is sent as the actor leaves, so that what a sink wrote is
    committed; nobody answers it. */
static void send_checkpoint(host_t *h, uint64_t seq, const msgpack_sbuffer *map, bool final)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, CTL_CHECKPOINT);
    msgpack_pack_uint64(&pk, seq);
    msgpack_sbuffer_write(&sb, map->data, map->size);
    final ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    ctl_send(h->ctl, NULL, 0, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  A checkpoint: {state, seen, order, held, out}, what this instance has
    taken and made, covering every batch that waits for a checkpoint. */
static void take_checkpoint(host_t *h, bool final)
{
    uint64_t t0 = now_ns();
    char why[512];
    /* the buffers stay from one checkpoint to the next: one per batch */
    msgpack_sbuffer *state = &h->ckpt_state, *map = &h->ckpt_map;
    msgpack_sbuffer_clear(state);
    msgpack_sbuffer_clear(map);
    if (snapshot_module(h, state, why, sizeof why) < 0) {
        troupe_warn(&h->ctx, "snapshot failed: %s (no checkpoint taken; its items "
                    "stay unacknowledged)", why);
        ckpt_cost(&h->ckpt, now_ns(), 100 * (now_ns() - t0) + 1000000);
        return;
    }
    uint64_t seq = final ? h->ckpt.seq + 1 : ckpt_begin(&h->ckpt);
    msgpack_packer pk;
    msgpack_packer_init(&pk, map, msgpack_sbuffer_write);
    uint64_t out = 0;
    if (h->out_file) { /* how much of the output file is ours to commit */
        off_t end = lseek(STDOUT_FILENO, 0, SEEK_END);
        out = end > 0 ? (uint64_t)end : 0;
    }
    size_t nheld = 0; /* the held batches acknowledged, or to be by this */
    for (int i = 0; i < h->norders; i++)
        for (held_t *x = h->orders[i].list; x; x = x->next)
            nheld += !x->rec;
    msgpack_pack_map(&pk, (h->out_file ? 4 : 3) + (nheld ? 1 : 0));
    if (nheld) { /* what an ordered actor holds for later is covered too */
        ctl_pack_str(&pk, "held");
        msgpack_pack_array(&pk, (uint32_t)nheld);
        for (int i = 0; i < h->norders; i++)
            for (held_t *x = h->orders[i].list; x; x = x->next) {
                if (x->rec)
                    continue; /* its producer still holds it */
                msgpack_pack_bin(&pk, zmq_msg_size(&x->msg));
                msgpack_pack_bin_body(&pk, zmq_msg_data(&x->msg), zmq_msg_size(&x->msg));
            }
    }
    ctl_pack_str(&pk, "state");
    msgpack_sbuffer_write(map, state->data, state->size);
    ctl_pack_str(&pk, "seen");
    seen_pack(&h->seen, &pk);
    ctl_pack_str(&pk, "order");
    msgpack_pack_array(&pk, (uint32_t)h->norders);
    for (int i = 0; i < h->norders; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint32(&pk, h->orders[i].origin);
        msgpack_pack_uint64(&pk, h->orders[i].next_seq);
    }
    if (h->out_file) {
        ctl_pack_str(&pk, "out");
        msgpack_pack_uint64(&pk, out);
    }
    if (h->ckpt_fd >= 0)
        keep_checkpoint(h, seq, map, out, final);
    else
        send_checkpoint(h, seq, map, final);
    uint64_t t1 = now_ns();
    ckpt_cost(&h->ckpt, t1, t1 - t0);
}

/*  How many handled batches make a checkpoint due. One in a file costs
    two writes: one after every batch (as its cost allows). One sent costs
    a round trip: one every CKPT_BATCHES. */
static size_t checkpoint_batches(const host_t *h)
{
    return h->ckpt_fd >= 0 ? 1 : CKPT_BATCHES;
}

static void maybe_checkpoint(host_t *h)
{
    promote_held(h);
    if (h->ckpt_on && ckpt_due(&h->ckpt, now_ns(), checkpoint_batches(h), CKPT_MAX_WAIT_NS))
        take_checkpoint(h, false);
}

/*  How long the loop may wait before a checkpoint falls due (-1: none). */
static long checkpoint_wait_ms(const host_t *h)
{
    if (!h->ckpt_on || !h->ckpt.nwaiting || h->ckpt.in_flight)
        return -1;
    /* due once enough batches wait (one, with a file) or the oldest has
       waited long enough, and not before its cost allows */
    uint64_t now = now_ns(), at = h->ckpt.nwaiting >= checkpoint_batches(h)
                                      ? 0
                                      : h->ckpt.oldest_ns + CKPT_MAX_WAIT_NS;
    if (h->ckpt.not_before_ns > at)
        at = h->ckpt.not_before_ns;
    return at <= now ? 0 : (long)((at - now + 999999) / 1000000);
}

/* ==== the loop ======================================================================= */

static void peer_lost(host_t *h, const char *name)
{
    for (int i = 0; i < h->ctx.nouts; i++) {
        chan_out_lost(h->ctx.outs[i], name);
        chan_out_pump(h->ctx.outs[i]);
    }
}

static void peer_gone(host_t *h, const char *name)
{
    for (int i = 0; i < h->ctx.nouts; i++) {
        chan_out_gone(h->ctx.outs[i], name);
        chan_out_pump(h->ctx.outs[i]);
    }
}

/*  [PEER_BACK, endpoint, producer]: the producer was restarted, and bound
    at `endpoint` (on tcp, a new port). */
static void peer_back(host_t *h, const char *endpoint, const char *producer)
{
    for (int i = 0; i < h->ctx.nins; i++) {
        chan_in_t *in = h->ctx.ins[i];
        if (*producer ? in->producer && !strcmp(in->producer, producer)
                      : !strcmp(in->endpoint, endpoint))
            chan_in_rehello(in, endpoint);
    }
}

static void handle_control(host_t *h)
{
    msgpack_zone *zone = &h->ctl_zone;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        msgpack_object root;
        msgpack_zone_clear(zone);
        int kind = ctl_read(h, zone, &root, &msg);
        if (kind == 0) {
            zmq_msg_close(&msg);
            break;
        }
        char arg[512] = "", arg2[128] = "";
        if (kind > 0 && root.via.array.size > 1
            && root.via.array.ptr[1].type == MSGPACK_OBJECT_STR)
            snprintf(arg, sizeof arg, "%.*s", (int)root.via.array.ptr[1].via.str.size,
                     root.via.array.ptr[1].via.str.ptr);
        if (kind > 0 && root.via.array.size > 2
            && root.via.array.ptr[2].type == MSGPACK_OBJECT_STR)
            snprintf(arg2, sizeof arg2, "%.*s", (int)root.via.array.ptr[2].via.str.size,
                     root.via.array.ptr[2].via.str.ptr);
        if (kind == CTL_POISON) /* its text points into the frame */
            take_poison(h, &root, 1);
        zmq_msg_close(&msg);
        switch (kind) {
        case CTL_INPUT_END: h->input_end = true; break;
        case CTL_DRAIN: h->source_done = true; break;
        case CTL_STOP: h->stop = true; break;
        case CTL_PEER_LOST: peer_lost(h, arg); break;
        case CTL_PEER_BACK: peer_back(h, arg, arg2); break;
        case CTL_PEER_GONE: peer_gone(h, arg); break;
        case CTL_CHECKPOINTED:
            if (root.via.array.size > 1
                && root.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                ckpt_kept(&h->ckpt, root.via.array.ptr[1].via.u64, ack_input, h);
            break;
        case CTL_ABORT:
            if (h->embed && h->embed->aborted)
                h->embed->aborted(h->embed->arg, arg);
            h->stop = true;
            break;
        default: break;
        }
    }
}

static bool finished(host_t *h)
{
    if (!h->started)
        return false;
    bool source = h->ctx.mod->produce != NULL;
    if (source ? !h->source_done : !h->input_end)
        return false;
    if (!source && !h->flushed)
        flush_module(h);
    if (h->fatal || !outs_idle(h))
        return false; /* failed in the flush: no DONE (host_fatal) */
    /* one last checkpoint, after the flush: it covers the last items and
       what the flush wrote (a sink's buffered output); kept at once when it
       goes to the file, answered later when sent */
    if (h->ckpt_on && !h->ckpt_closed && !h->ckpt.in_flight) {
        take_checkpoint(h, false);
        h->ckpt_closed = true;
        say_commit(h, true);
    }
    return !h->ckpt_on || (h->ckpt_closed && !ckpt_pending(&h->ckpt));
}

static void run_loop(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    int n = 1 + ctx->nouts + ctx->nins;
    zmq_pollitem_t *items = calloc(n + 2, sizeof *items);
    if (!items)
        return;
    h->next_beat = now_ms() + CTL_HEARTBEAT_MS;
    while (!h->stop) {
        bool can_take = outs_ready(h);
        bool can_produce = ctx->mod->produce && !h->source_done && can_take
                           && h->started && ctx->wait_fd < 0;
        items[0] = (zmq_pollitem_t){ .socket = h->ctl, .events = ZMQ_POLLIN };
        for (int i = 0; i < ctx->nouts; i++)
            items[1 + i] = (zmq_pollitem_t){ .socket = ctx->outs[i]->sock,
                                             .events = ZMQ_POLLIN };
        for (int i = 0; i < ctx->nins; i++)
            items[1 + ctx->nouts + i]
                = (zmq_pollitem_t){ .socket = ctx->ins[i]->sock,
                                    .events = can_take || (h->embed && h->embed->collect)
                                                  ? ZMQ_POLLIN
                                                  : 0 };
        int npoll = n;
        if (ctx->wait_fd >= 0 && !h->source_done)
            items[npoll++] = (zmq_pollitem_t){ .fd = ctx->wait_fd, .events = ZMQ_POLLIN };
        if (h->embed && h->embed->wake_fd >= 0 && h->embed->wake_fd != ctx->wait_fd)
            items[npoll++] = (zmq_pollitem_t){ .fd = h->embed->wake_fd,
                                               .events = ZMQ_POLLIN };
        uint64_t now = now_ms();
        long timeout = can_produce ? 0
                       : h->next_beat > now ? (long)(h->next_beat - now)
                                            : 0;
        long ckpt_ms = checkpoint_wait_ms(h);
        if (ckpt_ms >= 0 && ckpt_ms < timeout)
            timeout = ckpt_ms;
        if (h->commit_out > h->commit_said && timeout > 1)
            timeout = 1; /* a pause in the output: tell the supervisor soon */
        if (h->held_waiting && timeout > (long)(HOLD_ACK_NS / 1000000))
            timeout = (long)(HOLD_ACK_NS / 1000000);
        int polled = zmq_poll(items, npoll, timeout);
        if (polled < 0 && errno != EINTR)
            break;
        if (polled == 0)
            say_commit(h, true);
        if (npoll > n && items[n].fd == ctx->wait_fd
            && (items[n].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            ctx->wait_fd = -1; /* readable: produce again */
        if (h->embed && h->embed->tick && !h->embed->tick(h->embed->arg))
            break;
        if (items[0].revents & ZMQ_POLLIN)
            handle_control(h);
        for (int i = 0; i < ctx->nouts; i++)
            if (items[1 + i].revents & ZMQ_POLLIN)
                chan_out_read(ctx->outs[i], 256, &ctx->stats.malformed);
        bool got_input = false;
        for (int i = 0; i < ctx->nins; i++)
            if (items[1 + ctx->nouts + i].revents & ZMQ_POLLIN) {
                read_input(h, i);
                got_input = true;
            }
        if (h->fatal)
            break; /* nothing more: no ack, no checkpoint, no DONE */
        if (got_input)
            h->busy = true;
        else if (h->busy && can_take) {
            h->busy = false; /* nothing more came: about to wait */
            if (ctx->mod->idle)
                ctx->mod->idle(ctx);
        }
        maybe_checkpoint(h);
        if (can_produce && outs_ready(h))
            produce_batch(h);
        if (h->fatal)
            break;
        /* the embedding caller's results go nowhere further: reporting its
           outputs' cost back to the workers would feed it back in a loop */
        uint64_t cost = h->embed && h->embed->collect ? 0 : cost_downstream(h);
        for (int i = 0; i < ctx->nins; i++) {
            ctx->ins[i]->cost_ns = cost;
            chan_in_flush(ctx->ins[i]);
        }
        for (int i = 0; i < ctx->nouts; i++)
            chan_out_pump(ctx->outs[i]);
        if (!h->done_sent && finished(h)) {
            for (int i = 0; i < ctx->nins; i++)
                chan_in_flush(ctx->ins[i]);
            send_stats(h, CTL_DONE);
            h->done_sent = true;
        }
        heartbeat(h);
    }
    free(items);
}

/* ==== set-up and tear-down ============================================================ */

static void host_free(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    if (ctx->mod && ctx->mod->stop)
        ctx->mod->stop(ctx);
    for (int i = 0; i < ctx->nouts; i++)
        chan_out_destroy(&ctx->outs[i]);
    /* after the outputs: czmq's context ends with zauth, and waits for
       every socket in it to be closed */
    auth_destroy(&h->auth);
    if (h->own_allow) {
        auth_allow_remove(h->allow_dir, h->own_nallow);
        rmdir(h->own_allow);
        free(h->own_allow);
    }
    for (int i = 0; i < ctx->nins; i++)
        chan_in_destroy(&ctx->ins[i]);
    free(ctx->outs);
    free(ctx->ins);
    for (int i = 0; i < h->norders; i++)
        while (h->orders[i].list) {
            held_t *x = h->orders[i].list;
            h->orders[i].list = x->next;
            zmq_msg_close(&x->msg);
            free(x);
        }
    free(h->orders);
    while (h->free_held) {
        held_t *x = h->free_held;
        h->free_held = x->next;
        free(x);
    }
    seen_clear(&h->seen);
    ckpt_fini(&h->ckpt);
    if (h->slots_map)
        munmap(h->slots_map, h->slots_len);
    if (h->ckpt_fd >= 0)
        close(h->ckpt_fd);
    msgpack_sbuffer_destroy(&h->ckpt_state);
    msgpack_sbuffer_destroy(&h->ckpt_map);
    msgpack_zone_destroy(&h->ckpt_zone);
    for (int i = 0; i < h->npoison; i++)
        free(h->poison[i].text);
    free(h->poison);
    while (h->made_recs) { /* stopped early, some may still be held */
        inrec_t *r = h->made_recs;
        h->made_recs = r->next_made;
        free(r);
    }
    for (int i = 0; i < ctx->nargs; i++) {
        free(ctx->args[i].key);
        free(ctx->args[i].value);
    }
    free(ctx->args);
    for (int i = 0; i < ctx->npaths; i++)
        free(ctx->paths[i]);
    free(ctx->paths);
    free(ctx->base_dir);
    free(ctx->pipeline);
    free(ctx->actor);
    free(ctx->id);
    msgpack_sbuffer_destroy(&ctx->group_sb);
    msgpack_zone_destroy(&h->zone);
    if (h->ctl_zone.chunk_list.head)
        msgpack_zone_destroy(&h->ctl_zone);
    if (h->ctl)
        zmq_close(h->ctl);
    if (h->zctx)
        zmq_ctx_term(h->zctx);
    if (h->dl)
        dlclose(h->dl);
    free(h->rid);
    if (h->curve_secret)
        explicit_bzero(h->curve_secret, strlen(h->curve_secret));
    free(h->curve_secret);
    free(h->curve_public);
    free(h->allow_dir);
}

/*  Waits up to `ms` for a control message of kind `want` (or STOP). */
static int wait_for(host_t *h, int want, int ms, msgpack_zone *zone,
                    msgpack_object *root, zmq_msg_t *msg)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return -1;
        zmq_pollitem_t it = { .socket = h->ctl, .events = ZMQ_POLLIN };
        long slice = (long)(deadline - now);
        if (h->embed && slice > 100)
            slice = 100; /* the caller's tick runs meanwhile */
        if (zmq_poll(&it, 1, slice) < 0 && errno != EINTR)
            return -1;
        if (h->embed && h->embed->tick && !h->embed->tick(h->embed->arg))
            return -1;
        if (!(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_close(msg);
        zmq_msg_init(msg);
        msgpack_zone_clear(zone);
        int kind = ctl_read(h, zone, root, msg);
        if (kind == CTL_ABORT && h->embed && h->embed->aborted) {
            char why[512];
            const msgpack_object *t = root->via.array.size > 1 ? &root->via.array.ptr[1] : NULL;
            snprintf(why, sizeof why, "%.*s",
                     t && t->type == MSGPACK_OBJECT_STR ? (int)t->via.str.size : 0,
                     t && t->type == MSGPACK_OBJECT_STR ? t->via.str.ptr : "");
            h->embed->aborted(h->embed->arg, why);
            return CTL_ABORT;
        }
        if (kind == want || kind == CTL_STOP)
            return kind;
    }
}

/*  [READY, [endpoint per output]]: where each output is bound, as zmq
    says (on tcp, with the port the system picked). */
static void send_ready(host_t *h)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_READY);
    msgpack_pack_array(&pk, (uint32_t)h->ctx.nouts);
    for (int i = 0; i < h->ctx.nouts; i++) {
        char ep[1024] = "";
        size_t len = sizeof ep;
        zmq_getsockopt(h->ctx.outs[i]->sock, ZMQ_LAST_ENDPOINT, ep, &len);
        ctl_pack_str(&pk, ep);
    }
    ctl_send(h->ctl, NULL, 0, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  A problem before the loop: on stderr in an actor process, to the caller
    in a program that embeds the host. */
static void host_say(host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_say(host_t *h, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (h->embed && h->embed->aborted)
        h->embed->aborted(h->embed->arg, text);
    else if (!h->embed) {
        char who[64];
        snprintf(who, sizeof who, "troupe actor %s", h->rid ? h->rid : "?");
        log_write(who, LOG_ERROR, "%s", text);
    }
}

static int host_main(const char *control, const char *id, const actor_embed_t *embed)
{
    host_t h;
    memset(&h, 0, sizeof h);
    h.embed = embed;
    msgpack_sbuffer_init(&h.ctx.group_sb);
    msgpack_packer_init(&h.ctx.group_pk, &h.ctx, host_group_write);
    msgpack_zone_init(&h.zone, ZONE_FIRST);
    h.zone_size = ZONE_FIRST;
    h.zone_first = h.zone.chunk_list.head;
    h.ctx.wait_fd = -1;
    h.ckpt_fd = -1;
    msgpack_sbuffer_init(&h.ckpt_state);
    msgpack_sbuffer_init(&h.ckpt_map);
    msgpack_zone_init(&h.ckpt_zone, 1024);
    msgpack_zone_init(&h.ctl_zone, 1024);
    h.rid = strdup(id);
    h.zctx = zmq_ctx_new();
    h.ctl = h.zctx ? zmq_socket(h.zctx, ZMQ_DEALER) : NULL;
    if (!h.ctl || !h.rid || !h.ctl_zone.chunk_list.head) {
        host_say(&h, "cannot make a zmq socket: %s", zmq_strerror(errno));
        host_free(&h);
        return 1;
    }
    int linger = 2000;
    zmq_setsockopt(h.ctl, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(h.ctl, ZMQ_ROUTING_ID, id, strlen(id));
    /* an embedding caller connects while its supervisor is still starting:
       retry soon, not after the default 100 ms */
    int ivl = 2;
    zmq_setsockopt(h.ctl, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (zmq_connect(h.ctl, control) != 0) {
        host_say(&h, "cannot connect to %s: %s", control, zmq_strerror(errno));
        host_free(&h);
        return 1;
    }
    {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, CTL_HELLO);
        msgpack_pack_int(&pk, embed ? 0 : getpid());
        ctl_send(h.ctl, NULL, 0, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    /* the config's zone and frame live until the end: the input list in
       it is used on START */
    msgpack_zone cfgzone, zone;
    msgpack_zone_init(&cfgzone, 4096);
    msgpack_zone_init(&zone, 1024);
    msgpack_object cfg, root;
    zmq_msg_t cfgmsg, msg;
    zmq_msg_init(&cfgmsg);
    zmq_msg_init(&msg);
    int rc = 1;
    char err[512] = "";
    int kind = wait_for(&h, CTL_CONFIG, 30000, &cfgzone, &cfg, &cfgmsg);
    if (kind != CTL_CONFIG) {
        if (kind != CTL_STOP && kind != CTL_ABORT)
            host_say(&h, "no config from the supervisor");
        goto out;
    }
    if (cfg.via.array.size < 2
        || take_config(&h, &cfg.via.array.ptr[1], err, sizeof err) < 0) {
        ctl_send_text(h.ctl, NULL, CTL_ERROR, *err ? err : "bad config");
        wait_for(&h, CTL_STOP, 5000, &zone, &root, &msg);
        goto out;
    }
    send_ready(&h);
    kind = wait_for(&h, CTL_START, 60000, &zone, &root, &msg);
    if (kind == CTL_START) {
        if (setup_inputs(&h, root.via.array.size > 1 ? &root.via.array.ptr[1] : NULL, err,
                         sizeof err)
            < 0) {
            ctl_send_text(h.ctl, NULL, CTL_ERROR, err);
            wait_for(&h, CTL_STOP, 5000, &zone, &root, &msg);
        }
        else {
            h.started = true;
            if (embed && embed->started)
                embed->started(embed->arg);
            run_loop(&h);
            rc = h.done_sent && !h.fatal ? 0 : 1;
            /* stopped before the end (the run failed, or was cut short):
               what a sink wrote for the items it took is committed. Not
               after host_fatal: a successor comes, and must start from a
               checkpoint that covers only what is safely downstream, as
               after any death */
            if (h.ckpt_on && !h.done_sent && !h.fatal)
                take_checkpoint(&h, true);

        }
    }
out:
    zmq_msg_close(&msg);
    zmq_msg_close(&cfgmsg);
    msgpack_zone_destroy(&zone);
    msgpack_zone_destroy(&cfgzone);
    host_free(&h);
    return rc;
}

void host_tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int actor_main(const char *control, const char *id)
{
    return host_main(control, id, NULL);
}

int actor_run_embedded(const char *control, const char *id, const actor_embed_t *embed)
{
    return host_main(control, id, embed);
}

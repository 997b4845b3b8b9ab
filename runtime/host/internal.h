/*  internal.h: the actor host's state and what its files call of each
    other. One concern per file, each calling only those above it:
      control.c      the control channel: messages to and from the
                     supervisor, heartbeats, stats, fatal errors
      items.c        the module's hooks over each item, what they make
                     into the outputs, a record of each input batch until
                     that is safely downstream, a source's batches
      input.c        input batches decoded, and handed on in order
      checkpoints.c  snapshots taken, kept or sent, and when one is due
      setup.c        CONFIG taken in, inputs connected, the host freed
      actor.c        the loop, what the supervisor says, and the host's
                     entry points (actor.h)
    api.c (troupe.h's module API) sees only the ctx (host.h).
*/
#ifndef TR_HOST_INTERNAL_H
#define TR_HOST_INTERNAL_H

#include "host/actor.h"
#include "host/host.h"
#include "host/poison.h"
#include "wire/auth.h"
#include "wire/checkpoint.h"
#include "wire/envelope.h"
#include "wire/packbuf.h"
#include "wire/seen.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

/*  The zone batches are decoded into starts with a first chunk this big and
    doubles it, up to ZONE_KEEP_MAX, when a batch does not fit in it
    (batch_zone_clear says why). */
#define ZONE_FIRST (64u << 10)
#define ZONE_KEEP_MAX (4u << 20)
/*  A batch held for later is acknowledged once it has waited this long, or
    once this many wait (promote_held, order.c). */
#define HOLD_ACK_NS 20000000ull
#define HOLD_ACK_MAX 8

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
    uint32_t names; /* the salt of copies' names (envelope.h) */
    bool keyed_outs; /* an output is keyed: each group is split by key */
    bool broadcast_outs; /* an output is a broadcast: items may set topics */
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
    msgpack_sbuffer ckpt_map; /* kept between checkpoints */
    bool ckpt_oom; /* a write into ckpt_map failed (snapshot_module) */
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
    /* flushed, and what the flush made acknowledged downstream: from the
       checkpoint that follows (finished), checkpoints say so, and a
       successor resumes with its flush done */
    bool flush_settled;
    /* retire_after (plan.h): items to handle before a fresh instance
       takes over; retiring once they are, retired once it said so */
    uint64_t retire_after;
    bool retiring, retired;
    uint64_t bye_at; /* ms when its inputs said BYE, 0 before */
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
    bool mod_stopped; /* its stop hook has run */
    int own_nallow;
    auth_t *auth;
} host_t;

/* ---- control.c ------------------------------------------------------------- */
void host_send_packbuf(host_t *h, const packbuf_t *buf);
void host_send_fail(host_t *h, uint64_t item, const char *text);
void host_fatal(host_t *h, const char *what);
void host_send_stats(host_t *h, int kind);
void host_heartbeat(host_t *h);
int host_ctl_read(host_t *h, msgpack_zone *zone, msgpack_object *root, zmq_msg_t *msg);
int host_wait_for(host_t *h, int want, int ms, msgpack_zone *zone, msgpack_object *root,
                  zmq_msg_t *msg);
void host_send_ready(host_t *h);
void host_say(host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int host_connect(host_t *h, const char *control);

/* ---- items.c --------------------------------------------------------------- */
void host_take_poison(host_t *h, const msgpack_object *e, uint32_t from);
inrec_t *host_rec_new(host_t *h, int input, uint64_t batch_id);
void host_ack_batch(host_t *h, int input, uint64_t batch_id);
void host_ack_input(void *arg, int input, uint64_t batch_id);
void host_rec_release(host_t *h, inrec_t *r);
void host_on_out_acked(void *arg, inrec_t *src);
void host_handle_groups(host_t *h, const env_batch_t *b, uint32_t from, uint32_t to,
                        inrec_t *src);
uint64_t host_cost_downstream(host_t *h);
bool host_outs_ready(host_t *h);
bool host_outs_idle(host_t *h);
void host_produce_batch(host_t *h);
void host_flush_module(host_t *h);

/* ---- input.c --------------------------------------------------------------- */
order_t *host_order_for(host_t *h, uint32_t origin);
held_t *host_order_hold(host_t *h, order_t *o, zmq_msg_t *msg, const env_batch_t *b);
void host_promote_held(host_t *h);
void host_read_input(host_t *h, int input);
void host_drain_held(host_t *h);

/* ---- checkpoints.c --------------------------------------------------------- */
void host_say_commit(host_t *h, bool now);
void host_take_checkpoint(host_t *h, bool final);
void host_maybe_checkpoint(host_t *h);
long host_checkpoint_wait_ms(const host_t *h);
void host_fault(host_t *h, const char *point);

/* ---- setup.c --------------------------------------------------------------- */
int host_init(host_t *h, const char *id, const actor_embed_t *embed);
int host_take_config(host_t *h, const msgpack_object *cfg, char *err, size_t errlen);
int host_setup_inputs(host_t *h, const msgpack_object *list, char *err, size_t errlen);
void host_free(host_t *h);
/*  A finished actor process (its DONE said, or its RETIRE with every
    producer's BYE answer in, and STOP heard: it owes nobody a message)
    ends here at once, with the module's stop hook run
    and its allowlist folder removed but nothing else torn down: ending
    the zmq context (its threads woken and joined one by one) and the
    frees took 1-2.3 ms a process, most of what 8 actors took to end.
    Nothing is lost: the data sockets linger 0 anyway, the supervisor
    removes the run directory with the socket files. Returns only inside
    a caller's program (embedded: the process is not ours), or with
    TROUPE_CLEAN_EXIT set (tests/valgrind.sh: every free checked). */
void host_end_process(host_t *h, int rc);

#endif

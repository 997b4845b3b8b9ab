/*  chan.h: the two ends of a data channel inside an actor process.

    A channel is a load-balanced pipe or a broadcast. Every producer instance
    binds one ROUTER per output channel; every consumer instance connects one
    DEALER to each producer instance of each input channel. Consumers grant
    credit (how many batches may wait in their queue) and acknowledge each
    batch once what it produced is itself acknowledged downstream; producers
    keep every batch until it is acknowledged, which is what lets a batch be
    sent again when its consumer dies. docs/ARCHITECTURE.md says why this is
    ROUTER/DEALER rather than PUSH/PULL and PUB/SUB.
*/
#ifndef TR_CHAN_H
#define TR_CHAN_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#define CHAN_MAX_SLOTS 64  /* consumers of one producer's output */
#define CHAN_NAME_MAX 96
#define CHAN_AHEAD_ANY UINT32_MAX /* chan_out_t.ahead: no limit but credit */

/*  An input batch on its way through this actor: acknowledged upstream when
    `pending` (output batches not yet acknowledged, plus one while it is
    being handled) drops to zero. */
typedef struct inrec {
    int input;
    uint64_t batch_id;
    int pending;
    bool effect; /* the module handled a value of it: a checkpoint must cover it */
    struct inrec *next_free;
    struct inrec *next_made; /* every record the host made, for its end */
} inrec_t;

typedef struct {
    char name[CHAN_NAME_MAX]; /* consumer "actor#instance" */
    char rid[CHAN_NAME_MAX];  /* zmq routing id of its live incarnation */
    size_t rid_len;
    uint32_t credit;
    uint32_t granted; /* the credit of its hello: credit - granted are in hand */
    bool connected;
    bool match;      /* broadcast: subscribes to this producer's topic */
    char *subscribe; /* broadcast: its prefixes, for items' own topics */
    uint64_t cursor; /* broadcast: next batch id this slot is due */
    uint64_t cost_ns; /* its last report of ns per item downstream */
    bool gone;        /* it died for good (restart = temporary) */
    /* a pipe's flow control is this consumer's own (chan_out_ready): */
    uint32_t live;       /* batches it was sent and has not acknowledged */
    uint64_t rtt_ns[2];  /* least time from send to ack, this and the last
                            period of CHAN_RTT_PERIOD_NS (0: none yet) */
    uint64_t rtt_at;     /* when this period began */
    double rate;         /* batches it acknowledges a second */
    uint32_t rate_n;     /* ... counted since rate_at */
    uint64_t rate_at;
} out_slot_t;

/*  A pipe's flow control is per consumer: a consumer is sent a batch only
    while it holds fewer unacknowledged than twice what it acknowledges in
    one round trip (its rate times the least time from send to ack: the
    bandwidth-delay product, counted in batches), and never fewer than
    max(2, window / consumers), or on a keyed pipe `window` (each batch
    there has one consumer it can go to: shared, the window left each of 4
    homes 4 batches, which an exact home's checkpoints, as their cost
    allows, kept full, and its producers waiting); it holds unread at most
    as many as that,
    and at most its credit. So a long link gets the batches in flight it
    needs to stay busy, one machine's consumers hold as few as before, and
    a consumer that is slow or gone holds back only its own share. Bounds:
    CHAN_SLOT_LIVE_MAX batches a consumer, CHAN_LIVE_BYTES_MAX bytes of
    unacknowledged batches an output, and the oldest unacknowledged at most
    CHAN_SPAN_MAX batches behind the newest (the outbox's ring), or
    with an ordered actor downstream far fewer (below). */
/*  A pipe with an ordered actor downstream bounds its span tighter: its
    oldest unacknowledged batch at most 4 times what its consumers may hold
    together behind the newest (at least CHAN_ORDER_SPAN_MIN), and at most
    CHAN_ORDER_SPAN_BYTES of batches from the oldest on (or, for consumers
    far away, twice the bytes their round trips keep in flight). Else a consumer
    that stalls (descheduled, a costly item) lets the others run on alone,
    and the ordered actor holds everything they make until the stalled
    one's batch closes the gap: a 0.5 s stall of one of two workers grew an
    ordered print sink by 6 MB (tests/memory.sh's pipeline), and by 0.8 MB
    with these bounds. At full speed squares.zpl's source spans up to 22
    batches, 540 KB, and the bound costs it nothing measurable (wall or
    CPU, 21 runs turn about, also with both cores busy). */
#define CHAN_ORDER_SPAN_MIN 64
#define CHAN_ORDER_SPAN_BYTES (512u << 10)
#define CHAN_SLOT_LIVE_MAX 4096
#define CHAN_LIVE_BYTES_MAX (64ull << 20)
#define CHAN_SPAN_MAX 32768
#define CHAN_RTT_PERIOD_NS 2000000000ull /* a round trip is the least of 2-4 s */
#define CHAN_RATE_PERIOD_NS 50000000ull

typedef struct {
    uint64_t id;
    zmq_msg_t msg;
    uint64_t pending; /* slots whose ack is awaited, one bit each */
    uint64_t sent_ns; /* pipe: when it last went to a slot */
    size_t bytes;
    int slot;         /* pipe: the slot holding it; -1 while unsent */
    int home;         /* homed pipe: the consumer instance it must go to */
    bool live;
    inrec_t *src;
} out_batch_t;

/*  A batch being built: its buffer (from the output's pool) and what it
    holds. An output builds one at a time; a keyed output one per home
    instance, side by side, over the same items. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t buf_want;   /* what its last batch took: a new buffer's size */
    bool broken;       /* a write into it failed (out of memory) */
    uint32_t nonempty; /* groups with a value, a failure or a repeat */
} chan_build_t;

/*  Where a keyed output sends each value of the group being split. */
typedef struct {
    unsigned home;
    size_t at, end; /* its bytes in the group */
} chan_split_t;

typedef struct chan_out chan_out_t;
/*  The buffers of sent batches, kept for the next (chan.c). */
typedef struct chan_bufs chan_bufs_t;
/*  Called when a batch is acknowledged by every consumer it went to. */
typedef void(chan_acked_fn)(void *arg, inrec_t *src);

struct chan_out {
    int chan;
    char *name;
    bool broadcast;
    char *topic;
    /* items' own topics (chan_out_topic): once an item of the open batch
       has one, the batch is built for each subscriber apart (slot_build,
       one per slot), each item's group in full for those whose prefixes
       take its topic and empty for the others */
    char *group_topic;       /* the next groups' topic; NULL: the output's */
    bool per_slot;
    chan_build_t *slot_build;
    int nslot_build;
    unsigned fanout;         /* batches the last one became (window) */
    void *sock;
    out_slot_t slots[CHAN_MAX_SLOTS];
    int nslots;
    /* unacknowledged batches, ids consecutive from `head` to `next_id` */
    out_batch_t *ring;
    uint64_t cap; /* power of two */
    uint64_t head, next_id;
    uint64_t send_cursor; /* pipe: every id below it went to a slot once */
    uint32_t window;      /* a broadcast: most unacknowledged batches before
                             we stop; a pipe: what its consumers share at
                             least (out_slot_t) */
    uint64_t live_bytes;  /* of the live batches */
    uint64_t span_bytes;  /* of every batch from head on, live or not */
    uint32_t hand_min;    /* a pipe: batches a consumer may hold unread
                             whatever its rate (2; at most its credit) */
    /* a pipe into an exact actor (chan_out_home): every item goes to one
       home instance, the same whoever sends it and however often */
    unsigned home_n;      /* its instances; 0: load-balanced by credit */
    /* a pipe balanced by credit: batches a consumer may hold besides the
       one it works on, however much credit it gave (CHAN_AHEAD_ANY: as
       its credit allows); the embedding caller lowers it so that an idle
       worker never waits while another holds a costly batch unstarted */
    uint32_t ahead;
    /* an ordered actor is downstream (CHAN_ORDER_SPAN): a pipe bounds its
       span by what its consumers need in flight */
    bool ordered;
    char *home_actor;
    uint64_t block;       /* items of one origin share a home per block */
    int *home_slot;       /* per home instance: its slot, -1 until hello */
    uint64_t unsent;      /* live batches not with any consumer */
    /* a keyed output (chan_out_keyed): each value goes to the home that
       owns its key, so a batch is built for each of the home_n instances */
    bool keyed;
    char *key;            /* a map field; NULL: key_index, or the value */
    int key_index;        /* an array index; -1: none */
    msgpack_zone key_zone; /* a group's values are decoded here to split */
    chan_split_t *split;  /* the group chan_out_split split ... */
    const char *split_data; /* ... which is these bytes */
    uint32_t nsplit;
    size_t splitcap;
    uint32_t split_count[CHAN_MAX_SLOTS]; /* how many of them each home gets */
    /* a group packed in place (chan_out_direct_open, _keyed_put): where
       each home's part of it starts in its batch, 0 when it has none
       (split_count counts a keyed part's values) */
    size_t put_base[CHAN_MAX_SLOTS];
    /* the batch being built (one per home when keyed), in buffers from bufs */
    chan_build_t *build;
    unsigned nbuild;
    chan_bufs_t *bufs;
    bool open;
    uint32_t ngroups;
    uint32_t origin;
    uint64_t first_seq;
    inrec_t *src;
    uint64_t batches_out;
    chan_acked_fn *on_acked;
    void *acked_arg;
    msgpack_zone zone; /* what consumers send is decoded here */
};

/*  Makes an output on `sock` (a bound ROUTER, owned from now on). Batch ids
    start at first_id, so that a restarted producer never takes an ack meant
    for its predecessor. */
chan_out_t *chan_out_new(int chan, const char *name, bool broadcast,
                         const char *topic, void *sock, uint32_t window,
                         uint64_t first_id);
void chan_out_destroy(chan_out_t **self_p);
/*  Makes a pipe homed: its consumers are the `n` instances of `actor`, and
    item (origin, seq) goes to instance chan_home (origin, seq / block, n)
    only. Sources make batches inside blocks of `block` indexes, and every
    stage keeps an item's name, so a whole batch has one home, and an item
    sent again, by anyone, goes where it went the first time. */
int chan_out_home(chan_out_t *self, unsigned n, const char *actor, uint64_t block);
/*  Makes a pipe keyed: its consumers are the `n` instances of `actor`
    (the one actor reading it), and each value goes to the instance that
    owns its key: the value itself (key NULL), its element `key` (an array
    index, "0") or its field `key` (a map's, "word"). Equal keys, by value
    (1 and 1.0 are one key, a string and the same bytes as binary are not),
    go to one instance, whoever sends them and however often. */
int chan_out_keyed(chan_out_t *self, unsigned n, const char *actor, const char *key);
/*  Splits a group (`n` values packed in `data`) of a keyed output by key,
    for the chan_out_group that must follow with the same group. keys[i]
    (i < nkeys), when not 0, is the hash of value i's key, set by the
    module (chan_key_hash). Returns 0, or -1 with the
    reason in err when a value has no such key, or a key that cannot be
    hashed (a map, a NaN): then the item must fail instead. */
int chan_out_split(chan_out_t *self, uint32_t n, const char *data, size_t size,
                   const uint64_t *keys, uint32_t nkeys, char *err, size_t errlen);
/*  The hash a key of `size` bytes set by a module has: that of a string of
    those bytes as a value's key, never 0. */
uint64_t chan_key_hash(const void *key, size_t size);
/*  The home instance of block `block` of `origin` among n. */
unsigned chan_home(uint32_t origin, uint64_t block, unsigned n);
/*  Declares a broadcast subscriber before it says hello, so that no batch
    is made without it. */
int chan_out_expect(chan_out_t *self, const char *consumer, const char *prefix);
/*  Starts a batch of groups from `origin`, the first numbered first_seq. */
void chan_out_begin(chan_out_t *self, uint32_t origin, uint64_t first_seq,
                    inrec_t *src);
/*  A broadcast's groups from now on go under `topic` (NULL: the output's
    own), to the subscribers whose prefixes take it; the others get them
    empty, in a batch of their own, so that an ordered one sees no gap.
    0, or -1 out of memory (the batch open is then spoilt, as a failed
    write spoils it). */
int chan_out_topic(chan_out_t *self, const char *topic);
/*  Appends one group: `n` values packed in `data`, or failure text. */
void chan_out_group(chan_out_t *self, uint32_t n, const char *data, size_t size);
void chan_out_group_failed(chan_out_t *self, const char *message);
void chan_out_group_repeat(chan_out_t *self);
/*  A group packed in place, where chan_out_group would copy it there from
    a buffer of the caller's.
    chan_out_direct_open: for an output that builds one plain batch (not
    keyed, not a broadcast; NULL otherwise), writes the groups before it
    and room for the group's header, and returns the batch's buffer, into
    which the caller packs the values; _direct_close ends the group, n
    values, counted as one.
    chan_out_keyed_put: a keyed output's values one at a time, as they are
    emitted: finds the value's home (its key's, or the module's `set`
    hash) and writes it into that home's batch, after its groups before
    and room for its header (chan_out_home_put, the home known): 0, or -1
    with the reason in err (no key, or one that cannot be);
    _keyed_close ends the group in every home, counted as one.
    chan_out_part_abort takes what either packed of the open group back
    out, not counted (then chan_out_group_failed); nothing when none is
    open. */
msgpack_sbuffer *chan_out_direct_open(chan_out_t *self);
void chan_out_direct_close(chan_out_t *self, uint32_t n);
int chan_out_keyed_put(chan_out_t *self, const char *data, size_t size, uint64_t set,
                       uint32_t i, char *err, size_t errlen);
void chan_out_home_put(chan_out_t *self, unsigned home, const char *data, size_t size);
/*  The same, a string value packed there by msgpack-c. */
void chan_out_home_put_str(chan_out_t *self, unsigned home, const char *str, size_t len);
/*  chan_out_keyed_put of a string value not packed yet, when the output's
    key is the whole value: its header and bytes go straight into its
    home's batch, found from the bytes (or `set`). -1, and nothing done,
    when the key is a field or an element: chan_out_keyed_put then. */
int chan_out_keyed_put_str(chan_out_t *self, const char *str, size_t len, uint64_t set);
void chan_out_keyed_close(chan_out_t *self);
void chan_out_part_abort(chan_out_t *self);
/*  Seals the open batch into the outbox (nothing when it holds no group)
    and tries to send. Returns 0 once it is in the outbox (what could not
    be sent yet goes at a later chan_out_pump), or -1 when it could not be
    packed or kept (ENOMEM): then nothing of it was sent, and its src was
    not told to wait for it. */
int chan_out_flush(chan_out_t *self);
/*  Bytes in the open batch. */
size_t chan_out_size(const chan_out_t *self);
/*  True when one more batch fits the window and none waits for credit. */
bool chan_out_ready(const chan_out_t *self);
/*  Nothing unacknowledged and nothing open. */
bool chan_out_idle(const chan_out_t *self);
/*  Reads what consumers sent (HELLO, ACK); `budget` messages at most.
    Counts frames it could not read in *malformed. */
int chan_out_read(chan_out_t *self, int budget, uint64_t *malformed);
/*  Sends what credit allows. */
int chan_out_pump(chan_out_t *self);
/*  The slowest connected consumer's report of ns per item (0: none yet). */
uint64_t chan_out_cost(const chan_out_t *self);
/*  The consumer `name` is gone: what it held goes out again (a pipe: to
    the others; a broadcast: to its successor, when it says hello). */
void chan_out_lost(chan_out_t *self, const char *name);
/*  The consumer `name` is gone for good (restart = temporary): a pipe sends
    what it held to the others, a broadcast stops waiting for it. */
void chan_out_gone(chan_out_t *self, const char *name);

/* ---- input side ------------------------------------------------------- */

typedef struct {
    char *endpoint;
    char *producer;         /* "ACTOR.INSTANCE.CHAN", or NULL */
    char *consumer, *topic; /* for hello */
    uint32_t credit;
    void *sock; /* DEALER to one producer instance */
    uint32_t credit_owed;
    uint64_t cost_ns; /* reported with the next ack */
    uint64_t *acks;
    size_t nacks, ackcap;
    int chan;   /* the channel's index in the plan */
    int branch; /* a broadcast: this reader's instance, whose copies its
                   batches are (envelope.h, "Item names"); -1: a pipe */
    uint8_t bye;         /* CHAN_BYE_SAID, then CHAN_BYE_ANSWERED */
    unsigned reconnects; /* rehellos so far: its routing id's suffix */
} chan_in_t;

#define CHAN_BYE_SAID 1
#define CHAN_BYE_ANSWERED 2

/*  Makes an input on `sock` (a DEALER connected to endpoint, owned from now
    on) and says hello. */
chan_in_t *chan_in_new(void *sock, const char *endpoint, const char *consumer,
                       uint32_t credit, const char *topic);
/*  The producer was replaced: forget what was owed to the old one, connect
    again (to the new one's endpoint if it moved) and say hello. */
int chan_in_rehello(chan_in_t *self, const char *endpoint);
void chan_in_destroy(chan_in_t **self_p);
/*  Queues an acknowledgement of `batch_id`; when the queue is full and
    cannot grow, sends the queue first. Returns 0, or -1 when it could do
    neither: the batch is not acknowledged, and since its producer sends it
    again only to this consumer's successor, the caller must not go on as
    if it were. */
int chan_in_ack(chan_in_t *self, uint64_t batch_id);
/*  Sends the queued acknowledgements and credit, if any (in several ACKs
    when they are many); allocates nothing. Returns 0, or -1 with what was
    not sent still queued. */
int chan_in_flush(chan_in_t *self);
/*  Flushes the acks, then says BYE (envelope.h): this consumer takes
    nothing more, and what it was sent since goes to the others. Its
    socket keeps both for up to linger_ms after it is closed. 0, or -1
    when they could not be queued. */
int chan_in_bye(chan_in_t *self, int linger_ms);
/*  After BYE: reads what the producer sent, which is not taken (it went
    to the others when the producer read the BYE), and true once the
    producer answered the BYE: then it has read every ack and a successor
    may say hello. */
bool chan_in_farewell(chan_in_t *self);

#endif

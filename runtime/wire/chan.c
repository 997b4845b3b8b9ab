/*  chan.c: the producer's end of a data channel: batches built (shared,
    per home for a keyed output, per subscriber for items' own topics),
    the outbox (slots, credit, unacknowledged batches) and what consumers
    send back. chan_in.c is the consumer's end, chan_key.c a keyed output's
    keys; chan.h has the protocol in brief, docs/PROTOCOL.md in full.
*/
#include "wire/chan.h"

#include "base/clock.h"
#include "base/copy.h"
#include "wire/envelope.h"
#include "wire/packbuf.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ==== output: batch buffers =============================================== */

/*  A batch's buffer becomes its zmq message (zero copy: the outbox keeps
    the message for redelivery and sends references to it), and zmq lets
    it go when the last reference does, on whichever thread drops that:
    ours when the batch is acknowledged, or an I/O thread's. Freed there
    and made again, every batch would regrow a buffer from msgpack's 8 KiB
    by doubling (a malloc and two or three reallocs, each a copy, for a
    30 KB batch). So it goes back to its output's pool instead, and a later
    batch is packed into it: once a window's worth has gone round, no
    batch allocates. The pool is shared with those threads (a lock) and
    counted, since zmq may let a batch go after its output is destroyed.
    Each buffer starts with its capacity, BUF_PREFIX bytes that are not
    part of the message, so that the pool knows it again. */
#define BUF_PREFIX sizeof(size_t)
#define BUF_FIRST (16u << 10)
#define BUFS_KEEP_BYTES (8u << 20) /* at most this much waits in a pool */

struct chan_bufs {
    pthread_mutex_t lock;
    unsigned refs;    /* the output's, and one per buffer zmq holds */
    bool closed;      /* the output is gone: free what comes back */
    unsigned n, keep; /* buffers waiting; at most keep */
    size_t bytes;     /* their capacities */
    char **held;
};

static chan_bufs_t *bufs_new(unsigned keep)
{
    chan_bufs_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->held = calloc(keep, sizeof *self->held);
    if (!self->held || pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self->held);
        free(self);
        return NULL;
    }
    self->refs = 1;
    self->keep = keep;
    return self;
}

static void bufs_free(chan_bufs_t *self)
{
    for (unsigned i = 0; i < self->n; i++)
        free(self->held[i]);
    pthread_mutex_destroy(&self->lock);
    free(self->held);
    free(self);
}

/*  zmq's free function for a batch's message; `hint` is the pool. */
static void buf_done(void *data, void *hint)
{
    chan_bufs_t *self = hint;
    char *buf = (char *)data - BUF_PREFIX;
    size_t cap;
    memcpy(&cap, buf, sizeof cap);
    pthread_mutex_lock(&self->lock);
    bool kept = !self->closed && self->n < self->keep
                && self->bytes + cap <= BUFS_KEEP_BYTES;
    if (kept) {
        self->held[self->n++] = buf;
        self->bytes += cap;
    }
    bool last = --self->refs == 0;
    pthread_mutex_unlock(&self->lock);
    if (!kept)
        free(buf);
    if (last)
        bufs_free(self);
}

/*  The output is going: what waits is freed now, what zmq still holds
    when it comes back. */
static void bufs_close(chan_bufs_t **self_p)
{
    chan_bufs_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->closed = true;
    for (unsigned i = 0; i < self->n; i++)
        free(self->held[i]);
    self->n = 0;
    self->bytes = 0;
    bool last = --self->refs == 0;
    pthread_mutex_unlock(&self->lock);
    if (last)
        bufs_free(self);
    *self_p = NULL;
}

/*  Gives the batch being opened a buffer: one back from the pool if it is
    large enough for what the last batch took, else a new one that is.
    Out of memory, sb stays empty and its first write tries again. */
static void buf_open(chan_out_t *self, chan_build_t *bd)
{
    chan_bufs_t *bufs = self->bufs;
    char *buf = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&bufs->lock);
    if (bufs->n) {
        buf = bufs->held[--bufs->n];
        memcpy(&cap, buf, sizeof cap);
        bufs->bytes -= cap;
    }
    pthread_mutex_unlock(&bufs->lock);
    if (buf && cap < bd->buf_want) {
        char *bigger = realloc(buf, bd->buf_want);
        if (bigger) {
            buf = bigger;
            cap = bd->buf_want;
        }
    }
    else if (!buf && (buf = malloc(bd->buf_want)))
        cap = bd->buf_want;
    bd->sb.data = buf;
    bd->sb.alloc = buf ? cap : 0;
    bd->sb.size = 0;
}

/*  The open batch's buffer becomes msg, which owns it from now on. */
static int buf_to_msg(chan_out_t *self, chan_build_t *bd, zmq_msg_t *msg)
{
    char *buf = bd->sb.data;
    size_t size = bd->sb.size - BUF_PREFIX;
    memcpy(buf, &bd->sb.alloc, sizeof bd->sb.alloc);
    pthread_mutex_lock(&self->bufs->lock);
    self->bufs->refs++;
    pthread_mutex_unlock(&self->bufs->lock);
    if (zmq_msg_init_data(msg, buf + BUF_PREFIX, size, buf_done, self->bufs) != 0) {
        pthread_mutex_lock(&self->bufs->lock);
        self->bufs->refs--; /* never below one: the output's */
        pthread_mutex_unlock(&self->bufs->lock);
        return -1; /* the buffer stays the open batch's */
    }
    /* the next batch's new buffer, if it needs one, takes this one's size
       and a little more, so that it is not regrown while it fills */
    size_t want = bd->sb.size + bd->sb.size / 4;
    bd->buf_want = want > BUF_FIRST ? want : BUF_FIRST;
    bd->sb.data = NULL;
    bd->sb.size = bd->sb.alloc = 0;
    return 0;
}

/* ==== output: the outbox ================================================= */

static out_batch_t *batch_at(chan_out_t *self, uint64_t id)
{
    return &self->ring[id & (self->cap - 1)];
}

/*  n builders for the batches built side by side (n > 1: a keyed
    output's homes). 0, or -1 with none. */
static int builds_make(chan_out_t *self, unsigned n)
{
    chan_build_t *build = calloc(n, sizeof *build);
    if (!build)
        return -1;
    for (unsigned k = 0; k < n; k++) {
        msgpack_sbuffer_init(&build[k].sb);
        msgpack_packer_init(&build[k].pk, &build[k].sb, sbuffer_append_cb);
        build[k].buf_want = BUF_FIRST;
    }
    self->build = build;
    self->nbuild = n;
    return 0;
}

static void builds_free(chan_out_t *self)
{
    for (unsigned k = 0; k < self->nbuild; k++)
        msgpack_sbuffer_destroy(&self->build[k].sb);
    free(self->build);
    self->build = NULL;
    self->nbuild = 0;
}

chan_out_t *chan_out_new(int chan, const char *name, bool broadcast,
                         const char *topic, void *sock, uint32_t window,
                         uint64_t first_id)
{
    chan_out_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->chan = chan;
    self->name = strdup(name);
    self->topic = strdup(topic ? topic : "");
    self->broadcast = broadcast;
    self->sock = sock;
    self->window = window ? window : 1;
    self->ahead = CHAN_AHEAD_ANY;
    self->hand_min = 2;
    self->head = self->next_id = self->send_cursor = first_id;
    self->cap = 16;
    while (self->cap < (uint64_t)self->window * 2)
        self->cap <<= 1;
    self->ring = calloc(self->cap, sizeof *self->ring);
    self->key_index = -1;
    self->bufs = bufs_new(self->window + 1);
    builds_make(self, 1);
    /* acks of a window's batches fit in its first chunk, which clearing
       keeps */
    bool zone = msgpack_zone_init(&self->zone, 4096);
    if (!zone)
        self->zone.chunk_list.head = NULL;
    if (!self->name || !self->topic || !self->ring || !self->bufs || !self->build || !zone) {
        chan_out_destroy(&self);
        return NULL;
    }
    return self;
}

void chan_out_destroy(chan_out_t **self_p)
{
    chan_out_t *self = *self_p;
    if (!self)
        return;
    if (self->ring)
        for (uint64_t id = self->head; id < self->next_id; id++) {
            out_batch_t *b = batch_at(self, id);
            if (b->live)
                zmq_msg_close(&b->msg);
        }
    if (self->sock)
        zmq_close(self->sock);
    for (int i = 0; i < self->nslots; i++)
        free(self->slots[i].subscribe);
    free(self->group_topic);
    for (int i = 0; i < self->nslot_build; i++)
        msgpack_sbuffer_destroy(&self->slot_build[i].sb);
    free(self->slot_build);
    builds_free(self);
    bufs_close(&self->bufs);
    if (self->zone.chunk_list.head)
        msgpack_zone_destroy(&self->zone);
    if (self->keyed)
        msgpack_zone_destroy(&self->key_zone);
    free(self->split);
    free(self->key);
    free(self->ring);
    free(self->home_actor);
    free(self->home_slot);
    free(self->name);
    free(self->topic);
    free(self);
    *self_p = NULL;
}

unsigned chan_home(uint32_t origin, uint64_t block, unsigned n)
{
    /* splitmix64's finaliser: neighbouring blocks land far apart */
    uint64_t x = block * 0x9e3779b97f4a7c15ull + origin;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return n ? (unsigned)(x % n) : 0;
}

int chan_out_home(chan_out_t *self, unsigned n, const char *actor, uint64_t block)
{
    if (!n || !block || self->broadcast)
        return 0;
    self->home_actor = strdup(actor);
    self->home_slot = malloc(n * sizeof *self->home_slot);
    if (!self->home_actor || !self->home_slot)
        return -1;
    for (unsigned k = 0; k < n; k++)
        self->home_slot[k] = -1;
    self->home_n = n;
    self->block = block;
    return 0;
}

/* ==== output: keyed ========================================================= */

int chan_out_keyed(chan_out_t *self, unsigned n, const char *actor, const char *key)
{
    if (!n || self->broadcast)
        return 0;
    if (n > CHAN_MAX_SLOTS) { /* as many consumers as an output takes */
        errno = EINVAL;
        return -1;
    }
    if (chan_out_home(self, n, actor, 1) < 0)
        return -1;
    self->keyed = true;
    msgpack_zone_init(&self->key_zone, 4096);
    bool index = key && *key >= '0' && *key <= '9';
    if (index)
        self->key_index = atoi(key);
    else if (key && !(self->key = strdup(key)))
        return -1;
    /* a batch per home of each: the buffer pool keeps as many */
    builds_free(self);
    bufs_close(&self->bufs);
    self->bufs = bufs_new((self->window + 1) * n);
    if (!self->bufs || builds_make(self, n) < 0)
        return -1;
    return 0;
}

/*  A new slot that is a home instance takes its place in home_slot. */
static void home_learn(chan_out_t *self, int slot)
{
    if (!self->home_n)
        return;
    const char *name = self->slots[slot].name;
    size_t alen = strlen(self->home_actor);
    if (strncmp(name, self->home_actor, alen) || name[alen] != '#')
        return;
    char *end;
    unsigned long k = strtoul(name + alen + 1, &end, 10);
    if (*end == '\0' && end != name + alen + 1 && k < self->home_n)
        self->home_slot[k] = slot;
}

static int slot_find_name(chan_out_t *self, const char *name, size_t len)
{
    for (int i = 0; i < self->nslots; i++)
        if (strlen(self->slots[i].name) == len
            && memcmp(self->slots[i].name, name, len) == 0)
            return i;
    return -1;
}

static int slot_find_rid(chan_out_t *self, const char *rid, size_t len)
{
    for (int i = 0; i < self->nslots; i++) {
        out_slot_t *s = &self->slots[i];
        if (s->connected && s->rid_len == len && memcmp(s->rid, rid, len) == 0)
            return i;
    }
    return -1;
}

static bool topic_matches(const char *topic, const char *prefixes, size_t plen);

/*  A consumer's slot; on a broadcast, with its subscription's prefixes. */
static int slot_add(chan_out_t *self, const char *name, size_t len, const char *subscribe,
                    size_t sublen)
{
    if (self->nslots == CHAN_MAX_SLOTS || len >= CHAN_NAME_MAX)
        return -1;
    char *sub = self->broadcast ? strndup(subscribe, sublen) : NULL;
    if (self->broadcast && !sub)
        return -1;
    out_slot_t *s = &self->slots[self->nslots];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, len);
    s->subscribe = sub;
    s->match = !self->broadcast || topic_matches(self->topic, subscribe, sublen);
    s->cursor = self->head;
    home_learn(self, self->nslots);
    return self->nslots++;
}

/*  A subscription is a list of prefixes, separated by spaces or commas:
    a topic matches when it starts with one of them; an empty list takes
    every topic. */
static bool topic_matches(const char *topic, const char *prefixes, size_t plen)
{
    size_t tlen = strlen(topic);
    bool any = false;
    for (size_t i = 0; i < plen;) {
        while (i < plen && (prefixes[i] == ' ' || prefixes[i] == ','))
            i++;
        size_t start = i;
        while (i < plen && prefixes[i] != ' ' && prefixes[i] != ',')
            i++;
        if (i == start)
            continue;
        any = true;
        if (tlen >= i - start && memcmp(topic, prefixes + start, i - start) == 0)
            return true;
    }
    return !any;
}

int chan_out_expect(chan_out_t *self, const char *consumer, const char *prefix)
{
    return slot_add(self, consumer, strlen(consumer), prefix, strlen(prefix)) < 0 ? -1 : 0;
}

/*  Every write into an open batch goes through here or through its pk:
    one that fails (out of memory) spoils the batch, which chan_out_flush
    then refuses rather than send it short. */
static void batch_write(chan_build_t *bd, const char *data, size_t len)
{
    if (sbuffer_append(&bd->sb, data, len) < 0)
        bd->broken = true;
}

void chan_out_begin(chan_out_t *self, uint32_t origin, uint64_t first_seq,
                    inrec_t *src)
{
    static const char zeros[BUF_PREFIX + ENV_BATCH_HEADER];
    for (unsigned k = 0; k < self->nbuild; k++) {
        chan_build_t *bd = &self->build[k];
        if (!bd->sb.data)
            buf_open(self, bd);
        bd->sb.size = 0;
        bd->broken = false;
        bd->nonempty = 0;
        batch_write(bd, zeros, sizeof zeros);
    }
    self->open = true;
    self->per_slot = false;
    self->ngroups = 0;
    self->origin = origin;
    self->first_seq = first_seq;
    self->src = src;
}

/*  While every group of a batch is empty nothing is written: such a batch
    goes out as a count (env_batch_header). The first group that is not
    empty writes out the empty ones before it. */
static void materialize(chan_out_t *self, chan_build_t *bd)
{
    if (bd->nonempty++)
        return;
    static const char empties[256] = { [0 ... 255] = (char)0x90 };
    for (uint32_t left = self->ngroups; left;) {
        uint32_t k = left < sizeof empties ? left : (uint32_t)sizeof empties;
        batch_write(bd, empties, k);
        left -= k;
    }
}

/*  An empty group in bd: nothing while all its groups are. */
static void group_empty(chan_build_t *bd)
{
    if (bd->nonempty && msgpack_pack_array(&bd->pk, 0) < 0)
        bd->broken = true;
}

static void group_into(chan_out_t *self, chan_build_t *bd, uint32_t n, const char *data,
                       size_t size)
{
    if (!n) {
        group_empty(bd);
        return;
    }
    materialize(self, bd);
    if (msgpack_pack_array(&bd->pk, n) < 0)
        bd->broken = true;
    batch_write(bd, data, size);
}

/*  Groups packed in place (chan.h, chan_out_direct_open, _keyed_put): a
    home's part of the open group starts at put_base[k], after the one
    byte left for its header (0: it has none open). */
static void part_open(chan_out_t *self, unsigned k)
{
    chan_build_t *bd = &self->build[k];
    materialize(self, bd);
    batch_write(bd, "\x90", 1); /* a fixarray header, set at the close */
    self->put_base[k] = bd->sb.size;
}

/*  The header of home k's part, n values: the byte left for it, or
    widened to an array 16 or 32 header (the values moved up). */
static void part_close(chan_out_t *self, unsigned k, uint32_t n)
{
    chan_build_t *bd = &self->build[k];
    size_t base = self->put_base[k];
    self->put_base[k] = 0;
    self->split_count[k] = 0;
    if (n <= 15) {
        bd->sb.data[base - 1] = (char)(0x90 | n);
        return;
    }
    size_t extra = n <= 0xffff ? 2 : 4, len = bd->sb.size - base;
    static const char room[4];
    batch_write(bd, room, extra);
    if (bd->broken)
        return;
    char *head = bd->sb.data + base - 1;
    memmove(head + 1 + extra, head + 1, len);
    if (extra == 2) {
        head[0] = (char)0xdc;
        head[1] = (char)(n >> 8);
        head[2] = (char)n;
    }
    else {
        head[0] = (char)0xdd;
        head[1] = (char)(n >> 24);
        head[2] = (char)(n >> 16);
        head[3] = (char)(n >> 8);
        head[4] = (char)n;
    }
}

msgpack_sbuffer *chan_out_direct_open(chan_out_t *self)
{
    if (!self->open || self->keyed || self->broadcast || self->per_slot || self->nbuild != 1)
        return NULL;
    part_open(self, 0);
    return self->build[0].broken ? NULL : &self->build[0].sb;
}

void chan_out_direct_close(chan_out_t *self, uint32_t n)
{
    part_close(self, 0, n);
    self->ngroups++;
}

void chan_out_home_put(chan_out_t *self, unsigned home, const char *data, size_t size)
{
    if (!self->put_base[home]) /* its first value of the group */
        part_open(self, home);
    self->split_count[home]++;
    batch_write(&self->build[home], data, size);
}

void chan_out_home_put_str(chan_out_t *self, unsigned home, const char *str, size_t len)
{
    chan_build_t *bd = &self->build[home];
    if (!self->put_base[home])
        part_open(self, home);
    self->split_count[home]++;
    if (msgpack_pack_str_with_body(&bd->pk, str, len) < 0)
        bd->broken = true;
}

void chan_out_keyed_close(chan_out_t *self)
{
    for (unsigned k = 0; k < self->nbuild; k++)
        if (self->put_base[k])
            part_close(self, k, self->split_count[k]);
        else
            group_empty(&self->build[k]);
    self->ngroups++;
}

void chan_out_part_abort(chan_out_t *self)
{
    for (unsigned k = 0; k < self->nbuild; k++)
        if (self->put_base[k]) {
            self->build[k].sb.size = self->put_base[k] - 1;
            self->put_base[k] = 0;
            self->split_count[k] = 0;
        }
}

/*  A keyed group: each home's values, as chan_out_split found them, in
    their order: each home's array header (chan_out_split counted them),
    then every value into its home's batch. */
static void group_keyed(chan_out_t *self)
{
    const uint32_t *count = self->split_count;
    for (unsigned k = 0; k < self->nbuild; k++) {
        chan_build_t *bd = &self->build[k];
        if (!count[k]) {
            group_empty(bd);
            continue;
        }
        materialize(self, bd);
        if (msgpack_pack_array(&bd->pk, count[k]) < 0)
            bd->broken = true;
    }
    for (uint32_t i = 0; i < self->nsplit; i++) {
        const chan_split_t *v = &self->split[i];
        batch_write(&self->build[v->home], self->split_data + v->at, v->end - v->at);
    }
}

/* ---- items' own topics: a batch per subscriber ---------------------------- */

/*  Whether subscriber slot i takes the next group: its prefixes match the
    group's topic, or with none, the output's (what `match` says). */
static bool slot_takes(const chan_out_t *self, int i)
{
    const out_slot_t *s = &self->slots[i];
    if (!self->group_topic)
        return s->match;
    return !s->gone && topic_matches(self->group_topic, s->subscribe, strlen(s->subscribe));
}

/*  The open batch becomes one per subscriber, each a copy of what it holds
    so far. 0, or -1 out of memory. */
static int to_per_slot(chan_out_t *self)
{
    if (self->nslot_build < self->nslots) {
        chan_build_t *more = realloc(self->slot_build, (size_t)self->nslots * sizeof *more);
        if (!more)
            return -1;
        self->slot_build = more;
        for (int i = self->nslot_build; i < self->nslots; i++) {
            memset(&more[i], 0, sizeof more[i]);
            msgpack_sbuffer_init(&more[i].sb);
            msgpack_packer_init(&more[i].pk, &more[i].sb, sbuffer_append_cb);
            more[i].buf_want = BUF_FIRST;
        }
        self->nslot_build = self->nslots;
    }
    const chan_build_t *shared = &self->build[0];
    for (int i = 0; i < self->nslots; i++) {
        chan_build_t *bd = &self->slot_build[i];
        if (!bd->sb.data)
            buf_open(self, bd);
        bd->sb.size = 0;
        bd->broken = shared->broken;
        bd->nonempty = shared->nonempty;
        batch_write(bd, shared->sb.data, shared->sb.size);
    }
    self->per_slot = true;
    return 0;
}

int chan_out_topic(chan_out_t *self, const char *topic)
{
    if (!self->broadcast)
        return 0;
    if (topic && !strcmp(topic, self->topic))
        topic = NULL; /* the output's own */
    if (!topic != !self->group_topic || (topic && strcmp(topic, self->group_topic))) {
        free(self->group_topic);
        self->group_topic = topic ? strdup(topic) : NULL;
        if (topic && !self->group_topic) {
            self->build[0].broken = true;
            return -1;
        }
    }
    if (topic && self->open && !self->per_slot && to_per_slot(self) < 0) {
        self->build[0].broken = true;
        return -1;
    }
    return 0;
}

void chan_out_group(chan_out_t *self, uint32_t n, const char *data, size_t size)
{
    if (self->per_slot) {
        for (int i = 0; i < self->nslots; i++)
            if (slot_takes(self, i))
                group_into(self, &self->slot_build[i], n, data, size);
            else
                group_empty(&self->slot_build[i]);
    }
    else if (!self->keyed)
        group_into(self, &self->build[0], n, data, size);
    else if (n && self->split_data == data && self->nsplit == n)
        group_keyed(self);
    else if (n) { /* not split first: a caller's mistake, never sent short */
        for (unsigned k = 0; k < self->nbuild; k++)
            self->build[k].broken = true;
    }
    else
        for (unsigned k = 0; k < self->nbuild; k++)
            group_empty(&self->build[k]);
    self->split_data = NULL;
    self->ngroups++;
}

void chan_out_group_failed(chan_out_t *self, const char *message)
{
    if (self->per_slot) {
        for (int i = 0; i < self->nslots; i++) {
            chan_build_t *bd = &self->slot_build[i];
            if (!slot_takes(self, i)) {
                group_empty(bd);
                continue;
            }
            materialize(self, bd);
            if (msgpack_pack_str_with_body(&bd->pk, message, strlen(message)) < 0)
                bd->broken = true;
        }
        self->ngroups++;
        return;
    }
    /* a keyed output's failed item goes to one home, the same every time */
    unsigned home = self->keyed ? chan_home(self->origin, self->first_seq + self->ngroups,
                                            self->nbuild)
                                : 0;
    for (unsigned k = 0; k < self->nbuild; k++) {
        chan_build_t *bd = &self->build[k];
        if (k != home) {
            group_empty(bd);
            continue;
        }
        materialize(self, bd);
        if (msgpack_pack_str_with_body(&bd->pk, message, strlen(message)) < 0)
            bd->broken = true;
    }
    self->ngroups++;
}

void chan_out_group_repeat(chan_out_t *self)
{
    for (int i = 0; self->per_slot && i < self->nslots; i++) {
        chan_build_t *bd = &self->slot_build[i];
        materialize(self, bd);
        if (msgpack_pack_nil(&bd->pk) < 0)
            bd->broken = true;
    }
    if (self->per_slot) {
        self->ngroups++;
        return;
    }
    for (unsigned k = 0; k < self->nbuild; k++) {
        chan_build_t *bd = &self->build[k];
        materialize(self, bd);
        if (msgpack_pack_nil(&bd->pk) < 0)
            bd->broken = true;
    }
    self->ngroups++;
}

size_t chan_out_size(const chan_out_t *self)
{
    size_t size = 0;
    for (unsigned k = 0; self->open && !self->per_slot && k < self->nbuild; k++)
        size += self->build[k].sb.size;
    for (int i = 0; self->open && self->per_slot && i < self->nslots; i++)
        size += self->slot_build[i].sb.size;
    return size;
}

/*  Makes room for one more batch; the ring doubles when full. */
static int ring_reserve(chan_out_t *self)
{
    if (self->next_id - self->head < self->cap)
        return 0;
    uint64_t ncap = self->cap * 2;
    out_batch_t *nring = calloc(ncap, sizeof *nring);
    if (!nring)
        return -1;
    for (uint64_t id = self->head; id < self->next_id; id++) {
        out_batch_t *from = batch_at(self, id), *to = &nring[id & (ncap - 1)];
        *to = *from;
        zmq_msg_init(&to->msg);
        if (from->live)
            zmq_msg_move(&to->msg, &from->msg);
    }
    free(self->ring);
    self->ring = nring;
    self->cap = ncap;
    return 0;
}

/*  Seals builder bd's batch into the outbox, bound for home instance
    `home` (-1: whoever has credit), or on a broadcast for subscriber slot
    `slot` only (-1: every subscriber that takes the output's topic). 0, or -1 when the outbox or zmq could
    not take it (ENOMEM): then nothing of it was counted. */
static int seal(chan_out_t *self, chan_build_t *bd, int home, int slot)
{
    if (ring_reserve(self) < 0)
        return -1;
    uint64_t id = self->next_id;
    /* with no group that is not empty, nothing but the header was written:
       the batch is a count */
    env_batch_header(bd->sb.data + BUF_PREFIX, id, self->origin, self->first_seq,
                     self->ngroups, bd->nonempty == 0);
    out_batch_t *b = batch_at(self, id);
    memset(b, 0, sizeof *b);
    /* before anything counts it: a batch zmq could not take leaves no
       trace but the error */
    if (buf_to_msg(self, bd, &b->msg) < 0)
        return -1;
    self->next_id++;
    b->id = id;
    b->live = true;
    b->bytes = zmq_msg_size(&b->msg);
    self->live_bytes += b->bytes;
    self->span_bytes += b->bytes;
    b->slot = -1;
    b->src = self->src;
    b->home = home;
    if (!self->broadcast)
        self->unsent++;
    if (self->src)
        self->src->pending++;
    if (self->broadcast)
        for (int i = 0; i < self->nslots; i++)
            if (slot >= 0 ? i == slot : self->slots[i].match)
                b->pending |= 1ull << i;
    self->batches_out++;
    if (self->broadcast && b->pending == 0) {
        /* nobody subscribes to this topic: done as soon as made */
        zmq_msg_close(&b->msg);
        b->live = false;
        self->live_bytes -= b->bytes;
        if (self->on_acked)
            self->on_acked(self->acked_arg, b->src);
        while (self->head < self->next_id && !batch_at(self, self->head)->live)
            self->span_bytes -= batch_at(self, self->head++)->bytes;
    }
    return 0;
}

int chan_out_flush(chan_out_t *self)
{
    if (!self->open)
        return 0;
    self->open = false;
    bool broken = false;
    for (unsigned k = 0; k < self->nbuild; k++)
        broken |= self->build[k].broken;
    for (int i = 0; self->per_slot && i < self->nslots; i++)
        broken |= self->slot_build[i].broken;
    if (broken) { /* short of what it says it holds: never sent */
        errno = ENOMEM;
        return -1;
    }
    if (self->ngroups == 0)
        return 0;
    self->fanout = 1;
    if (self->per_slot) { /* each subscriber its own; header alone when empty */
        self->fanout = (unsigned)self->nslots;
        for (int i = 0; i < self->nslots; i++)
            if (!self->slots[i].gone && seal(self, &self->slot_build[i], -1, i) < 0)
                return -1;
    }
    else if (!self->keyed) {
        int home = self->home_n ? (int)chan_home(self->origin, self->first_seq / self->block,
                                                 self->home_n)
                                : -1;
        if (seal(self, &self->build[0], home, -1) < 0)
            return -1;
    }
    else /* one batch per home that has a group of its own; out of memory
            part way, the host stops (what was sealed is never acknowledged) */
        for (unsigned k = 0; k < self->nbuild; k++)
            if (self->build[k].nonempty && seal(self, &self->build[k], (int)k, -1) < 0)
                return -1;
    /* in the outbox now: what could not be sent goes at the next pump */
    chan_out_pump(self);
    return 0;
}

static uint32_t slot_bdp(const out_slot_t *s);
static uint32_t slot_floor(const chan_out_t *self);

/*  Whether the span from the oldest unacknowledged batch to the newest is
    as long as it may be: CHAN_SPAN_MAX batches, or with an ordered actor
    downstream far less (chan.h, CHAN_ORDER_SPAN_MIN). */
static bool span_full(const chan_out_t *self)
{
    uint64_t span = self->next_id - self->head;
    if (span >= CHAN_SPAN_MAX)
        return true;
    if (!self->ordered || !span
        || (span < CHAN_ORDER_SPAN_MIN && self->span_bytes < CHAN_ORDER_SPAN_BYTES))
        return false; /* below both bounds' least: at full speed, always */
    uint32_t floor = slot_floor(self);
    uint64_t sum = 0, bdps = 0; /* what the consumers may hold between them,
                                   and what their round trips need */
    for (int i = 0; i < self->nslots; i++)
        if (self->slots[i].connected) {
            uint32_t bdp = slot_bdp(&self->slots[i]);
            sum += bdp > floor ? bdp : floor;
            bdps += bdp;
        }
    if (span >= 4 * sum && span >= CHAN_ORDER_SPAN_MIN)
        return true;
    /* in bytes too, past what every consumer holding a few batches needs,
       and past twice what far consumers' round trips need in flight */
    uint64_t bytes = CHAN_ORDER_SPAN_BYTES, need = 2 * bdps * (self->span_bytes / span);
    return self->span_bytes >= (need > bytes ? need : bytes) && span >= 4 * (uint64_t)self->nslots;
}

bool chan_out_ready(const chan_out_t *self)
{
    if (self->broadcast) { /* every subscriber waits for the slowest */
        unsigned per = self->fanout > 1 ? self->fanout : 1;
        return self->next_id - self->head < (uint64_t)self->window * per;
    }
    /* a pipe's consumers each have a bound of their own (chan.h): what is
       bounded here is the memory, and the ring's span a lost or slow one
       can stretch */
    if (self->live_bytes >= CHAN_LIVE_BYTES_MAX || span_full(self))
        return false;
    if (self->home_n) /* batches wait for their own home's credit */
        return self->unsent < self->home_n;
    return self->send_cursor + 1 >= self->next_id; /* else one waits for credit */
}

bool chan_out_idle(const chan_out_t *self)
{
    return !self->open && self->head == self->next_id;
}

static int send_to(chan_out_t *self, int slot, out_batch_t *b)
{
    out_slot_t *s = &self->slots[slot];
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, &b->msg);
    if (zmq_send(self->sock, s->rid, s->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_msg_send(&copy, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&copy);
        if (errno == EHOSTUNREACH || errno == EAGAIN) {
            /* gone, or its pipe is full (credit should prevent that): what
               it holds goes out again, and it gets nothing more until it
               says hello again */
            chan_out_lost(self, s->name);
            return 1;
        }
        return -1;
    }
    s->credit--;
    b->pending |= 1ull << slot;
    if (!self->broadcast) {
        s->live++;
        b->sent_ns = now_ns();
    }
    return 0;
}

/*  Batches the consumer holds: sent, their credit not back yet (a late
    ack can leave it more credit than its hello gave). */
static uint32_t slot_in_hand(const out_slot_t *s)
{
    return s->credit < s->granted ? s->granted - s->credit : 0;
}

/*  Twice the batches the consumer acknowledges in one round trip (chan.h),
    rounded up; 1 until it has acknowledged any. */
static uint32_t slot_bdp(const out_slot_t *s)
{
    uint64_t a = s->rtt_ns[0], b = s->rtt_ns[1];
    uint64_t rtt = !a ? b : !b || a < b ? a : b;
    double bdp = 2.0 * s->rate * (double)rtt / 1e9;
    return bdp >= CHAN_SLOT_LIVE_MAX ? CHAN_SLOT_LIVE_MAX : (uint32_t)bdp + 1;
}

/*  The least every connected consumer of a pipe may hold unacknowledged:
    its share of the window, and 2; each home of a keyed pipe the whole
    window (chan.h). */
static uint32_t slot_floor(const chan_out_t *self)
{
    uint32_t n = 0;
    for (int i = 0; i < self->nslots; i++)
        n += self->slots[i].connected;
    uint32_t share = n && !self->keyed ? self->window / n : self->window;
    return share > 2 ? share : 2;
}

/*  Whether consumer slot may be sent one more batch now: it has credit,
    and holds fewer than its bounds (chan.h), unread and unacknowledged. */
static bool slot_can_take(const chan_out_t *self, const out_slot_t *s, uint32_t floor)
{
    if (!s->connected || !s->credit)
        return false;
    uint32_t hand = slot_in_hand(s), bdp = slot_bdp(s);
    /* the embedding caller's `ahead` says how many exactly */
    bool room = self->ahead != CHAN_AHEAD_ANY
                    ? hand <= self->ahead
                    : hand < (bdp > self->hand_min ? bdp : self->hand_min);
    return room && s->live < (bdp > floor ? bdp : floor);
}

static int best_slot(chan_out_t *self)
{
    int best = -1;
    uint32_t floor = slot_floor(self);
    for (int i = 0; i < self->nslots; i++) {
        out_slot_t *s = &self->slots[i];
        if (slot_can_take(self, s, floor)
            && (best < 0 || s->credit > self->slots[best].credit))
            best = i;
    }
    return best;
}

/*  The slot of home instance k, or of the next one still there when k
    is gone for good (restart = temporary: nobody else can take its share
    exactly, but it must not stop the run); -1 until it has said hello. */
static int home_slot_of(chan_out_t *self, int k)
{
    for (unsigned tries = 0; tries < self->home_n; tries++) {
        int slot = self->home_slot[(k + tries) % self->home_n];
        if (slot < 0 || !self->slots[slot].gone)
            return slot;
    }
    return -1;
}

/*  Sends an unsent batch to slot: send_to's answer, and on success the
    batch is that slot's. */
static int place_batch(chan_out_t *self, int slot, out_batch_t *b)
{
    int rc = send_to(self, slot, b);
    if (rc == 0) {
        b->slot = slot;
        self->unsent--;
    }
    return rc;
}

static int pump_homed(chan_out_t *self)
{
    uint32_t floor = slot_floor(self);
    for (uint64_t id = self->head; id < self->next_id && self->unsent; id++) {
        out_batch_t *b = batch_at(self, id);
        if (!b->live || b->slot >= 0)
            continue;
        int slot = home_slot_of(self, b->home);
        if (slot < 0 || !slot_can_take(self, &self->slots[slot], floor))
            continue;
        if (place_batch(self, slot, b) < 0)
            return -1;
    }
    self->send_cursor = self->next_id;
    return 0;
}

static int pump_pipe(chan_out_t *self)
{
    if (self->home_n)
        return pump_homed(self);
    /* batches sent again after their consumer was lost come first */
    for (uint64_t id = self->head; id < self->send_cursor; id++) {
        out_batch_t *b = batch_at(self, id);
        if (!b->live || b->slot >= 0)
            continue;
        int slot = best_slot(self);
        if (slot < 0)
            return 0;
        int rc = place_batch(self, slot, b);
        if (rc < 0)
            return -1;
        if (rc > 0)
            id--; /* try the same batch on another slot */
    }
    while (self->send_cursor < self->next_id) {
        out_batch_t *b = batch_at(self, self->send_cursor);
        if (!b->live) {
            self->send_cursor++;
            continue;
        }
        int slot = best_slot(self);
        if (slot < 0)
            return 0;
        int rc = place_batch(self, slot, b);
        if (rc < 0)
            return -1;
        if (rc == 0)
            self->send_cursor++;
    }
    return 0;
}

static int pump_broadcast(chan_out_t *self)
{
    for (int i = 0; i < self->nslots; i++) {
        out_slot_t *s = &self->slots[i];
        if (s->cursor < self->head)
            s->cursor = self->head;
        while (s->connected && !s->gone && s->credit > 0
               && s->cursor < self->next_id) {
            out_batch_t *b = batch_at(self, s->cursor);
            if (b->live && (b->pending & (1ull << i))) {
                int rc = send_to(self, i, b);
                if (rc < 0)
                    return -1;
                if (rc > 0)
                    break;
            }
            s->cursor++;
        }
    }
    return 0;
}

int chan_out_pump(chan_out_t *self)
{
    return self->broadcast ? pump_broadcast(self) : pump_pipe(self);
}

static void batch_done(chan_out_t *self, out_batch_t *b)
{
    zmq_msg_close(&b->msg);
    b->live = false;
    self->live_bytes -= b->bytes;
    if (self->on_acked)
        self->on_acked(self->acked_arg, b->src);
    while (self->head < self->next_id && !batch_at(self, self->head)->live)
        self->span_bytes -= batch_at(self, self->head++)->bytes;
}

uint64_t chan_out_cost(const chan_out_t *self)
{
    uint64_t cost = 0;
    for (int i = 0; i < self->nslots; i++)
        if (self->slots[i].connected && self->slots[i].cost_ns > cost)
            cost = self->slots[i].cost_ns;
    return cost;
}

void chan_out_lost(chan_out_t *self, const char *name)
{
    int slot = slot_find_name(self, name, strlen(name));
    if (slot < 0)
        return;
    out_slot_t *s = &self->slots[slot];
    s->connected = false;
    s->credit = 0;
    s->rid_len = 0;
    s->live = 0; /* what it held is unsent again, below */
    if (self->broadcast) {
        s->cursor = self->head; /* its replacement gets all it missed */
        return;
    }
    for (uint64_t id = self->head; id < self->next_id; id++) {
        out_batch_t *b = batch_at(self, id);
        if (b->live && b->slot == slot) {
            b->slot = -1;
            b->pending = 0;
            self->unsent++;
        }
    }
}

void chan_out_gone(chan_out_t *self, const char *name)
{
    int slot = slot_find_name(self, name, strlen(name));
    if (slot < 0)
        return;
    chan_out_lost(self, name);
    self->slots[slot].gone = true;
    if (!self->broadcast)
        return;
    self->slots[slot].match = false; /* no batch waits for it any more */
    self->slots[slot].gone = true;
    uint64_t bit = 1ull << slot;
    for (uint64_t id = self->head; id < self->next_id; id++) {
        out_batch_t *b = batch_at(self, id);
        if (b->live && (b->pending & bit)) {
            b->pending &= ~bit;
            if (b->pending == 0)
                batch_done(self, b);
        }
    }
}

static void on_hello(chan_out_t *self, const char *rid, size_t rid_len,
                     const env_hello_t *h)
{
    if (rid_len >= CHAN_NAME_MAX)
        return;
    int slot = slot_find_name(self, h->consumer, h->consumer_len);
    if (slot >= 0) {
        out_slot_t *s = &self->slots[slot];
        if (s->connected && (s->rid_len != rid_len || memcmp(s->rid, rid, rid_len)))
            chan_out_lost(self, s->name); /* a new incarnation took over */
        else if (!s->connected && self->broadcast)
            s->cursor = self->head;
    }
    else {
        slot = slot_add(self, h->consumer, h->consumer_len, h->topic, h->topic_len);
        if (slot < 0)
            return;
        self->slots[slot].cursor = self->next_id; /* a late subscriber */
    }
    out_slot_t *s = &self->slots[slot];
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    s->credit = s->granted = h->credit;
    s->connected = true;
    s->rate_at = s->rtt_at = now_ns();
}

/*  A pipe's batch acknowledged by s, rtt_ns after it was sent. */
static void slot_acked(out_slot_t *s, uint64_t rtt_ns)
{
    s->live -= s->live > 0;
    s->rate_n++;
    if (!s->rtt_ns[0] || rtt_ns < s->rtt_ns[0])
        s->rtt_ns[0] = rtt_ns;
}

/*  A period's end: its rate (which rises at once and falls by a quarter
    a period) and its least round trip. */
static void slot_measure(out_slot_t *s, uint64_t now)
{
    if (now - s->rate_at >= CHAN_RATE_PERIOD_NS) {
        double r = (double)s->rate_n * 1e9 / (double)(now - s->rate_at);
        s->rate = r > s->rate ? r : (3 * s->rate + r) / 4;
        s->rate_n = 0;
        s->rate_at = now;
    }
    if (now - s->rtt_at >= CHAN_RTT_PERIOD_NS) {
        s->rtt_ns[1] = s->rtt_ns[0];
        s->rtt_ns[0] = 0;
        s->rtt_at = now;
    }
}

static void on_ack(chan_out_t *self, int slot, uint32_t credit,
                   const msgpack_object_array *ids, uint64_t cost_ns)
{
    out_slot_t *s = &self->slots[slot];
    s->credit += credit;
    if (cost_ns)
        s->cost_ns = cost_ns;
    uint64_t bit = 1ull << slot, now = self->broadcast ? 0 : now_ns();
    for (uint32_t i = 0; i < ids->size; i++) {
        uint64_t id = ids->ptr[i].via.u64;
        if (id < self->head || id >= self->next_id)
            continue; /* late duplicate */
        out_batch_t *b = batch_at(self, id);
        if (!b->live || !(b->pending & bit))
            continue;
        if (!self->broadcast && b->slot != slot)
            continue;
        if (!self->broadcast)
            slot_acked(s, now - b->sent_ns);
        b->pending &= ~bit;
        if (b->pending == 0)
            batch_done(self, b);
    }
    if (!self->broadcast)
        slot_measure(s, now);
}

/*  BYE back to a consumer that said it: its acks are read and what it
    held is the others' now, so it may go, and its successor's hello
    cannot overtake them (on_hello would then give out again what it ran).
    Dropped when its pipe is full or gone: it stops waiting in a while. */
static void answer_bye(chan_out_t *self, const char *rid, size_t rid_len)
{
    packbuf_t buf;
    packbuf_init(&buf);
    env_pack_bye(&buf.pk);
    if (zmq_send(self->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == (int)rid_len)
        zmq_send(self->sock, buf.data, buf.size, ZMQ_DONTWAIT);
}

int chan_out_read(chan_out_t *self, int budget, uint64_t *malformed)
{
    msgpack_zone *zone = &self->zone;
    int n = 0;
    for (; n < budget; n++) {
        char rid[CHAN_NAME_MAX];
        int rid_len = zmq_recv(self->sock, rid, sizeof rid, ZMQ_DONTWAIT);
        if (rid_len < 0)
            break;
        zmq_msg_t body;
        zmq_msg_init(&body);
        int more = 0;
        size_t ml = sizeof more;
        zmq_getsockopt(self->sock, ZMQ_RCVMORE, &more, &ml);
        if (!more || zmq_msg_recv(&body, self->sock, 0) < 0) {
            (*malformed)++;
            zmq_msg_close(&body);
            continue;
        }
        bool extra = zmq_msg_more(&body);
        while (zmq_msg_more(&body)) { /* drain frames we do not expect */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            zmq_msg_recv(&body, self->sock, 0);
        }
        msgpack_object root;
        env_status_t st;
        msgpack_zone_clear(zone);
        if (extra || rid_len > (int)sizeof rid
            || env_decode(zmq_msg_data(&body), zmq_msg_size(&body), zone, &root)
                   != ENV_OK) {
            (*malformed)++;
            zmq_msg_close(&body);
            continue;
        }
        int kind = env_kind(&root, &st);
        env_hello_t hello;
        uint32_t credit;
        msgpack_object_array ids;
        uint64_t cost;
        int slot;
        if (kind == ENV_HELLO && env_hello_view(&root, &hello) == ENV_OK)
            on_hello(self, rid, (size_t)rid_len, &hello);
        else if (kind == ENV_BYE && root.via.array.size == 2) {
            /* read after its last ack: what it still holds was not taken */
            if ((slot = slot_find_rid(self, rid, (size_t)rid_len)) >= 0)
                chan_out_lost(self, self->slots[slot].name);
            answer_bye(self, rid, (size_t)rid_len);
        }
        else if (kind == ENV_ACK
                 && env_ack_view(&root, &credit, &ids, &cost) == ENV_OK) {
            /* an ack from no known consumer is stale: it was meant for
               this producer's predecessor */
            if ((slot = slot_find_rid(self, rid, (size_t)rid_len)) >= 0)
                on_ack(self, slot, credit, &ids, cost);
        }
        else
            (*malformed)++;
        zmq_msg_close(&body);
    }
    return n;
}

/*  input.c: input batches read from the inputs, decoded into the batch
    zone, and handed to items.c: at once, or in order by an ordered actor
    (early batches held by first seq until the gap before them closes),
    or to the embedding caller that collects them.
*/
#include "host/internal.h"
#include "base/clock.h"

#include <stdlib.h>
#include <string.h>

/* Input batches handled per input per loop turn: fairness vs. poll cost. */
#define BATCHES_PER_TURN 4

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

order_t *host_order_for(host_t *h, uint32_t origin)
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
                host_handle_groups(h, &b, (uint32_t)from, b.groups.size, NULL);
                o->next_seq = end;
            }
            else if (h->fatal)
                return; /* out of memory: it stays held, as its checkpoint has it */
            /* else not a batch after all (counted): its header moves nothing */
        }
        o->list = x->next;
        if (x->rec) { /* handed on: the checkpoint's position covers it */
            x->rec->effect = true;
            host_rec_release(h, x->rec);
            h->held_waiting--;
        }
        held_free(h, x);
    }
}

/*  Holds a batch that came early, in first_seq order; the frame is moved
    into it. Returns its record, or NULL out of memory (the frame is the
    caller's still). */
held_t *host_order_hold(host_t *h, order_t *o, zmq_msg_t *msg, const env_batch_t *b)
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
    acknowledged once a checkpoint carries them whole (host_take_checkpoint). */
void host_promote_held(host_t *h)
{
    if (!h->held_waiting)
        return;
    uint64_t now = now_ns();
    bool all = h->held_waiting >= HOLD_ACK_MAX;
    for (int i = 0; i < h->norders; i++)
        for (held_t *x = h->orders[i].list; x; x = x->next)
            if (x->rec && (all || now - x->since_ns >= HOLD_ACK_NS)) {
                x->rec->effect = true;
                host_rec_release(h, x->rec);
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
    (host_promote_held). Nothing is acknowledged before it is safely held: out
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
    order_t *o = host_order_for(h, b.origin);
    if (!o) {
        host_fatal(h, "for the order of a new origin");
        return;
    }
    uint64_t end = b.first_seq + b.groups.size;
    bool now = !o->list && b.first_seq <= o->next_seq && end > o->next_seq;
    if (now && !decoded && !decode_batch(h, msg, &b))
        return; /* not a batch after all (counted), or out of memory */
    inrec_t *r = h->ckpt_on ? host_rec_new(h, input, b.batch_id) : NULL;
    if (h->ckpt_on && !r) {
        host_fatal(h, "for the record of an input batch");
        return;
    }
    held_t *x = NULL;
    if (now) {
        host_handle_groups(h, &b, (uint32_t)(o->next_seq - b.first_seq), b.groups.size,
                      h->ctx.nouts ? r : NULL);
        o->next_seq = end;
    }
    else if (end > o->next_seq && !(x = host_order_hold(h, o, msg, &b))) {
        host_fatal(h, "to hold a batch that came early");
        if (r) { /* never acknowledged: back among the free ones */
            r->next_free = h->free_recs;
            h->free_recs = r;
            h->ctx.stats.held--;
        }
        return;
    }
    if (!r)
        host_ack_batch(h, input, b.batch_id); /* handed on, held, or a repeat */
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
        host_rec_release(h, r);
    }
    if (x)
        order_drain(h, o, false);
}

static void handle_batch(host_t *h, int input, zmq_msg_t *msg)
{
    env_batch_t b;
    if (!read_batch(h, msg, &b))
        return;
    inrec_t *r = host_rec_new(h, input, b.batch_id);
    if (!r) { /* dropped unacknowledged, its producer would wait for ever */
        host_fatal(h, "for the record of an input batch");
        return;
    }
    h->touched = false;
    host_handle_groups(h, &b, 0, b.groups.size, h->ctx.nouts ? r : NULL);
    r->effect = h->touched;
    host_rec_release(h, r);
    /* a batch is handled whole: the one that reaches the count is the last */
    if (h->retire_after && h->ctx.stats.items_in >= h->retire_after)
        h->retiring = true;
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
    host_ack_batch(h, input, b.batch_id);
    if (e->collect_end)
        e->collect_end(e->arg);
}

void host_read_input(host_t *h, int input)
{
    chan_in_t *in = h->ctx.ins[input];
    /* what the embedding caller collects makes no output: it is always
       taken, else a full task window and unread results would wait on
       each other */
    bool collect = h->embed && h->embed->collect;
    for (int n = 0; n < BATCHES_PER_TURN && !h->fatal && !h->retiring
                    && (collect || host_outs_ready(h));
         n++) {
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
        if (in->branch >= 0
            && !env_batch_rename(zmq_msg_data(&msg), zmq_msg_size(&msg), h->names,
                                 (uint32_t)in->chan, (uint32_t)in->branch)) {
            h->ctx.stats.malformed++; /* not a batch troupe writes */
            zmq_msg_close(&msg);
            continue;
        }
        if (h->embed && h->embed->collect)
            collect_batch(h, input, &msg);
        else if (h->ordered)
            order_batch(h, input, &msg);
        else
            handle_batch(h, input, &msg);
        zmq_msg_close(&msg);
    }
}

/*  At the end of the input: hands on every batch still held, gaps or not
    (the items of a gap that never closed are not coming). */
void host_drain_held(host_t *h)
{
    for (int i = 0; i < h->norders; i++)
        order_drain(h, &h->orders[i], true);
}

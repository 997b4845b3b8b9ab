/*  items.c: handling items: the module's hooks over each group of an input
    batch (poison items failed instead), what they make into the outputs,
    the record of each input batch until all it made is safely downstream,
    a source's batches and a sink's flush.
*/
#include "host/internal.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>

/* Output batches are split at group boundaries past this size (checked
   every 64 groups). */
#define SPLIT_BYTES (1u << 20)

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
void host_take_poison(host_t *h, const msgpack_object *e, uint32_t from)
{
    const msgpack_object *v = e->via.array.ptr;
    if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= from + 3
        && v[from].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && v[from + 1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && v[from + 2].type == MSGPACK_OBJECT_STR)
        add_poison(h, v[from].via.u64, v[from + 1].via.u64, v[from + 2].via.str.ptr,
                   v[from + 2].via.str.size);
}

inrec_t *host_rec_new(host_t *h, int input, uint64_t batch_id)
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
void host_ack_batch(host_t *h, int input, uint64_t batch_id)
{
    if (!h->fatal && chan_in_ack(h->ctx.ins[input], batch_id) < 0)
        host_fatal(h, "for an acknowledgement");
}

void host_ack_input(void *arg, int input, uint64_t batch_id)
{
    host_t *h = arg;
    host_ack_batch(h, input, batch_id);
    h->ctx.stats.held--;
}

/*  Everything a batch made is safely downstream: it is acknowledged, or
    for an exact actor, it waits for the checkpoint that covers it. */
void host_rec_release(host_t *h, inrec_t *r)
{
    if (--r->pending > 0)
        return;
    /* a batch none of whose values reached the module (all empty, all
       failed or repeats: a filter's or a reducer's pass-through) changed
       nothing a checkpoint keeps */
    if (!h->ckpt_on || !r->effect)
        host_ack_input(h, r->input, r->batch_id);
    else if (ckpt_wait(&h->ckpt, r->input, r->batch_id, now_ns()) < 0)
        /* acknowledged before a checkpoint covers it, it would be lost
           with a death before the next one */
        host_fatal(h, "for a batch waiting for a checkpoint");
    r->next_free = h->free_recs;
    h->free_recs = r;
}

void host_on_out_acked(void *arg, inrec_t *src)
{
    if (src)
        host_rec_release(arg, src);
}

/*  Opens a batch of items (origin, seq ...) in every output; with several
    outputs each takes its copies under names of their own (envelope.h,
    "Item names"). */
static void outs_begin(host_t *h, uint32_t origin, uint64_t seq, inrec_t *src)
{
    troupe_ctx_t *ctx = &h->ctx;
    for (int i = 0; i < ctx->nouts; i++) {
        uint32_t name = ctx->nouts > 1 ? env_branch_origin(h->names, origin,
                                                           (uint32_t)ctx->outs[i]->chan,
                                                           ENV_BRANCH_OUT)
                                       : origin;
        chan_out_begin(ctx->outs[i], name, seq, src);
    }
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
/*  Each keyed output finds the home of each value of the group (the
    split its chan_out_group then follows); a value without a key, or with
    one that cannot be a key, fails the item instead. */
static bool split_keyed(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    for (int i = 0; i < ctx->nouts; i++)
        if (ctx->outs[i]->keyed
            && chan_out_split(ctx->outs[i], ctx->group_n, ctx->group_sb.data,
                              ctx->group_sb.size, ctx->keys, ctx->key_n, ctx->error,
                              sizeof ctx->error)
                   < 0) {
            ctx->failed = true;
            return false;
        }
    return true;
}

/*  The topic of the groups that follow on every broadcast output (NULL:
    each output's own). Out of memory for it, the host stops. */
static void outs_topic(host_t *h, const char *topic)
{
    for (int i = 0; h->broadcast_outs && i < h->ctx.nouts; i++)
        if (chan_out_topic(h->ctx.outs[i], topic) < 0)
            host_fatal(h, "for a batch of another topic");
}

static void group_end(host_t *h, int rc)
{
    troupe_ctx_t *ctx = &h->ctx;
    outs_topic(h, ctx->topic[0] ? ctx->topic : NULL);
    if (!host_group_close(ctx))
        rc = TROUPE_ERROR;
    if (rc != TROUPE_ERROR && !ctx->failed && h->keyed_outs && !ctx->keyed_put)
        split_keyed(h);
    if (rc == TROUPE_ERROR || ctx->failed) {
        if (!ctx->failed)
            snprintf(ctx->error, sizeof ctx->error, "failed (no message given)");
        if (ctx->nouts == 1) /* what it packed into the batches goes */
            chan_out_part_abort(ctx->outs[0]);
        ctx->gbuf = &ctx->group_sb;
        ctx->stats.failed++;
        host_send_fail(h, ctx->item, ctx->error);
        for (int i = 0; i < ctx->nouts; i++)
            chan_out_group_failed(ctx->outs[i], ctx->error);
        return;
    }
    ctx->stats.items_out += ctx->group_n;
    if (ctx->gbuf != &ctx->group_sb) { /* packed into the batch already */
        chan_out_direct_close(ctx->outs[0], ctx->group_n);
        ctx->gbuf = &ctx->group_sb;
        return;
    }
    if (ctx->keyed_put) { /* each value in its home's batch already */
        chan_out_keyed_close(ctx->outs[0]);
        return;
    }
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

/*  The message hook over one group's values, tried again up to `retries`
    times while it fails. */
static int call_message(host_t *h, const msgpack_object_array *values)
{
    troupe_ctx_t *ctx = &h->ctx;
    int rc = TROUPE_OK;
    for (unsigned attempt = 0; attempt <= h->retries; attempt++) {
        host_group_reset(ctx);
        ctx->in_hook = true;
        rc = TROUPE_OK;
        for (uint32_t v = 0; v < values->size && rc != TROUPE_ERROR; v++) {
            rc = ctx->mod->message(ctx, &values->ptr[v]);
            if (ctx->failed)
                rc = TROUPE_ERROR;
        }
        if (rc != TROUPE_ERROR)
            break;
    }
    ctx->in_hook = false;
    return rc;
}

/*  Runs the message hook over groups [from, to) of a batch. */
void host_handle_groups(host_t *h, const env_batch_t *b, uint32_t from,
                          uint32_t to, inrec_t *src)
{
    troupe_ctx_t *ctx = &h->ctx;
    uint64_t t0 = now_ns();
    outs_begin(h, b->origin, b->first_seq + from, src);
    /* items in order, none of them a repeat or failed upstream (which are
       not recorded): taken as one range, not one by one */
    bool fresh = false;
    if (h->dedup && b->groups.ptr && to > from) {
        uint32_t g = from;
        while (g < to && b->groups.ptr[g].type == MSGPACK_OBJECT_ARRAY)
            g++;
        int rc = g == to ? seen_take_range(&h->seen, b->origin, b->first_seq + from,
                                           b->first_seq + to)
                         : 1;
        if (rc < 0) {
            host_fatal(h, "for the set of items seen");
            return;
        }
        fresh = rc == 0;
    }
    for (uint32_t g = from; g < to; g++) {
        ctx->item = b->first_seq + g;
        if (!b->groups.ptr) { /* all empty: nothing to call the module for */
            outs_topic(h, NULL); /* what passes through: the actor's own */
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group(ctx->outs[i], 0, NULL, 0);
            continue;
        }
        const msgpack_object *grp = &b->groups.ptr[g];
        if (grp->type == MSGPACK_OBJECT_STR) { /* failed upstream: pass on */
            char msg[512];
            snprintf(msg, sizeof msg, "%.*s", (int)grp->via.str.size,
                     grp->via.str.ptr);
            outs_topic(h, NULL);
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group_failed(ctx->outs[i], msg);
            continue;
        }
        int seen = grp->type != MSGPACK_OBJECT_NIL && h->dedup && !fresh
                       ? seen_check(&h->seen, b->origin, ctx->item)
                       : 0;
        if (seen < 0) { /* taken now, it would be taken again as a repeat */
            host_fatal(h, "for the set of items seen");
            return;
        }
        if (grp->type == MSGPACK_OBJECT_NIL || seen) {
            /* a repeat we took ourselves may have been taken since our last
               checkpoint: this batch, which is its only copy now if the
               first one's producer died, waits for the next checkpoint as
               the first one does (touched), or a death before it would
               lose the item */
            h->touched |= seen == 1;
            outs_topic(h, NULL);
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group_repeat(ctx->outs[i]);
            continue;
        }
        if (grp->via.array.size == 0) { /* nothing for the module: an empty
                                            group on (a keyed channel's other
                                            homes' items, a filter's) */
            outs_topic(h, NULL);
            for (int i = 0; i < ctx->nouts; i++)
                chan_out_group(ctx->outs[i], 0, NULL, 0);
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
        h->touched = true;
        int rc = call_message(h, &grp->via.array);
        if (h->slot)
            __atomic_store_n(&h->slot->busy, 0, __ATOMIC_RELEASE);
        group_end(h, rc);
        if ((g & 63) == 63) {
            split_if_big(h, b->origin, ctx->item + 1, src);
            host_heartbeat(h);
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
uint64_t host_cost_downstream(host_t *h)
{
    uint64_t cost = h->cost_ns;
    for (int i = 0; i < h->ctx.nouts; i++) {
        uint64_t c = chan_out_cost(h->ctx.outs[i]);
        if (c > cost)
            cost = c;
    }
    return cost;
}

bool host_outs_ready(host_t *h)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (!chan_out_ready(h->ctx.outs[i]))
            return false;
    return true;
}

bool host_outs_idle(host_t *h)
{
    for (int i = 0; i < h->ctx.nouts; i++)
        if (!chan_out_idle(h->ctx.outs[i]))
            return false;
    return true;
}

/*  How many items a source puts in its next batch, from item `next` on.
    The embedding caller decides for itself (actor.h, batching), and how
    far ahead its workers may be sent batches. */
static uint64_t batch_size(host_t *h, uint64_t next)
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
    n = n < 1 ? 1 : n > h->batch ? h->batch : n;
    if (h->embed && h->embed->batching) {
        uint32_t ahead = CHAN_AHEAD_ANY;
        n = h->embed->batching(h->embed->arg, next, cost, n, &ahead);
        n = n < 1 ? 1 : n > h->batch ? h->batch : n;
        for (int i = 0; i < h->ctx.nouts; i++)
            h->ctx.outs[i]->ahead = ahead;
    }
    return n;
}

/*  A source makes one batch per call. Instances share the index space in
    fixed blocks of `batch` indexes (instance i takes blocks i, i+n, ...);
    a block goes out as one batch or, when items are costly, several. */
void host_produce_batch(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    uint64_t block = ctx->instance + h->block_k * ctx->instances;
    uint64_t base = block * h->batch + h->block_off;
    uint64_t n = batch_size(h, base);
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
            host_heartbeat(h);
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

void host_flush_module(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
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

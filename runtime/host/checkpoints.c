/*  checkpoints.c: an exact actor's checkpoints: the module's snapshot, the
    items seen, the order and held batches, a sink's committed output, kept
    in the instance's file or sent to the supervisor; and when one is due.
*/
#include "host/internal.h"
#include "base/clock.h"
#include "wire/ctl.h"
#include "base/module.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

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

/*  Every write into a checkpoint: one that fails (out of memory) is
    noted, since a snapshot hook may not look at what its packer returns,
    and a later, smaller write that succeeded would leave a hole. */
static int ckpt_write(void *data, const char *buf, size_t len)
{
    host_t *h = data;
    if (msgpack_sbuffer_write(&h->ckpt_map, buf, len) == 0)
        return 0;
    h->ckpt_oom = true;
    return -1;
}

/*  The module's snapshot onto the end of the checkpoint's map: exactly
    one msgpack value (nil without a hook). Returns 0, or -1 when the hook
    failed or packed something else (why says what). Out of memory is
    h->ckpt_oom's to tell. */
static int snapshot_module(host_t *h, char *why, size_t whylen)
{
    troupe_ctx_t *ctx = &h->ctx;
    msgpack_sbuffer *sb = &h->ckpt_map;
    size_t from = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, h, ckpt_write);
    troupe_snapshot_fn *fn = module_snapshot(ctx->mod);
    if (!fn) {
        msgpack_pack_nil(&pk);
        return 0;
    }
    host_group_reset(ctx);
    int rc = fn(ctx, &pk);
    if (h->ckpt_oom)
        return -1;
    if (rc == TROUPE_ERROR || ctx->failed) {
        snprintf(why, whylen, "failed: %s", ctx->failed ? ctx->error : "(no message given)");
        ctx->failed = false;
        return -1;
    }
    /* one whole value, or the checkpoint would be garbage; walked, not
       decoded: a counter's snapshot holds every word it has seen */
    if (!env_one_value(sb->data + from, sb->size - from)) {
        snprintf(why, whylen, "packed %s",
                 sb->size > from ? "more or less than one msgpack value, or one nested too deep"
                                 : "nothing");
        return -1;
    }
    return 0;
}

/*  [COMMIT, out]: tells the supervisor how much of a sink's output the
    checkpoints in its file cover, so that it copies that to stdout. At most
    every COMMIT_EVERY_NS while output flows: the rest is said when the
    flow pauses (host_say_commit from the loop), when the sink finishes, or read
    from the file when it dies. */
#define COMMIT_EVERY_NS 2000000ull
void host_say_commit(host_t *h, bool now)
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
    host_send_packbuf(h, &buf);
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
        ckpt_kept(&h->ckpt, seq, host_ack_input, h);
    h->commit_out = out;
    host_say_commit(h, final);
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

/*  A checkpoint: {state, seen, order, held, out, flushed}, what this
    instance has taken and made, covering every batch that waits for a
    checkpoint. */
void host_take_checkpoint(host_t *h, bool final)
{
    uint64_t t0 = now_ns();
    char why[600];
    /* the buffer stays from one checkpoint to the next: one per batch */
    msgpack_sbuffer *map = &h->ckpt_map;
    msgpack_sbuffer_clear(map);
    h->ckpt_oom = false;
    msgpack_packer pk;
    msgpack_packer_init(&pk, h, ckpt_write);
    size_t nheld = 0; /* the held batches acknowledged, or to be by this */
    for (int i = 0; i < h->norders; i++)
        for (held_t *x = h->orders[i].list; x; x = x->next)
            nheld += !x->rec;
    msgpack_pack_map(&pk, (h->out_file ? 4 : 3) + (nheld ? 1 : 0) + (h->flush_settled ? 1 : 0));
    if (h->flush_settled) { /* its flush is done, and what it made is
                               downstream: a successor must not make it
                               again. Not from the flush on: a checkpoint
                               taken while its batches are still in
                               flight would lose them with this process */
        ctl_pack_str(&pk, "flushed");
        msgpack_pack_true(&pk);
    }
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
    /* the module packs its state in place: a counter's holds every word
       it has seen, and copying it in after cost as much as checking it */
    ctl_pack_str(&pk, "state");
    int snap = snapshot_module(h, why, sizeof why);
    if (h->ckpt_oom) { /* not the module's doing: a successor takes over */
        host_fatal(h, "for a checkpoint");
        return;
    }
    if (snap < 0) {
        /* without checkpoints its items can never be acknowledged: its
           producers' windows fill and the run would stall. A failed
           checkpoint fails the run, as by default in Flink; a successor
           would only fail the same way */
        char text[800];
        snprintf(text, sizeof text, "its snapshot hook %s; an exact actor "
                 "cannot go on without checkpoints, so the run stops", why);
        ctl_send_text(h->ctl, NULL, CTL_ERROR, text);
        h->fatal = true;
        h->stop = true;
        return;
    }
    uint64_t seq = final ? h->ckpt.seq + 1 : ckpt_begin(&h->ckpt);
    uint64_t out = 0;
    if (h->out_file) { /* how much of the output file is ours to commit:
                          after the snapshot, which writes out what a sink
                          buffers */
        off_t end = lseek(STDOUT_FILENO, 0, SEEK_END);
        out = end > 0 ? (uint64_t)end : 0;
    }
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
    if (h->ckpt_oom) { /* a checkpoint with a hole: none. What it would
                          have covered goes to a successor, as on a death */
        host_fatal(h, "for a checkpoint");
        return;
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

/*  A checkpoint is due once enough batches wait, or the oldest has waited
    long enough, and its cost allows (checkpoint.h: at most 5% of the
    actor's time); or, whatever the cost, once CKPT_BATCHES wait while the
    input has paused (the actor is not busy): the pause is then most likely
    its producers, their windows full of what the checkpoint would release.
    Not at every pause: a sink writing a file checkpoints after every batch
    its cost allows, and one at every pause besides cost squares.zpl 20%. */
void host_maybe_checkpoint(host_t *h)
{
    host_promote_held(h);
    if (h->ckpt_on
        && (ckpt_due(&h->ckpt, now_ns(), checkpoint_batches(h), CKPT_MAX_WAIT_NS)
            || (!h->busy && ckpt_due_idle(&h->ckpt, CKPT_BATCHES))))
        host_take_checkpoint(h, false);
}

/*  How long the loop may wait before a checkpoint falls due (-1: none). */
long host_checkpoint_wait_ms(const host_t *h)
{
    if (!h->ckpt_on || !h->ckpt.nwaiting || h->ckpt.in_flight)
        return -1;
    /* due once enough batches wait (one, with a file) or the oldest has
       waited long enough, and not before its cost allows */
    uint64_t now = now_ns(), at = h->ckpt.nwaiting >= checkpoint_batches(h)
                                      ? 0
                                      : h->ckpt.oldest_ns + CKPT_MAX_WAIT_NS;
    if (h->ckpt.not_before_ns > at && !(!h->busy && ckpt_due_idle(&h->ckpt, CKPT_BATCHES)))
        at = h->ckpt.not_before_ns;
    return at <= now ? 0 : (long)((at - now + 999999) / 1000000);
}

/*  A fault the tests place where no kill from outside can be timed to
    land: TROUPE_FAULT="ACTOR:POINT:MARKER" kills the first instance of
    ACTOR to reach POINT, the one that makes the file MARKER (so once a
    run: its successor goes on). Points: "flushed", after the checkpoint
    that follows the flush, before DONE. */
void host_fault(host_t *h, const char *point)
{
    const char *f = getenv("TROUPE_FAULT");
    const char *actor = h->ctx.actor;
    size_t na = actor ? strlen(actor) : 0, np = strlen(point);
    if (!f || !actor || strncmp(f, actor, na) || f[na] != ':' || strncmp(f + na + 1, point, np)
        || f[na + 1 + np] != ':')
        return;
    int fd = open(f + na + np + 2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    close(fd);
    raise(SIGKILL);
}

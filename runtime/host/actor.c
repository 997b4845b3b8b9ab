/*  actor.c: the actor host's loop and entry points (actor.h). One process
    runs one instance of one actor: it takes its config from the supervisor,
    loads the module, binds its outputs, connects its inputs (setup.c), and
    then loops: read acks and batches (order.c), call the module's hooks and
    send batches (items.c), report counters (control.c), take checkpoints
    (checkpoints.c), until the supervisor says stop. Nothing here blocks
    except zmq_poll.
*/
#include "host/internal.h"
#include "base/clock.h"
#include "wire/ctl.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

static bool finished(host_t *h)
{
    if (!h->started)
        return false;
    bool source = h->ctx.mod->produce != NULL;
    if (source ? !h->source_done : !h->input_end)
        return false;
    if (!source && !h->flushed) {
        host_drain_held(h); /* what waits for a gap that never closed */
        host_flush_module(h);
    }
    if (h->fatal || !host_outs_idle(h))
        return false; /* failed in the flush: no DONE (host_fatal) */
    /* one last checkpoint, after the flush: it covers the last items and
       what the flush wrote (a sink's buffered output); kept at once when it
       goes to the file, answered later when sent */
    if (h->ckpt_on && !h->ckpt_closed && !h->ckpt.in_flight) {
        h->flush_settled = h->flushed;
        host_take_checkpoint(h, false);
        h->ckpt_closed = true;
        host_say_commit(h, true);
        host_fault(h, "flushed");
        if (h->fatal)
            return false; /* the checkpoint failed: the run fails, no DONE */
    }
    return !h->ckpt_on || (h->ckpt_closed && !ckpt_pending(&h->ckpt));
}

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
        int kind = host_ctl_read(h, zone, &root, &msg);
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
            host_take_poison(h, &root, 1);
        zmq_msg_close(&msg);
        switch (kind) {
        case CTL_INPUT_END: h->input_end = true; break;
        case CTL_DRAIN: h->source_done = true; break;
        case CTL_RETIRE_NOW: h->retiring = h->ctx.nins > 0; break;
        case CTL_STOP: h->stop = true; break;
        case CTL_PEER_LOST: peer_lost(h, arg); break;
        case CTL_PEER_BACK: peer_back(h, arg, arg2); break;
        case CTL_PEER_GONE: peer_gone(h, arg); break;
        case CTL_CHECKPOINTED:
            if (root.via.array.size > 1
                && root.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                ckpt_kept(&h->ckpt, root.via.array.ptr[1].via.u64, host_ack_input, h);
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

/*  The loop's poll set: the control socket, the outputs (their acks), the
    inputs (only while there is room downstream for what they would make,
    or when the embedding caller collects), then the fds a source or the
    caller waits on. Returns how many items to poll. */
static int poll_set(host_t *h, zmq_pollitem_t *items, bool can_take)
{
    troupe_ctx_t *ctx = &h->ctx;
    bool farewell = h->bye_at && !h->retired; /* maybe_retire reads them */
    short in_events
        = can_take || farewell || (h->embed && h->embed->collect) ? ZMQ_POLLIN : 0;
    items[0] = (zmq_pollitem_t){ .socket = h->ctl, .events = ZMQ_POLLIN };
    for (int i = 0; i < ctx->nouts; i++)
        items[1 + i]
            = (zmq_pollitem_t){ .socket = ctx->outs[i]->sock, .events = ZMQ_POLLIN };
    for (int i = 0; i < ctx->nins; i++)
        items[1 + ctx->nouts + i]
            = (zmq_pollitem_t){ .socket = ctx->ins[i]->sock, .events = in_events };
    int npoll = 1 + ctx->nouts + ctx->nins;
    if (ctx->wait_fd >= 0 && !h->source_done)
        items[npoll++] = (zmq_pollitem_t){ .fd = ctx->wait_fd, .events = ZMQ_POLLIN };
    if (h->embed && h->embed->wake_fd >= 0 && h->embed->wake_fd != ctx->wait_fd)
        items[npoll++] = (zmq_pollitem_t){ .fd = h->embed->wake_fd, .events = ZMQ_POLLIN };
    return npoll;
}

/*  How long the loop may wait: not at all while a source can produce;
    otherwise until the next heartbeat, or sooner for a checkpoint due, a
    sink's output to report, or a held batch to acknowledge. */
static long poll_timeout(const host_t *h, bool can_produce)
{
    uint64_t now = now_ms();
    long timeout = can_produce ? 0 : h->next_beat > now ? (long)(h->next_beat - now) : 0;
    long ckpt_ms = host_checkpoint_wait_ms(h);
    if (ckpt_ms >= 0 && ckpt_ms < timeout)
        timeout = ckpt_ms;
    if (h->commit_out > h->commit_said && timeout > 1)
        timeout = 1; /* a pause in the output: tell the supervisor soon */
    if (h->held_waiting && timeout > (long)(HOLD_ACK_NS / 1000000))
        timeout = (long)(HOLD_ACK_NS / 1000000);
    if (h->bye_at && !h->retired && timeout > 100)
        timeout = 100; /* waiting for BYE answers, or for their deadline */
    return timeout;
}

/*  What the poll found on the sockets: control messages, acks, batches.
    Returns whether any input came. */
static bool take_events(host_t *h, const zmq_pollitem_t *items)
{
    troupe_ctx_t *ctx = &h->ctx;
    if (items[0].revents & ZMQ_POLLIN)
        handle_control(h);
    for (int i = 0; i < ctx->nouts; i++)
        if (items[1 + i].revents & ZMQ_POLLIN)
            chan_out_read(ctx->outs[i], 256, &ctx->stats.malformed);
    bool got_input = false;
    for (int i = 0; i < ctx->nins; i++)
        if (items[1 + ctx->nouts + i].revents & ZMQ_POLLIN) {
            host_read_input(h, i);
            got_input = true;
        }
    return got_input;
}

/*  The module hears once that its input paused (its idle hook), when a
    turn that could take input found none. */
static void note_idle(host_t *h, bool got_input, bool can_take)
{
    if (got_input)
        h->busy = true;
    else if (h->busy && can_take) {
        h->busy = false; /* nothing more came: about to wait */
        if (h->ctx.mod->idle)
            h->ctx.mod->idle(&h->ctx);
    }
}

/*  The end of a turn: acks and credit to producers (with what an item
    costs downstream, for a source's batch size), batches to consumers, and
    DONE once everything is handed on. */
static void send_turn(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    /* the embedding caller's results go nowhere further: reporting its
       outputs' cost back to the workers would feed it back in a loop */
    uint64_t cost = h->embed && h->embed->collect ? 0 : host_cost_downstream(h);
    /* what we made goes on before our acks go back: an item's next hop
       waits for nothing of ours */
    for (int i = 0; i < ctx->nouts; i++)
        chan_out_pump(ctx->outs[i]);
    for (int i = 0; i < ctx->nins; i++) {
        ctx->ins[i]->cost_ns = cost;
        chan_in_flush(ctx->ins[i]);
    }
    if (!h->done_sent && finished(h)) {
        for (int i = 0; i < ctx->nins; i++)
            chan_in_flush(ctx->ins[i]);
        host_send_stats(h, CTL_DONE);
        h->done_sent = true;
    }
}

/*  A retiring instance (retire_after) has handed on everything it took
    once what it made is acked downstream and so its inputs are acked
    upstream: then each input says BYE after its last ack, on the same
    socket, so that its producer reads every ack before it sends what we
    were sent and never took to the others; nothing is run twice or
    lost. Each producer answers BYE once it has read ours: only then is
    the supervisor told, which stops us and starts a fresh instance, whose
    hello would otherwise race our last acks to the producer (the
    producer takes a new incarnation's hello as its predecessor's death).
    A producer that does not answer within RETIRE_ANSWER_MS (gone, or its
    own pipe full) is not waited for longer. */
#define RETIRE_ANSWER_MS 2000

static void maybe_retire(host_t *h)
{
    if (!h->retiring || h->retired || h->ctx.stats.held || !host_outs_idle(h))
        return;
    for (int i = 0; i < h->ctx.nins; i++)
        if (chan_in_bye(h->ctx.ins[i], RETIRE_ANSWER_MS) < 0)
            return; /* the queue is full: again next turn */
    uint64_t now = now_ms();
    if (!h->bye_at)
        h->bye_at = now;
    bool answered = true;
    for (int i = 0; i < h->ctx.nins; i++)
        answered &= chan_in_farewell(h->ctx.ins[i]);
    /* once every producer is done, nothing of theirs is in flight */
    if (!answered && !h->input_end && now - h->bye_at < RETIRE_ANSWER_MS)
        return;
    host_send_stats(h, CTL_RETIRE);
    h->retired = true;
}

static void run_loop(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    int n = 1 + ctx->nouts + ctx->nins;
    zmq_pollitem_t *items = calloc((size_t)n + 2, sizeof *items);
    if (!items)
        return;
    h->next_beat = now_ms() + CTL_HEARTBEAT_MS;
    while (!h->stop) {
        bool can_take = host_outs_ready(h) && !h->retiring;
        bool can_produce = ctx->mod->produce && !h->source_done && can_take
                           && h->started && ctx->wait_fd < 0;
        int npoll = poll_set(h, items, can_take);
        int polled = zmq_poll(items, npoll, poll_timeout(h, can_produce));
        if (polled < 0 && errno != EINTR)
            break;
        if (polled == 0)
            host_say_commit(h, true);
        if (npoll > n && items[n].fd == ctx->wait_fd
            && (items[n].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            ctx->wait_fd = -1; /* readable: produce again */
        if (h->embed && h->embed->tick && !h->embed->tick(h->embed->arg))
            break;
        bool got_input = take_events(h, items);
        if (h->fatal)
            break; /* nothing more: no ack, no checkpoint, no DONE */
        note_idle(h, got_input, can_take);
        host_maybe_checkpoint(h);
        if (can_produce && host_outs_ready(h))
            host_produce_batch(h);
        if (h->fatal)
            break;
        send_turn(h);
        maybe_retire(h);
        host_heartbeat(h);
    }
    free(items);
}

/*  Says `err` to the supervisor (ERROR) and waits for its STOP. */
static void refuse(host_t *h, const char *err, msgpack_zone *zone, msgpack_object *root,
                   zmq_msg_t *msg)
{
    ctl_send_text(h->ctl, NULL, CTL_ERROR, err);
    host_wait_for(h, CTL_STOP, 5000, zone, root, msg);
}

/*  From START (`start`, decoded in zone) to the end: the inputs
    connected, the loop, and what a stop before the end must keep. Returns
    the exit code. */
static int run(host_t *h, const msgpack_object *start, msgpack_zone *zone, zmq_msg_t *msg)
{
    char err[512] = "";
    const msgpack_object *inputs
        = start->via.array.size > 1 ? &start->via.array.ptr[1] : NULL;
    if (host_setup_inputs(h, inputs, err, sizeof err) < 0) {
        msgpack_object root;
        refuse(h, err, zone, &root, msg);
        return 1;
    }
    h->started = true;
    if (h->embed && h->embed->started)
        h->embed->started(h->embed->arg);
    run_loop(h);
    /* stopped before the end (the run failed, or was cut short): what a
       sink wrote for the items it took is committed. Not after host_fatal:
       a successor comes, and must start from a checkpoint that covers only
       what is safely downstream, as after any death */
    if (h->ckpt_on && !h->done_sent && !h->fatal)
        host_take_checkpoint(h, true);
    /* told to stop (a failed or cancelled run): the last counters, so that
       its summary says what was done, not what the last heartbeat said */
    if (h->stop && !h->done_sent && !h->retired && !h->fatal)
        host_send_stats(h, CTL_STATS);
    return (h->done_sent || h->retired) && !h->fatal ? 0 : 1;
}

/*  A retired instance whose producers all answered its BYE has nothing
    in flight to them; one that stopped waiting (RETIRE_ANSWER_MS) still
    has its last acks and BYE lingering in its sockets, which only the
    context's end delivers. */
static bool byes_answered(const host_t *h)
{
    for (int i = 0; i < h->ctx.nins; i++)
        if (h->ctx.ins[i]->bye != CHAN_BYE_ANSWERED)
            return false;
    return true;
}

static int host_main(const char *control, const char *id, const actor_embed_t *embed)
{
    host_t h;
    if (host_init(&h, id, embed) < 0 || host_connect(&h, control) < 0) {
        host_free(&h);
        return 1;
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
    int kind = host_wait_for(&h, CTL_CONFIG, 30000, &cfgzone, &cfg, &cfgmsg);
    if (kind != CTL_CONFIG) {
        if (kind != CTL_STOP && kind != CTL_ABORT)
            host_say(&h, "no config from the supervisor");
    }
    else if (cfg.via.array.size < 2
             || host_take_config(&h, &cfg.via.array.ptr[1], err, sizeof err) < 0)
        refuse(&h, *err ? err : "bad config", &zone, &root, &msg);
    else {
        host_send_ready(&h);
        if (host_wait_for(&h, CTL_START, 60000, &zone, &root, &msg) == CTL_START)
            rc = run(&h, &root, &zone, &msg);
        if (rc == 0 && h.stop && (h.done_sent || (h.retired && byes_answered(&h))))
            host_end_process(&h, rc);
    }
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

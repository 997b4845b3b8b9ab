/*  control.c: the control plane, the supervisor's side: what each
    instance is told (CONFIG, START, where its peers are) and what it says
    (HELLO, READY, STATS, FAIL, DONE, checkpoints), and the end of input
    passed down the pipeline as actors finish (docs/PROTOCOL.md). */
#include "supervisor/supervise.h"

#include "base/clock.h"
#include "supervisor/progress.h"
#include "wire/ctl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  A restarted producer: its consumers say hello to the new process. */
static const char *bound_endpoint(sup_t *s, int actor, unsigned instance, int chan);

static void announce_back(sup_t *s, inst_t *in)
{
    const plan_t *p = s->plan;
    const plan_actor_t *a = &p->actors[in->actor];
    for (int o = 0; o < a->noutputs; o++) {
        char key[64];
        const char *ep = bound_endpoint(s, in->actor, in->instance, a->outputs[o]);
        wiring_producer_key(in->actor, in->instance, a->outputs[o], key, sizeof key);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int(&pk, CTL_PEER_BACK);
        ctl_pack_str(&pk, ep ? ep : "");
        ctl_pack_str(&pk, key);
        for (int b = 0; b < p->nactors; b++)
            for (int k = 0; k < p->actors[b].ninputs; k++)
                if (p->actors[b].inputs[k] == a->outputs[o])
                    for (unsigned i = 0; i < p->actors[b].instances; i++) {
                        inst_t *c = &s->insts[s->first_inst[b] + i];
                        if (c->state == I_RUNNING)
                            inst_send(s, c, &sb);
                    }
        msgpack_sbuffer_destroy(&sb);
    }
}

/*  The endpoint a producer instance reported for an output channel. */
static const char *bound_endpoint(sup_t *s, int actor, unsigned instance, int chan)
{
    const plan_actor_t *a = &s->plan->actors[actor];
    const inst_t *in = &s->insts[s->first_inst[actor] + instance];
    for (int o = 0; in->bound && o < a->noutputs; o++)
        if (a->outputs[o] == chan)
            return in->bound[o];
    return NULL;
}

static const char *bound_cb(void *arg, int actor, unsigned instance, int chan)
{
    return bound_endpoint(arg, actor, instance, chan);
}

/*  A producer's public key: the run's, on one machine. */
static const char *server_key_cb(void *arg, int actor, unsigned instance)
{
    sup_t *s = arg;
    (void)actor;
    (void)instance;
    return s->has_curve ? s->keys.public_txt : NULL;
}

/*  [START, inputs]: connect to these producers, and run. */
static void send_start(sup_t *s, inst_t *in)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_START);
    wiring_pack_inputs(&pk, s->plan, in->actor, bound_cb, server_key_cb, s);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  [READY, [endpoint per output]]: where the instance bound its outputs. */
static void take_bound(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    const msgpack_object *list = root->via.array.size > 1 ? &root->via.array.ptr[1] : NULL;
    if (!in->bound && a->noutputs)
        in->bound = calloc((size_t)a->noutputs, sizeof *in->bound);
    for (int o = 0; in->bound && o < a->noutputs; o++) {
        const msgpack_object *e = list && list->type == MSGPACK_OBJECT_ARRAY
                                          && (uint32_t)o < list->via.array.size
                                      ? &list->via.array.ptr[o]
                                      : NULL;
        free(in->bound[o]);
        in->bound[o] = e && e->type == MSGPACK_OBJECT_STR
                           ? strndup(e->via.str.ptr, e->via.str.size)
                           : NULL;
        if (s->opts->verbose > 1)
            say_info(s, "actor '%s' #%u: output '%s' bound at %s", a->name, in->instance,
                s->plan->chans[a->outputs[o]].name,
                in->bound[o] ? in->bound[o] : "(unknown)");
    }
}

static void send_config(sup_t *s, inst_t *in)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_CONFIG);
    wiring_ckpt_t ck;
    char paths[2][PATH_MAX + 64];
    if (commit_config(s, in, &ck, paths) < 0) {
        msgpack_sbuffer_destroy(&sb);
        fail_run(s, 1);
        return;
    }
    msgpack_sbuffer poison;
    msgpack_sbuffer_init(&poison);
    poison_config(s, in, &ck, &poison);
    wiring_pack_config(&pk, s->plan, s->rundir, in->actor, in->instance, in->incarnation,
                       in->node >= 0 ? head_node(s->head, in->node)->host : NULL,
                       s->has_curve ? &s->curve : NULL,
                       (s->opts->verbose < 0 ? CTL_LOG_QUIET : 0)
                           | (progress_bar(s) ? CTL_LOG_BAR : 0),
                       &ck);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&poison);
    in->state = I_CONFIGURED;
}

/*  Whether nothing more can come out of actor a. DONE says so. So does,
    before a says it, every upstream actor being finished in this sense,
    provided a makes nothing at the end (no flush hook) and holds nothing
    back (not ordered): an acknowledgement only comes once what a batch
    made is handled downstream, so when a's producers are done, a has
    handled all it got and everything it made has been taken. This lets
    the end of the input reach a chain of transforms at once instead of
    one stage per round trip. */
static bool finished_upstream(sup_t *s, int a, int depth)
{
    const plan_t *p = s->plan;
    const plan_actor_t *x = &p->actors[a];
    if (s->actor_done[a])
        return true;
    if (x->source || x->flushes || x->ordered > 0 || depth > p->nactors)
        return false;
    for (int k = 0; k < x->ninputs; k++)
        for (int b = 0; b < p->nactors; b++)
            for (int o = 0; o < p->actors[b].noutputs; o++)
                if (p->actors[b].outputs[o] == x->inputs[k]
                    && !finished_upstream(s, b, depth + 1))
                    return false;
    return true;
}

/*  An actor's input has ended when nothing more can come from any actor
    writing its input channels; tell each such actor once. */
static void cascade(sup_t *s)
{
    const plan_t *p = s->plan;
    for (int b = 0; b < p->nactors; b++) {
        if (s->input_ended[b] || p->actors[b].ninputs == 0)
            continue;
        bool ended = true;
        for (int k = 0; k < p->actors[b].ninputs && ended; k++)
            for (int a = 0; a < p->nactors && ended; a++)
                for (int o = 0; o < p->actors[a].noutputs; o++)
                    if (p->actors[a].outputs[o] == p->actors[b].inputs[k]
                        && !finished_upstream(s, a, 0))
                        ended = false;
        if (!ended)
            continue;
        s->input_ended[b] = true;
        for (unsigned i = 0; i < p->actors[b].instances; i++)
            send_kind(s, &s->insts[s->first_inst[b] + i], CTL_INPUT_END);
    }
}

static void take_stats(sup_t *s, inst_t *in, const msgpack_object *root)
{
    /* Frames that were no batch, ack or hello, on sockets only this run's
       own actors reach (a 0700 run directory; CURVE on tcp): a producer
       or a module with a bug. What such a frame carried can neither be
       used nor sent again, so the run cannot end whole, and without its
       acknowledgement the producer would wait for ever: it fails, saying
       where, rather than hang. */
    if (root->via.array.size > 6
        && root->via.array.ptr[6].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && root->via.array.ptr[6].via.u64 > in->stats[5] && !s->killing) {
        say(s, "actor '%s' #%u received %llu malformed frame(s) from the run's own "
            "actors (a bug in a module or in troupe): items are lost, so the run "
            "fails", actor_name(s, in), in->instance,
            (unsigned long long)root->via.array.ptr[6].via.u64);
        in->stats[5] = root->via.array.ptr[6].via.u64;
        fail_run(s, 1);
    }
    /* the items it handled since its last report count for where it runs */
    uint32_t k = s->plan->actors[in->actor].ninputs ? 1 : 2;
    if (k < root->via.array.size
        && root->via.array.ptr[k].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && root->via.array.ptr[k].via.u64 > in->stats[k - 1])
        s->node_items[in->actor * (MAX_NODES + 1) + in->node + 1] +=
            root->via.array.ptr[k].via.u64 - in->stats[k - 1];
    for (uint32_t i = 1; i < root->via.array.size && i <= 7; i++)
        if (root->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            in->stats[i - 1] = root->via.array.ptr[i].via.u64;
    if (root->via.array.size > 8
        && root->via.array.ptr[8].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && (long)root->via.array.ptr[8].via.u64 > in->maxrss_kb)
        in->maxrss_kb = (long)root->via.array.ptr[8].via.u64;
    uint64_t *live[] = { &in->cpu_ns, &in->held, &in->unacked, &in->total };
    for (uint32_t i = 9; i < root->via.array.size && i < 13; i++)
        if (root->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            *live[i - 9] = root->via.array.ptr[i].via.u64;
}

static void text_of(const msgpack_object *o, char *buf, size_t len)
{
    if (o->type == MSGPACK_OBJECT_STR)
        snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(buf, len, "(no message)");
}

/*  [HELLO, pid?]: a new process; a node's instance says its pid there. */
static void on_hello(sup_t *s, inst_t *in, const msgpack_object *root)
{
    if (in->node >= 0 && root->via.array.size > 1
        && root->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        in->pid = (pid_t)root->via.array.ptr[1].via.u64;
    if (in->state == I_SPAWNED && !s->killing)
        send_config(s, in);
    else if (s->plan->actors[in->actor].external && s->caller_waits)
        send_abort(s, in); /* the first went nowhere: it was not connected */
}

/*  [READY, bound...]: configured. A restarted instance joins the running
    pipeline; the last one of the first start starts them all. */
static void on_ready(sup_t *s, inst_t *in, const msgpack_object *root)
{
    if (in->state != I_CONFIGURED)
        return;
    take_bound(s, in, root);
    in->state = I_READY;
    if (s->started) {
        in->state = I_RUNNING;
        send_start(s, in);
        if (s->input_ended[in->actor])
            send_kind(s, in, CTL_INPUT_END);
        announce_back(s, in);
        return;
    }
    if (++s->nready < s->ninsts)
        return;
    s->started = true;
    s->t_run = now_ms();
    if (s->opts->verbose > 1)
        say_info(s, "all %d actor processes ready in %llu ms; starting", s->ninsts,
                 (unsigned long long)(s->t_run - s->t_start));
    for (int i = 0; i < s->ninsts; i++) {
        s->insts[i].state = I_RUNNING;
        send_start(s, &s->insts[i]);
    }
}

/*  [FAIL, item, why]: an item failed; the actor's on_error decides. */
static void on_fail(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    const msgpack_object *v = root->via.array.ptr;
    uint64_t item = root->via.array.size > 1 && v[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                        ? v[1].via.u64
                        : 0;
    char text[600];
    text_of(root->via.array.size > 2 ? &v[2] : root, text, sizeof text);
    s->failed_items++;
    if (a->on_error == ON_ERROR_SKIP) {
        s->skipped[in->actor]++;
        if (s->opts->verbose > 0)
            say_info(s, "actor '%s' #%u: item %llu failed (skipped): %s", a->name,
                     in->instance, (unsigned long long)item, text);
    }
    else if (!s->killing) {
        say(s, "actor '%s' #%u: item %llu failed: %s", a->name, in->instance,
            (unsigned long long)item, text);
        drain_run(s, 1);
    }
}

/*  [DONE, stats]: the instance finished; once every instance of its actor
    has, the actor is done and its readers may hear the end of input. */
static void on_done(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    take_stats(s, in, root);
    if (in->state != I_RUNNING)
        return;
    in->state = I_DONE;
    in->finished = true;
    send_kind(s, in, CTL_STOP);
    if (a->external)
        in->state = I_EXITED; /* no process to reap */
    bool all = true;
    for (unsigned i = 0; i < a->instances; i++) {
        const inst_t *o = &s->insts[s->first_inst[in->actor] + i];
        all &= o->finished || o->state == I_GONE;
    }
    if (!all || s->actor_done[in->actor])
        return;
    s->actor_done[in->actor] = true;
    s->t_end = now_ms();
    if (s->opts->verbose > 1)
        say_info(s, "actor '%s' done at %llu ms", a->name,
                 (unsigned long long)(now_ms() - s->t_start));
    cascade(s);
}

/*  [RETIRE, stats]: the instance handled its retire_after items and
    handed back what it held (its inputs said BYE): it stops, and
    on_death starts a fresh one. Not a death, not a restart. */
static void on_retire(sup_t *s, inst_t *in, const msgpack_object *root)
{
    take_stats(s, in, root);
    if (in->state != I_RUNNING || s->plan->actors[in->actor].external || s->killing)
        return;
    in->retiring = true;
    send_kind(s, in, CTL_STOP);
}

static void on_message(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    in->last_seen = now_ms();
    char text[600];
    switch ((int)root->via.array.ptr[0].via.u64) {
    case CTL_HELLO: on_hello(s, in, root); break;
    case CTL_READY: on_ready(s, in, root); break;
    case CTL_ERROR:
        text_of(root->via.array.size > 1 ? &root->via.array.ptr[1] : root, text,
                sizeof text);
        say(s, "actor '%s' #%u: %s", a->name, in->instance, text);
        fail_run(s, s->started ? 1 : 2);
        break;
    case CTL_STATS: take_stats(s, in, root); break;
    case CTL_CHECKPOINT: commit_checkpoint(s, in, root); break;
    case CTL_COMMIT: commit_output(s, in, root); break;
    case CTL_FAIL: on_fail(s, in, root); break;
    case CTL_DONE: on_done(s, in, root); break;
    case CTL_RETIRE: on_retire(s, in, root); break;
    default: break;
    }
}

/*  One control message from an instance, wherever it runs. */
void on_frame(sup_t *s, inst_t *in, msgpack_zone *zone, const void *data, size_t len)
{
    msgpack_object root;
    msgpack_zone_clear(zone);
    if (msgpack_unpack(data, len, &(size_t){ 0 }, zone, &root) == MSGPACK_UNPACK_SUCCESS
        && root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size >= 1
        && root.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        on_message(s, in, &root);
}

void read_control(sup_t *s)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    for (int n = 0; n < 1000; n++) {
        char rid[64];
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rlen = ctl_recv_routed(s->ctl, rid, sizeof rid, &msg);
        if (rlen == -1) {
            zmq_msg_close(&msg);
            break;
        }
        inst_t *in = rlen >= 0 ? inst_by_rid(s, rid, (size_t)rlen) : NULL;
        if (in && in->node < 0) /* a node's instance speaks through its node */
            on_frame(s, in, &zone, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
    msgpack_zone_destroy(&zone);
}

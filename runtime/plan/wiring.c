/*  wiring.c: who binds where and who connects to whom. Every producer
    instance binds one socket per output channel: at a path of its own in
    the run directory, or on tcp at a port the system picks; every consumer
    instance connects to each producer instance of each channel it reads.
    An instance learns its actor and what to bind from CONFIG, and whom to
    connect to, with the endpoints the producers reported, from START
    (docs/PROTOCOL.md). On tcp every data socket is CURVE: CONFIG carries
    an instance's keys and allowlist, START each producer's public key.
*/
#include "plan/wiring.h"

#include "wire/ctl.h"

#include <limits.h>
#include <stdio.h>

void wiring_socket_path(const char *rundir, int actor, unsigned instance, int chan,
                        char *buf, size_t len)
{
    snprintf(buf, len, "%s/%d-%u-%d", rundir, actor, instance, chan);
}

void wiring_endpoint(const char *rundir, int actor, unsigned instance, int chan,
                     char *buf, size_t len)
{
    snprintf(buf, len, "ipc://%s/%d-%u-%d", rundir, actor, instance, chan);
}

void wiring_bind_endpoint(const plan_t *p, const char *rundir, int actor,
                          unsigned instance, int chan, char *buf, size_t len)
{
    if (p->tcp_host)
        snprintf(buf, len, "tcp://%s:*", p->tcp_host);
    else
        wiring_endpoint(rundir, actor, instance, chan, buf, len);
}

static void pack_outputs(msgpack_packer *pk, const plan_t *p, const char *rundir,
                         int actor, unsigned instance, const char *host)
{
    const plan_actor_t *a = &p->actors[actor];
    msgpack_pack_array(pk, a->noutputs);
    for (int o = 0; o < a->noutputs; o++) {
        int ch = a->outputs[o];
        bool bc = p->chans[ch].mode == CHAN_BROADCAST;
        char ep[PATH_MAX + 64];
        if (host) /* a node's instance binds where the node is */
            snprintf(ep, sizeof ep, "tcp://%s:*", host);
        else
            wiring_bind_endpoint(p, rundir, actor, instance, ch, ep, sizeof ep);
        /* a pipe into an exact actor: each item goes to its home instance;
           a keyed channel: each value to the instance that owns its key */
        int home = plan_chan_home(p, ch);
        int keyed = p->chans[ch].mode == CHAN_KEYED ? plan_chan_reader(p, ch) : -1;
        const char *key = p->chans[ch].key;
        /* what an ordered actor downstream would buffer, a pipe bounds */
        bool order = !bc && plan_chan_feeds_order(p, ch);
        msgpack_pack_map(pk, 7 + (home >= 0 ? 3 : 0) + (keyed >= 0 ? 2 + (key != NULL) : 0)
                                 + (order ? 1 : 0));
        if (order) {
            ctl_pack_str(pk, "ordered");
            msgpack_pack_true(pk);
        }
        if (home >= 0) {
            ctl_pack_str(pk, "home");
            msgpack_pack_unsigned_int(pk, p->actors[home].instances);
            ctl_pack_kv_str(pk, "home_actor", p->actors[home].name);
            ctl_pack_str(pk, "block");
            msgpack_pack_unsigned_int(pk, p->batch);
        }
        if (keyed >= 0) {
            ctl_pack_str(pk, "keyed");
            msgpack_pack_unsigned_int(pk, p->actors[keyed].instances);
            ctl_pack_kv_str(pk, "keyed_actor", p->actors[keyed].name);
            if (key)
                ctl_pack_kv_str(pk, "key", key);
        }
        ctl_pack_str(pk, "chan");
        msgpack_pack_int(pk, ch);
        ctl_pack_kv_str(pk, "name", p->chans[ch].name);
        ctl_pack_str(pk, "broadcast");
        bc ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        ctl_pack_kv_str(pk, "endpoint", ep);
        ctl_pack_kv_str(pk, "topic", a->topic);
        ctl_pack_str(pk, "ports"); /* [lo, hi] for a tcp endpoint's '*' */
        msgpack_pack_array(pk, 2);
        msgpack_pack_unsigned_int(pk, p->port_lo);
        msgpack_pack_unsigned_int(pk, p->port_hi);
        /* a broadcast's subscribers are known up front, so that no batch is
           made before one of them has said hello */
        ctl_pack_str(pk, "expect");
        int n = 0;
        for (int b = 0; bc && b < p->nactors; b++)
            for (int k = 0; k < p->actors[b].ninputs; k++)
                if (p->actors[b].inputs[k] == ch)
                    n += (int)p->actors[b].instances;
        msgpack_pack_array(pk, n);
        for (int b = 0; bc && b < p->nactors; b++)
            for (int k = 0; k < p->actors[b].ninputs; k++)
                if (p->actors[b].inputs[k] == ch)
                    for (unsigned i = 0; i < p->actors[b].instances; i++) {
                        char cname[128];
                        snprintf(cname, sizeof cname, "%s#%u", p->actors[b].name, i);
                        msgpack_pack_map(pk, 2);
                        ctl_pack_kv_str(pk, "consumer", cname);
                        ctl_pack_kv_str(pk, "prefix", p->actors[b].subscribe);
                    }
    }
}

void wiring_producer_key(int actor, unsigned instance, int chan, char *buf, size_t len)
{
    snprintf(buf, len, "%d.%u.%d", actor, instance, chan);
}

void wiring_pack_inputs(msgpack_packer *pk, const plan_t *p, int actor,
                        wiring_bound_fn *bound, wiring_key_fn *key, void *arg)
{
    const plan_actor_t *a = &p->actors[actor];
    int n = 0;
    for (int k = 0; k < a->ninputs; k++)
        for (int b = 0; b < p->nactors; b++)
            for (int o = 0; o < p->actors[b].noutputs; o++)
                if (p->actors[b].outputs[o] == a->inputs[k])
                    n += (int)p->actors[b].instances;
    msgpack_pack_array(pk, n);
    for (int k = 0; k < a->ninputs; k++) {
        int ch = a->inputs[k];
        for (int b = 0; b < p->nactors; b++)
            for (int o = 0; o < p->actors[b].noutputs; o++) {
                if (p->actors[b].outputs[o] != ch)
                    continue;
                for (unsigned i = 0; i < p->actors[b].instances; i++) {
                    char name[64];
                    const char *ep = bound(arg, b, i, ch);
                    const char *server_key = key ? key(arg, b, i) : NULL;
                    wiring_producer_key(b, i, ch, name, sizeof name);
                    msgpack_pack_map(pk, server_key ? 7 : 6);
                    ctl_pack_str(pk, "chan");
                    msgpack_pack_int(pk, ch);
                    ctl_pack_str(pk, "broadcast");
                    p->chans[ch].mode == CHAN_BROADCAST ? msgpack_pack_true(pk)
                                                        : msgpack_pack_false(pk);
                    ctl_pack_str(pk, "keyed");
                    p->chans[ch].mode == CHAN_KEYED ? msgpack_pack_true(pk)
                                                    : msgpack_pack_false(pk);
                    ctl_pack_kv_str(pk, "producer", name);
                    ctl_pack_kv_str(pk, "endpoint", ep ? ep : "");
                    ctl_pack_kv_str(pk, "subscribe", a->subscribe);
                    if (server_key)
                        ctl_pack_kv_str(pk, "server_key", server_key);
                }
            }
    }
}

/*  "curve": {public, secret, allow: [key, ...], allow_dir}. The secret
    travels on the control channel, which on one machine is an ipc socket
    in the run directory (0700): no other user can connect to it or read
    what it carries. A control channel over tcp (nodes on other machines)
    will have to be CURVE itself before it may carry one. */
static void pack_curve(msgpack_packer *pk, const wiring_curve_t *c)
{
    ctl_pack_str(pk, "curve");
    msgpack_pack_map(pk, 4);
    ctl_pack_kv_str(pk, "public", c->public_txt);
    ctl_pack_kv_str(pk, "secret", c->secret_txt);
    ctl_pack_str(pk, "allow");
    msgpack_pack_array(pk, (size_t)c->nallow);
    for (int i = 0; i < c->nallow; i++)
        ctl_pack_str(pk, c->allow[i]);
    ctl_pack_kv_str(pk, "allow_dir", c->allow_dir);
}

void wiring_pack_config(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor, unsigned instance, unsigned incarnation,
                        const char *host, const wiring_curve_t *curve,
                        unsigned log, const wiring_ckpt_t *ck)
{
    const plan_actor_t *a = &p->actors[actor];
    bool exact = plan_actor_exact(a), ckpt = plan_actor_checkpoints(a);
    /* always: exact, checkpoint, pipeline, actor, incarnation, index,
       instance, log, outputs */
    msgpack_pack_map(pk, 9 + (curve ? 1 : 0) + (ck && ck->stdout_path ? 1 : 0)
                             + (ck && ck->ckpt_path ? 1 : 0) + (ck && ck->stdout_direct ? 1 : 0)
                             + (ck && ck->restore ? 1 : 0) + (ck && ck->items_path ? 2 : 0)
                             + (ck && ck->poison ? 1 : 0));
    if (ck && ck->items_path) {
        ctl_pack_kv_str(pk, "items", ck->items_path);
        ctl_pack_str(pk, "item_slot");
        msgpack_pack_unsigned_int(pk, ck->item_slot);
    }
    if (ck && ck->poison) {
        ctl_pack_str(pk, "poison");
        pk->callback(pk->data, ck->poison, ck->poison_len);
    }
    if (curve)
        pack_curve(pk, curve);
    ctl_pack_str(pk, "exact");
    exact ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    ctl_pack_str(pk, "checkpoint");
    ckpt ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    if (ck && ck->stdout_path)
        ctl_pack_kv_str(pk, "stdout", ck->stdout_path);
    if (ck && ck->ckpt_path)
        ctl_pack_kv_str(pk, "ckpt_file", ck->ckpt_path);
    if (ck && ck->stdout_direct) {
        ctl_pack_str(pk, "stdout_direct");
        msgpack_pack_true(pk);
    }
    if (ck && ck->restore) { /* the last checkpoint's map, as it came */
        ctl_pack_str(pk, "restore");
        pk->callback(pk->data, ck->restore, ck->restore_len);
    }
    /* the pipeline's and the actor's parts of the plan, by the plan codec */
    ctl_pack_str(pk, "pipeline");
    plan_pack_pipeline(pk, p);
    ctl_pack_str(pk, "actor");
    plan_pack_actor(pk, a);
    ctl_pack_str(pk, "incarnation");
    msgpack_pack_unsigned_int(pk, incarnation);
    ctl_pack_str(pk, "index");
    msgpack_pack_int(pk, actor);
    ctl_pack_str(pk, "instance");
    msgpack_pack_unsigned_int(pk, instance);
    ctl_pack_str(pk, "log");
    msgpack_pack_unsigned_int(pk, log);
    ctl_pack_str(pk, "outputs");
    pack_outputs(pk, p, rundir, actor, instance, host);
}

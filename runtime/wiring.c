/*  wiring.c: who binds where and who connects to whom. Every producer
    instance binds one socket per output channel at a path of its own in the
    run directory; every consumer instance connects to each producer
    instance of each channel it reads. What an actor instance needs to know
    of this, and of its actor, is its CONFIG message (docs/PROTOCOL.md).
*/
#include "wiring.h"

#include "ctl.h"

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

static void pack_outputs(msgpack_packer *pk, const plan_t *p, const char *rundir,
                         int actor, unsigned instance)
{
    const plan_actor_t *a = &p->actors[actor];
    msgpack_pack_array(pk, a->noutputs);
    for (int o = 0; o < a->noutputs; o++) {
        int ch = a->outputs[o];
        bool bc = p->chans[ch].mode == CHAN_BROADCAST;
        char ep[PATH_MAX + 64];
        wiring_endpoint(rundir, actor, instance, ch, ep, sizeof ep);
        msgpack_pack_map(pk, 6);
        ctl_pack_key(pk, "chan");
        msgpack_pack_int(pk, ch);
        ctl_pack_kv_str(pk, "name", p->chans[ch].name);
        ctl_pack_key(pk, "broadcast");
        bc ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        ctl_pack_kv_str(pk, "endpoint", ep);
        ctl_pack_kv_str(pk, "topic", a->topic);
        /* a broadcast's subscribers are known up front, so that no batch is
           made before one of them has said hello */
        ctl_pack_key(pk, "expect");
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

static void pack_inputs(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor)
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
                    char ep[PATH_MAX + 64];
                    wiring_endpoint(rundir, b, i, ch, ep, sizeof ep);
                    msgpack_pack_map(pk, 4);
                    ctl_pack_key(pk, "chan");
                    msgpack_pack_int(pk, ch);
                    ctl_pack_key(pk, "broadcast");
                    p->chans[ch].mode == CHAN_BROADCAST ? msgpack_pack_true(pk)
                                                        : msgpack_pack_false(pk);
                    ctl_pack_kv_str(pk, "endpoint", ep);
                    ctl_pack_kv_str(pk, "subscribe", a->subscribe);
                }
            }
    }
}

void wiring_pack_config(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor, unsigned instance, unsigned incarnation)
{
    const plan_actor_t *a = &p->actors[actor];
    msgpack_pack_map(pk, 16);
    ctl_pack_kv_str(pk, "pipeline", p->name);
    ctl_pack_kv_str(pk, "base_dir", p->dir);
    ctl_pack_key(pk, "incarnation");
    msgpack_pack_unsigned_int(pk, incarnation);
    ctl_pack_key(pk, "retries");
    msgpack_pack_unsigned_int(pk, a->retries);
    ctl_pack_kv_str(pk, "actor", a->name);
    ctl_pack_key(pk, "index");
    msgpack_pack_int(pk, actor);
    ctl_pack_key(pk, "instance");
    msgpack_pack_unsigned_int(pk, instance);
    ctl_pack_key(pk, "instances");
    msgpack_pack_unsigned_int(pk, a->instances);
    ctl_pack_kv_str(pk, "module", a->module_path);
    ctl_pack_key(pk, "batch");
    msgpack_pack_unsigned_int(pk, p->batch);
    ctl_pack_key(pk, "window");
    msgpack_pack_unsigned_int(pk, p->window);
    ctl_pack_key(pk, "credit");
    msgpack_pack_unsigned_int(pk, p->credit);
    ctl_pack_key(pk, "ordered");
    a->ordered > 0 ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    ctl_pack_key(pk, "args");
    msgpack_pack_map(pk, a->nargs);
    for (int i = 0; i < a->nargs; i++)
        ctl_pack_kv_str(pk, a->args[i].key, a->args[i].value);
    ctl_pack_key(pk, "outputs");
    pack_outputs(pk, p, rundir, actor, instance);
    ctl_pack_key(pk, "inputs");
    pack_inputs(pk, p, rundir, actor);
}

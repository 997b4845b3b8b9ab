/*  wiring.h: endpoints of a run, and the CONFIG message that tells an actor
    instance its module, arguments, and what to bind and connect. */
#ifndef TR_WIRING_H
#define TR_WIRING_H

#include "plan.h"

#include <msgpack.h>
#include <stddef.h>

/*  The ipc socket file of a producer instance's output channel. */
void wiring_socket_path(const char *rundir, int actor, unsigned instance, int chan,
                        char *buf, size_t len);
/*  The same as a zmq endpoint ("ipc://..."). */
void wiring_endpoint(const char *rundir, int actor, unsigned instance, int chan,
                     char *buf, size_t len);
/*  What a producer instance binds for an output: an ipc path in the run
    directory, or with `tcp` set a tcp address on `host` whose port the
    system picks (the actor reports the endpoint it got, in READY). */
void wiring_bind_endpoint(const plan_t *p, const char *rundir, int actor,
                          unsigned instance, int chan, char *buf, size_t len);
/*  Packs the CONFIG map for one instance of `actor`: who it is, its module,
    and what its outputs bind. */
void wiring_pack_config(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor, unsigned instance, unsigned incarnation);
/*  The same for an instance that runs where tcp endpoints are on `host`
    (a node's address; NULL: the plan's choice). */
void wiring_pack_config_at(msgpack_packer *pk, const plan_t *p, const char *rundir,
                           int actor, unsigned instance, unsigned incarnation,
                           const char *host);
/*  The endpoint a producer instance's output is bound at (NULL: unknown). */
typedef const char *(wiring_bound_fn)(void *arg, int actor, unsigned instance, int chan);
/*  Packs the inputs of `actor` for START: one map per producer instance of
    each channel it reads (chan, broadcast, producer, endpoint, subscribe),
    "producer" naming the output as "ACTOR.INSTANCE.CHAN". */
void wiring_pack_inputs(msgpack_packer *pk, const plan_t *p, int actor,
                        wiring_bound_fn *bound, void *arg);
/*  "ACTOR.INSTANCE.CHAN": a producer instance's output, as START and
    PEER_BACK name it. */
void wiring_producer_key(int actor, unsigned instance, int chan, char *buf, size_t len);

#endif

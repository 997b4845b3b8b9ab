/*  wiring.h: endpoints of a run, and the CONFIG message that tells an actor
    instance its module, arguments, and what to bind and connect. */
#ifndef TR_WIRING_H
#define TR_WIRING_H

#include "plan/plan.h"

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
/*  CURVE on a tcp run, as CONFIG carries it to one instance: the key pair
    its sockets use, and whom its bound sockets admit. Today every instance
    of a run gets the run's one pair, and the allowlist is that pair's
    public key; the fields are per instance so that an instance spawned by a
    node on another machine can get the node's own pair, and a producer an
    allowlist of several keys. */
typedef struct {
    const char *public_txt, *secret_txt; /* Z85 */
    const char *const *allow;            /* Z85 public keys admitted */
    int nallow;
    const char *allow_dir; /* the same keys as zcert public certificates, on
                              the machine of the instance: what zauth reads */
} wiring_curve_t;

/*  What CONFIG tells an exact actor's instance about its checkpoints: the
    file its stdout goes to, which the supervisor copies out as checkpoints
    commit it (a sink on the head; NULL: its stdout is the run's), and the
    last checkpoint to resume from, a packed msgpack map (NULL: none). */
typedef struct {
    const char *stdout_path;
    bool stdout_direct; /* a sink writing the run's stdout itself, a
                           regular file the supervisor cuts back */
    const char *ckpt_path; /* the file its checkpoints go to (NULL: sent) */
    const void *restore;
    size_t restore_len;
    /* poison items (poison.h): the file and slot where the instance says
       what it handles (NULL: none), and its actor's poison items so far,
       a packed array (NULL: none) */
    const char *items_path;
    unsigned item_slot;
    const void *poison;
    size_t poison_len;
} wiring_ckpt_t;

/*  Packs the CONFIG map for one instance of `actor`: who it is, its module,
    what its outputs bind (on tcp, on `host`: a node's address; NULL: the
    plan's choice), with curve (NULL: none) its CURVE keys, how its module's
    lines go (CTL_LOG_*), and with ck (NULL: none) its checkpoints. */
void wiring_pack_config(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor, unsigned instance, unsigned incarnation,
                        const char *host, const wiring_curve_t *curve,
                        unsigned log, const wiring_ckpt_t *ck);
/*  The endpoint a producer instance's output is bound at (NULL: unknown). */
typedef const char *(wiring_bound_fn)(void *arg, int actor, unsigned instance, int chan);
/*  The public key (Z85) of a producer instance's CURVE server, or NULL
    when the run has no CURVE. */
typedef const char *(wiring_key_fn)(void *arg, int actor, unsigned instance);
/*  Packs the inputs of `actor` for START: one map per producer instance of
    each channel it reads (chan, broadcast, producer, endpoint, subscribe,
    and with CURVE server_key), "producer" naming the output as
    "ACTOR.INSTANCE.CHAN". key may be NULL (no CURVE). */
void wiring_pack_inputs(msgpack_packer *pk, const plan_t *p, int actor,
                        wiring_bound_fn *bound, wiring_key_fn *key, void *arg);
/*  "ACTOR.INSTANCE.CHAN": a producer instance's output, as START and
    PEER_BACK name it. */
void wiring_producer_key(int actor, unsigned instance, int chan, char *buf, size_t len);

#endif

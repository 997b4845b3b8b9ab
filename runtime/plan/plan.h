/*  plan.h: a pipeline as the supervisor runs it, made from a config file by
    config.c: actors with their modules, instances and arguments, and the
    channels that join them.
*/
#ifndef TR_PLAN_H
#define TR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  pipe: each item to one instance of one reading actor (load-balanced);
    broadcast: every item to every reading instance whose subscription
    matches its topic; keyed: each item to one instance of each reading
    actor, chosen by its key, so that equal keys meet at one instance. */
typedef enum { CHAN_PIPE = 0, CHAN_BROADCAST = 1, CHAN_KEYED = 2 } plan_chan_mode_t;
typedef enum { ON_ERROR_FAIL = 0, ON_ERROR_SKIP = 1 } plan_on_error_t;
/*  After Erlang/OTP: permanent and transient instances are restarted when
    they die before finishing (an actor only exits normally once done, so
    the two differ only in name); temporary ones are not. */
typedef enum { RESTART_PERMANENT = 0, RESTART_TRANSIENT, RESTART_TEMPORARY } plan_restart_t;

/*  Where instances may run when a head has nodes (`troupe run --listen`):
    the default puts workers (actors with inputs and outputs) anywhere and
    keeps sources and sinks, which read files and write stdout, on the head. */
typedef enum { PLACE_DEFAULT = 0, PLACE_HEAD, PLACE_ANY } plan_place_t;

typedef struct {
    char *name;
    plan_chan_mode_t mode;
    int line;
    int nproducers, nconsumers; /* actors */
    char *key; /* keyed: the part of a value that is its key, an array
                  index ("0") or a map field ("word"); NULL: the whole value */
} plan_chan_t;

typedef struct {
    char *key;
    char *value;
    int line;
} plan_arg_t;

typedef struct {
    char *name;
    char *module;      /* as written in the config */
    char *module_path; /* resolved file */
    int line, module_line;
    unsigned instances;
    int *inputs, ninputs;   /* channel indexes */
    int *outputs, noutputs;
    char *topic;     /* what it publishes on broadcast outputs */
    char *subscribe; /* prefix it takes from broadcast inputs */
    int ordered;     /* -1: the module's choice */
    bool source;     /* its module produces */
    bool flushes;    /* its module emits at the end (a flush hook) */
    bool stateful;   /* its module keeps state (TROUPE_STATEFUL) */
    bool checkpoints; /* its module has snapshot and restore hooks */
    bool lossy;      /* restart = permanent_lossy: a stateful instance that
                        dies starts again empty, and takes no checkpoints */
    plan_on_error_t on_error;
    unsigned retries;        /* extra tries of a failing item */
    plan_restart_t restart;
    unsigned max_restarts;   /* restart intensity: this many ... */
    double restart_period;   /* ... within this many seconds */
    plan_place_t place;
    plan_arg_t *args;
    int nargs;
    /* embedding (pool.c): */
    bool external; /* played by the calling program itself: never spawned */
    char *exe;     /* a program to exec instead of troupe-actor (the
                      caller's own, for a module it defines), or NULL */
    unsigned retire_after; /* a pool's maxtasksperchild: an instance that
                              has handled this many items hands back what
                              it holds and a fresh one takes its place (0:
                              never); for actors that keep no state */
} plan_actor_t;

typedef struct {
    char *name;
    char *file;
    char *dir;       /* the config file's folder, absolute */
    unsigned batch;  /* items per batch from a source */
    unsigned window; /* unacknowledged batches per output */
    unsigned credit; /* batches a consumer lets queue per producer */
    plan_actor_t *actors;
    int nactors;
    plan_chan_t *chans;
    int nchans;
    char *rundir; /* the run directory to use, made by the caller; NULL:
                     the supervisor makes one */
    char *tcp_host; /* data channels on tcp at this address (ports picked
                       by the system); NULL: ipc in the run directory */
    unsigned port_lo, port_hi; /* with tcp_host: the data ports, from
                       --data-ports; 0: any the system picks */
    unsigned names; /* the salt of copies' names (envelope.h), from
                       plan_name_copies */
} plan_t;

/*  The pipeline-wide defaults (batch, window, credit). */
void plan_defaults(plan_t *self);
/*  An actor with every default (one instance, restarts 10 in 5 s ...). */
void plan_actor_init(plan_actor_t *a, const char *name);
void plan_destroy(plan_t **self_p);
int plan_find_actor(const plan_t *self, const char *name);
int plan_find_chan(const plan_t *self, const char *name);

/*  An actor each of whose items must take effect exactly once across all
    its instances: it keeps state, or it is a sink (its effect is what it
    writes). Each item has one home instance among them (wiring.c), which
    deduplicates it. */
bool plan_actor_exact(const plan_actor_t *a);
/*  An exact actor that checkpoints: it acknowledges items only once a
    checkpoint covers them, and a restarted instance resumes from the last
    one. A stateful module needs snapshot and restore hooks for that; a sink
    without state needs none. */
bool plan_actor_checkpoints(const plan_actor_t *a);
/*  The one actor reading pipe `chan` when it is exact (its items go to
    their home instance), else -1. */
int plan_chan_home(const plan_t *self, int chan);
/*  Whether an ordered actor reads `chan` or anything made from it, down
    the pipeline: the outputs upstream of one bound how far their oldest
    unacknowledged batch may lag the newest (chan.h, CHAN_ORDER_SPAN). */
bool plan_chan_feeds_order(const plan_t *self, int chan);
/*  The one actor reading `chan`, or -1 when none or several do. */
int plan_chan_reader(const plan_t *self, int chan);

/*  Picks the salt of the names items' copies take (envelope.h, "Item
    names") so that no two copies that can reach the same actor share a
    name (names.c): 0, or -1 with the reason in err. */
int plan_name_copies(plan_t *self, char *err, size_t errlen);

/*  The plan codec (codec.c): a plan as msgpack, and back, one way for
    every place a plan travels: whole, to a pool's supervisor in another
    process (`troupe-actor --supervise`); as parts, in each instance's
    CONFIG (its pipeline's fields and its actor's). Each struct is a map
    keyed by field names: readers skip names they do not know and keep the
    defaults of those not written. The unpackers return NULL or false when
    a value is not what it should be (a wrong type, a value out of range,
    a channel index with no channel). */
#include <msgpack.h>
void plan_pack(msgpack_packer *pk, const plan_t *self);
plan_t *plan_unpack(const msgpack_object *o);
/*  The pipeline-wide fields alone (no actors, no channels). */
void plan_pack_pipeline(msgpack_packer *pk, const plan_t *self);
bool plan_unpack_pipeline(const msgpack_object *o, plan_t *p);
/*  One actor; unpacked into `a` (plan_actor_init'ed by the caller), whose
    channel indexes must be below nchans. */
void plan_pack_actor(msgpack_packer *pk, const plan_actor_t *a);
bool plan_unpack_actor(const msgpack_object *o, plan_actor_t *a, int nchans);
/*  Frees what an actor holds (not the actor itself). */
void plan_actor_clear(plan_actor_t *a);

#endif

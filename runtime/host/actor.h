/*  actor.h: the actor host, run by `troupe actor` in each actor process. */
#ifndef TR_ACTOR_H
#define TR_ACTOR_H

/*  Connects to the supervisor at `control`, introduces itself as `id`
    ("ACTOR.INSTANCE.INCARNATION"), takes its config, runs its module until
    told to stop. Returns the process exit code: 0 when the actor finished,
    1 when it failed. */
int actor_main(const char *control, const char *id);

/*  The actor host inside a program of the caller's (the embedding API):
    its pool plays one actor of the pipeline, in a thread of its own, with
    a module given in memory rather than loaded. */
#include "troupe.h"
#include <stdbool.h>

typedef struct {
    const troupe_module_t *module; /* its hooks; troupe_state () is `arg` */
    void *arg;
    /*  Each group of each batch that arrives, instead of a message hook:
        `group` is an array of values, a str (the item failed) or NULL (an
        item that produced nothing). The host acknowledges the batch after
        the last group, and then calls collect_end. */
    void (*collect)(void *arg, uint32_t origin, uint64_t seq,
                    const msgpack_object *group);
    void (*collect_end)(void *arg);
    /*  After each batch of produce calls. */
    void (*produce_end)(void *arg);
    /*  Before each batch of produce calls, from item `next` on: `n` is the
        size the host would give it (cost_ns: what an item costs the
        slowest consumer, 0 while none has said). Returns the size to use
        (at least 1, at most the pipeline's batch), and sets *ahead: how
        many batches each consumer may hold besides the one it works on
        (CHAN_AHEAD_ANY: as its credit allows). NULL: n, no limit. */
    uint64_t (*batching)(void *arg, uint64_t next, uint64_t cost_ns, uint64_t n,
                         uint32_t *ahead);
    /*  Once every actor of the run is ready (START). */
    void (*started)(void *arg);
    /*  Every loop turn and at least every heartbeat; false stops the host. */
    bool (*tick)(void *arg);
    /*  The supervisor gave up on the run (ABORT), or could not be reached. */
    void (*aborted)(void *arg, const char *why);
    int wake_fd; /* polled besides the sockets: readable makes a turn; -1 */
} actor_embed_t;

/*  Runs the host in the calling thread until the supervisor stops it (0)
    or it fails or is stopped early (1). */
int actor_run_embedded(const char *control, const char *id, const actor_embed_t *embed);

/*  For an actor process only (never a caller's program): keeps freed heap
    rather than giving it back after every batch. Decoding a batch of
    thousands of items takes zone chunks beyond the first; without this
    glibc trims the heap when the zone is cleared and the next batch
    faults the same pages in again. */
void host_tune_malloc(void);

/*  This process's peak resident memory in kB (VmHWM from /proc). */
long host_peak_rss_kb(void);

#endif

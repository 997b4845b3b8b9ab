/*  checkpoint.h: which input batches an exact actor (a stateful actor or a
    sink, docs/RELIABILITY.md) has handled but may not acknowledge yet.

    Such an actor acknowledges a batch only once a checkpoint covers it: a
    snapshot of its state, with the set of items it has taken, kept by the
    supervisor. So a batch is always held by someone who can give it back:
    by its producer until acknowledged, and from then on by the checkpoint.
    At most one checkpoint is in flight; the batches handled meanwhile wait
    for the next.
*/
#ifndef TR_CHECKPOINT_H
#define TR_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int input;
    uint64_t batch_id;
} ckpt_ack_t;

typedef struct {
    ckpt_ack_t *waiting;  /* handled, covered by no checkpoint yet */
    size_t nwaiting, capwaiting;
    ckpt_ack_t *flight;   /* covered by the checkpoint in flight */
    size_t nflight, capflight;
    bool in_flight;
    uint64_t seq;         /* the last checkpoint's number */
    uint64_t oldest_ns;   /* when the oldest waiting batch was handled */
    uint64_t not_before_ns; /* the next one waits until then (its cost) */
} ckpt_t;

/*  A batch was handled: it waits for a checkpoint. Returns 0, or -1 when
    it could not be recorded (out of memory). The caller must not then
    acknowledge it: its effect would be lost with a death before the next
    checkpoint, and its producer would no longer hold it. */
int ckpt_wait(ckpt_t *self, int input, uint64_t batch_id, uint64_t now_ns);
/*  Whether to take a checkpoint now: something waits, none is in flight,
    the last one's cost allows it, and either `batches` have piled up or
    the oldest has waited `max_wait_ns`. */
bool ckpt_due(const ckpt_t *self, uint64_t now_ns, size_t batches, uint64_t max_wait_ns);
/*  Whether `batches` wait while the actor has nothing else to do (its
    input paused): then a checkpoint is due whatever the last one cost,
    since waiting for it holds back producers that would otherwise send. */
bool ckpt_due_idle(const ckpt_t *self, size_t batches);
bool ckpt_pending(const ckpt_t *self);
/*  The checkpoint being taken covers every waiting batch; returns its
    number. */
uint64_t ckpt_begin(ckpt_t *self);
/*  It took `cost_ns` to take: the next waits 19 times as long, so that
    checkpoints cost at most 5% of the actor's time. */
void ckpt_cost(ckpt_t *self, uint64_t now_ns, uint64_t cost_ns);
/*  The supervisor kept checkpoint `seq`: ack is called for each batch it
    covers. */
void ckpt_kept(ckpt_t *self, uint64_t seq, void (*ack)(void *arg, int input, uint64_t id),
               void *arg);
/*  The checkpoint begun could not be kept: its batches wait again.
    Returns 0, or -1 out of memory, when they could not all be put back
    (then nothing changed, and the checkpoint is still in flight). */
int ckpt_abandon(ckpt_t *self, uint64_t now_ns);
void ckpt_fini(ckpt_t *self);

#endif

/* ---- the checkpoint file ---------------------------------------------------

    An instance on the head keeps its checkpoints in a file of the run
    directory (RUNDIR/ckpt-ACTOR-INSTANCE) rather than sending them: two
    writes and no round trip, so an exact actor can afford one after every
    batch and acknowledge at once. A write to a file survives the process
    that made it (not the machine, which the run does not survive either),
    and the kernel copies each pwrite whole before a signal can end the
    process, so the file always holds one whole checkpoint: the map is
    written where it overwrites nothing the header names, then the header
    is written to name it. The supervisor reads the file when the instance
    dies (its successor's restore) and when a sink says how far its output
    is committed. Instances on nodes send their checkpoints instead. */
#define CKPT_FILE_DATA 64 /* the map never starts before this */

typedef struct {
    uint64_t off, len; /* where the last checkpoint's map is */
    uint64_t out;      /* how much of a sink's output file it covers */
    uint64_t check;    /* off ^ len ^ out ^ CKPT_FILE_MAGIC: a header */
} ckpt_head_t;

/*  Writes the map (len bytes) as the file's checkpoint; *head names the
    one there now (zeroes: none) and becomes the new one. Returns 0, or -1
    with errno (the file still holds the old one). */
int ckpt_file_write(int fd, ckpt_head_t *head, const void *map, size_t len, uint64_t out);
/*  Reads the header: 1 when it names a checkpoint, 0 when there is none
    yet, -1 on an error or a damaged header. */
int ckpt_file_head(int fd, ckpt_head_t *head);

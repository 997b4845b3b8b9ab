/*  supervise.h: the supervisor's state, shared by supervisor.c (a run:
    processes, control messages, completion, signals, the summary) and
    head.c (a head's nodes: placement, the node link, relayed messages).
    Internal to the supervisor.
*/
#ifndef TR_SUPERVISE_H
#define TR_SUPERVISE_H

#include "cluster/head.h"
#include "wire/auth.h"
#include "plan/plan.h"
#include "supervisor/supervisor.h"
#include "plan/wiring.h"
#include "host/zygote.h"

#include <limits.h>
#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

typedef enum {
    I_SPAWNED, /* forked, no hello yet */
    I_CONFIGURED,
    I_READY,
    I_RUNNING,
    I_DONE,    /* said DONE, told to stop */
    I_EXITED,  /* reaped */
    I_WAITING, /* died; a new incarnation is due at respawn_at */
    I_GONE     /* died, temporary: not coming back */
} inst_state_t;

typedef struct {
    int actor;
    unsigned instance;
    unsigned incarnation;
    char rid[32];
    pid_t pid;
    inst_state_t state;
    uint64_t last_seen;
    uint64_t stats[7]; /* in, out, batches_in, batches_out, failed, malformed, busy_ns */
    uint64_t past[7];  /* the same, summed over earlier incarnations */
    int status; /* from waitpid */
    bool finished; /* said DONE */
    long maxrss_kb; /* the largest its incarnations reported */
    /* its live incarnation's last report: what troupe top and the
       progress bar show */
    uint64_t cpu_ns;  /* CPU time (cpu_past: of earlier incarnations) */
    uint64_t cpu_past;
    uint64_t held;    /* input batches received, not yet acknowledged */
    uint64_t unacked; /* output batches sent, not yet acknowledged */
    uint64_t total;   /* a source's announced item count; 0: not known */
    unsigned restarts; /* deaths it came back from (moves are not) */
    /* recent samples (watch.c): rates over about a second */
    struct {
        uint64_t t_ms, items, cpu_ns;
    } samples[5];
    unsigned nsamples;
    double rate, cpu_pct;
    uint64_t respawn_at;
    uint64_t spawned_at;
    unsigned streak; /* deaths in a row, each soon after its start */
    char **bound;    /* per output: the endpoint it reported in READY */
    int node;        /* where it runs: -1 the head, else an index in nodes */
    bool placed;     /* node says where (place() ran for it) */
    bool asked;      /* the zygote is asked for its process (spawn_ahead) */
    bool moving;     /* killed on purpose, to run on a node that joined late */
    bool retiring;   /* said RETIRE (retire_after): stopped, its end no death */
    int prefer;      /* the node it moves to, or -1 */
    /* an exact actor that checkpoints (commit.c) */
    char *ckpt;        /* its last checkpoint's map, packed: its successor's */
    size_t ckpt_len;
    int out_fd;        /* a sink on the head: its stdout file, read here; -1 */
    int ckpt_fd;       /* on the head: the file its checkpoints go to; -1 */
    uint64_t out_done; /* bytes of that file copied to the run's stdout */
    uint64_t out_freed; /* bytes of it given back to the file system */
    bool out_direct;   /* it writes the run's stdout itself (commit.c) */
    bool hung;         /* killed here for sending no heartbeat */
    bool node_lost;    /* died with its node: one event, the node's, not a crash */
    /* its process's CPU time, looked at while it sends no heartbeat (a
       long hook): one that computes is busy, not hung (inst_active_at) */
    uint64_t cpu_look_at, cpu_look_ns;
    uint64_t computed_at; /* the last look that found it computing */
} inst_t;

#define MAX_NODES HEAD_MAX_NODES

/*  A `troupe top --head` watching over the node link (watch.c). */
#define MAX_WATCHERS 8
typedef struct {
    unsigned char id[256];
    size_t idlen;
    uint64_t last_seen;
} watcher_t;

typedef struct {
    uint64_t *times; /* recent restarts, oldest first */
    unsigned n;
    unsigned total;
} restarts_t;

/*  An item that an instance died handling (poison.c). */
typedef struct {
    int actor;
    uint32_t origin;
    uint64_t item;
    unsigned deaths;
    bool poison; /* killed its workers 2 + retries times: failed from now on */
    char text[240];
} strike_t;

typedef struct {
    const plan_t *plan;
    const supervisor_opts_t *opts;
    char exe[PATH_MAX];
    char rundir[PATH_MAX];
    char control[PATH_MAX + 16];
    void *zctx, *ctl;
    zygote_t *zygote;
    bool zygote_broken; /* it failed once: fork+exec from then on */
    int zygote_asked;   /* its requests not answered yet (spawn_ahead) */
    int sigfd;
    sigset_t oldmask;
    inst_t *insts;
    int ninsts;
    int *first_inst;     /* per actor: index of its instance 0 */
    bool *actor_done;    /* every instance said DONE */
    bool *input_ended;   /* INPUT_END sent */
    restarts_t *restarts;
    int nready;
    bool started;
    uint64_t t_start, t_run, t_end; /* run: START sent; end: last DONE */
    /* ending */
    int exit_code;       /* decided once; -1 while the run goes on */
    bool draining;
    bool cancel_said; /* "the job is cancelled" was said */
    uint64_t drain_deadline;
    bool killing;
    uint64_t kill_deadline;
    uint64_t failed_items;
    bool own_rundir;     /* made here (not given by the plan): removed here */
    /* CURVE, on a tcp run: the run's key pair, and its public key as the
       one entry of the allowlist folder in the run directory */
    bool has_curve;
    auth_keys_t keys;
    const char *allow[1];
    char allow_dir[PATH_MAX + 8];
    wiring_curve_t curve;
    char last_said[600]; /* what an external actor is told when the run fails */
    bool caller_waits;   /* a pool's caller was told why (ABORT) and has not
                            ended this process yet: it stays until then */
    /* a head with nodes (opts->listen) */
    head_t *head;
    unsigned head_cores; /* 0: none (opts->head_cores -1) */
    int nodes_never;     /* a launcher's nodes that ended before they joined */
    msgpack_zone relay_zone; /* for the control messages nodes relay */
    uint64_t *node_items; /* per actor, per place: [0] the head, [1+k] node k */
    /* what troupe top reads (watch.c) */
    void *statsock;      /* PUB at ipc://RUNDIR/stats */
    uint64_t next_watch;
    char hostname[64];
    watcher_t watchers[MAX_WATCHERS];
    int nwatchers;
    struct progress *progress; /* progress.c's, NULL: the run shows none */
    /* poison items (poison.c): what each instance on the head is handling */
    struct poison_slot *slots;
    size_t slots_len;
    char items_path[PATH_MAX + 16];
    strike_t *strikes;
    int nstrikes;
    uint64_t *skipped; /* per actor: failed items passed over (on_error = skip) */
    bool commit_broken; /* a sink's output could not reach stdout */
    int direct_sink;    /* the one sink that may write stdout itself, or -1 */
} sup_t;

/* ---- say.c ------------------------------------------------------------------ */
/*  An event on stderr (time, level, pipeline, message): say is an error,
    say_warn a warning, say_info news for -v. */
void say(sup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void say_warn(sup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void say_info(sup_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *actor_name(sup_t *s, inst_t *in);

/* ---- inst.c: an instance, as the rest of the supervisor sees it -------------- */
/*  An instance's process started (pid: here, or on its node). */
void spawned(inst_t *in, pid_t pid);
bool instance_alive(const inst_t *in);
/*  When the instance was last seen alive, in now_ms () time: its last
    heartbeat, or, for one on this machine whose hook runs long, the last
    time its process was seen using CPU. Called at every check of the
    loop (at most every 100 ms); limit_ms is the silence it is allowed. */
uint64_t inst_active_at(inst_t *in, uint64_t now, uint64_t limit_ms);
inst_t *inst_by_rid(sup_t *s, const char *rid, size_t len);
/*  Signals an instance, here or through its node. */
void signal_instance(sup_t *s, inst_t *in, int sig);
/*  Every control message to an instance goes through here. */
int inst_send(sup_t *s, inst_t *in, const msgpack_sbuffer *sb);
/*  [kind] or [kind, text] to one instance, or to every live one. */
void send_kind(sup_t *s, inst_t *in, int kind);
void send_text(sup_t *s, inst_t *in, int kind, const char *text);
void send_kind_text(sup_t *s, inst_t *in, int kind, const char *text);
void send_text_all(sup_t *s, int kind, const char *text);

/* ---- lifecycle.c: processes from start to end, and the run's end ------------- */
/*  Starts an instance's process, where placement says. 0, or -1 (said). */
int spawn(sup_t *s, inst_t *in);
/*  Asks the zygote for the instance's process ahead of its spawn, which
    then takes the answer: start_all asks for every instance first. Does
    nothing for an instance the zygote does not start. */
void spawn_ahead(sup_t *s, inst_t *in);
/*  An instance asked for whose spawn will not come (the start failed half
    way): its answer is read all the same, and a process made for it is
    the instance's, to be killed and reaped. */
void spawn_unasked(sup_t *s, inst_t *in);
/*  An instance's process ended with `status` (waitpid's, here or on its
    node): a death, unless it had finished. */
void instance_exited(sup_t *s, inst_t *in, int status);
/*  Reaps the instances here that exited. */
void reap(sup_t *s);
void kill_all(sup_t *s, int sig);
/*  Ends the run with `code` (the first reason wins): every actor is told
    to stop, and killed after a grace period. */
void fail_run(sup_t *s, int code);
/*  Stops the sources and lets what is in flight reach the sinks first. */
void drain_run(sup_t *s, int code);
bool all_exited(sup_t *s);
/*  [ABORT, why] to an actor the caller plays. */
void send_abort(sup_t *s, inst_t *in);

/* ---- control.c: the control plane -------------------------------------------- */
/*  A control message (one msgpack frame) from an instance, local or
    relayed by its node; zone is cleared and reused. */
void on_frame(sup_t *s, inst_t *in, msgpack_zone *zone, const void *data, size_t size);
/*  What the control socket holds. */
void read_control(sup_t *s);

/* ---- supervisor.c ------------------------------------------------------------ */
void read_signals(sup_t *s);

/* ---- commit.c: exact actors' checkpoints ------------------------------------ */
/*  CONFIG's checkpoint part for `in`: on the head, its checkpoint file
    and for a sink its stdout file (made here, named in paths[0] and
    paths[1], each `len` long), and the checkpoint to resume from. Returns
    0, or -1 when a file cannot be made. */
int commit_config(sup_t *s, inst_t *in, wiring_ckpt_t *ck, char paths[2][PATH_MAX + 64]);
/*  [COMMIT, out]: a sink's checkpoints in its file cover `out` bytes of
    its output: copy them to stdout. */
void commit_output(sup_t *s, inst_t *in, const msgpack_object *root);
/*  `in`'s process ended: what its last checkpoint commits goes to stdout,
    the checkpoint is kept for its successor, and what it wrote after it
    is cut off. */
void commit_exited(sup_t *s, inst_t *in);
/*  [CHECKPOINT, seq, map, final]: keeps it, copies the output it commits
    to the run's stdout, and answers (not a final one). */
void commit_checkpoint(sup_t *s, inst_t *in, const msgpack_object *root);
void commit_close(inst_t *in);

/* ---- poison.c: items that kill their workers --------------------------------- */
/*  Makes the file of slots (RUNDIR/items). Returns 0, or -1 (said). */
int poison_open(sup_t *s);
/*  CONFIG's part: where `in` says what it handles, and the poison items of
    its actor so far (packed into *sb, which the caller destroys). */
void poison_config(sup_t *s, inst_t *in, wiring_ckpt_t *ck, msgpack_sbuffer *sb);
/*  `in` died (status: waitpid's; why: that, said): the item it was
    handling, if any and if it may be to blame, takes a strike, and one
    that has killed enough workers is poison. */
void poison_death(sup_t *s, inst_t *in, int status, const char *why);
void poison_close(sup_t *s);

/* ---- placement.c: where instances run --------------------------------------- */
/*  Chooses where `in` runs: the head or a live node (in->node). */
void place(sup_t *s, inst_t *in);
/*  Node k joined late: the running instances to move to it (killed, then
    started again there), at most max. Returns how many. */
int place_moves(sup_t *s, int k, inst_t **victims, int max);

#endif

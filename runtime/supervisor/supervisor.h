/*  supervisor.h: runs a plan: spawns the actor processes, wires them,
    watches them, decides when the run is complete, and cleans up.
*/
#ifndef TR_SUPERVISOR_H
#define TR_SUPERVISOR_H

#include "wire/auth.h"
#include "plan/plan.h"
#include "host/zygote.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/*  Who starts a head's nodes when the head does (troupe run --slurm: the
    command, over cluster/slurm.c). The supervisor calls these and knows
    nothing of how nodes are started. */
typedef struct {
    void *arg;
    /*  The listen socket is bound at `endpoint` (a `*` port filled in):
        start the nodes. 0, or -1 with the reason in err: the run fails. */
    int (*start)(void *arg, const char *endpoint, char *err, size_t errlen);
    /*  A child that is none of the run's instances ended (waitpid's
        status): 0 when it is not the launcher's; 1 when it was, 2 when it
        was a node's that will never join; with 1 or 2, a line in why. */
    int (*exited)(void *arg, pid_t pid, int status, char *why, size_t len);
    /*  The wait for nodes is over and these joined (names): 0 to run, or
        -1 with the reason in err: the run fails. */
    int (*joined)(void *arg, const char *const *names, int n, char *err, size_t errlen);
    /*  The run is over and the nodes told (BYE): end what start started,
        within a bound. */
    void (*stop)(void *arg);
} supervisor_launcher_t;

typedef struct {
    int verbose;        /* 0: errors only; 1: summary; 2: lifecycle events */
    double grace;       /* seconds a Ctrl-C drain may take before SIGKILL */
    double hang;        /* seconds without a heartbeat before an actor is hung */
    double node_timeout; /* seconds of a silent node link before the node is lost
                            (0: NODE_HEAD_LOST_MS, the node's own bound) */
    const char *stats;  /* path for the end-of-run summary as JSON, or NULL */
    int progress;       /* 0: a bar when stderr is a terminal (progress.c says
                           when not); 1: always (--progress: plain lines off a
                           terminal); -1: never (--no-progress) */
    bool embedded;      /* run for a program's pool (troupe-actor --supervise):
                           quiet unless verbose, Ctrl-C left to the program,
                           SIGTERM kills at once */
    /* a head with nodes (docs/ARCHITECTURE.md, "Nodes"): */
    const char *listen; /* tcp://HOST:PORT where nodes join, or NULL */
    const auth_keys_t *listen_keys; /* the head's pair (--key): the listen
                           socket is a CURVE server; NULL: in the clear */
    const char *allow_dir; /* with listen_keys: the nodes' public
                           certificates (--allow), read by zauth */
    unsigned nodes;     /* how many to wait for before the start */
    double wait;        /* seconds to wait for them at most */
    int head_cores;     /* the head's cores for placement: 0 the CPUs online
                           here; -1 none: workers go to nodes while one is
                           alive (a head outside its allocation's nodes) */
    bool term_kills;    /* SIGTERM kills at once rather than drain: a batch
                           system sends it to every process of a job it
                           ends, the actors too, and SIGKILL soon after */
    const supervisor_launcher_t *launcher; /* starts the nodes, or NULL:
                           they come by themselves */
} supervisor_opts_t;

/*  Runs the plan to the end, taking over `zygote` (may be NULL). Returns the
    exit code: 0 success, 1 the run failed (reason on stderr), 2 an actor
    refused its config, 130/143 after SIGINT/SIGTERM. */
int supervisor_run(const plan_t *plan, const supervisor_opts_t *opts,
                   zygote_t *zygote);

#endif

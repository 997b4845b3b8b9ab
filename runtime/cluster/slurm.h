/*  slurm.h: `troupe run --slurm` inside a Slurm allocation. The head reads
    the allocation from the environment Slurm gave its batch script (or
    salloc's shell), makes the run's CURVE keys (a pair for the head, one
    for each node, the nodes' public ones in an allowlist folder), starts
    one `troupe node` per allocated node other than its own, each in a job
    step of its own (srun), and ends them with the run. docs/SCALE-OUT.md,
    "In a Slurm allocation".

    Part of the troupe command, like node.c: the supervisor knows nothing
    of Slurm and calls the command back (supervisor_launcher_t).
*/
#ifndef TR_SLURM_H
#define TR_SLURM_H

#include "cluster/head.h"
#include "wire/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*  What a node started by the head takes its keys from: this node's
    secret key and the head's public key, Z85. In the environment, not on
    the command line, where every user of the node would read them. */
#define SLURM_ENV_NODE_SECRET "TROUPE_NODE_SECRET"
#define SLURM_ENV_HEAD_PUBLIC "TROUPE_HEAD_PUBLIC"

#define SLURM_NAME_LEN 64

/*  The allocation, as its environment says. */
typedef struct {
    char job[32];      /* SLURM_JOB_ID */
    /* the nodes a troupe node runs on: every allocated node but the
       head's own */
    int nnodes;
    char names[HEAD_MAX_NODES][SLURM_NAME_LEN];
    unsigned cpus[HEAD_MAX_NODES]; /* the CPUs Slurm gave the job there */
    int total;         /* allocated nodes, the head's own included */
    char self[SLURM_NAME_LEN]; /* the head's node (SLURMD_NODENAME) when it
                                  is one of the allocation's, else "" */
    unsigned self_cpus; /* its CPUs; 0: the head is on no allocated node
                           (salloc's shell on a login node) */
} slurm_alloc_t;

/*  Reads the allocation from this process's environment. Returns 0, or
    -1 with what is wrong, naming the variable, in err. */
int slurm_alloc_read(slurm_alloc_t *alloc, char *err, size_t errlen);

/*  Expands a Slurm node list ("n[1-3,07],gpu1") into at most max names.
    Returns how many, or -1 with what is wrong and where in err. */
int slurm_nodelist_expand(const char *list, char names[][SLURM_NAME_LEN], int max,
                          char *err, size_t errlen);

/*  Expands SLURM_JOB_CPUS_PER_NODE's form ("4(x2),2") into exactly n
    counts. Returns 0, or -1 with what is wrong in err. */
int slurm_cpus_expand(const char *spec, unsigned *cpus, int n, char *err, size_t errlen);

/*  The address nodes reach the head at, by default: the first IPv4
    address (else IPv6) this host's name resolves to, into buf. Sets
    *loopback when that is a loopback address. Returns 0, or -1 with the
    reason in err. */
int slurm_head_address(char *buf, size_t len, bool *loopback, char *err, size_t errlen);

typedef struct slurm slurm_t;

/*  Makes the run's keys and the allowlist folder (in a private directory),
    and finds srun on PATH and this program. NULL with the reason in err. */
slurm_t *slurm_new(const slurm_alloc_t *alloc, int verbose, char *err, size_t errlen);
/*  Ends what slurm_start started (slurm_stop), wipes the keys, removes
    the folder. */
void slurm_destroy(slurm_t **self_p);

const auth_keys_t *slurm_head_keys(const slurm_t *self);
const char *slurm_allow_dir(const slurm_t *self);

/*  Starts one srun (a job step of one task) per node, running `troupe
    node` that joins the head at `endpoint`. Returns 0, or -1 with the
    reason in err (what did start is ended by slurm_stop). */
int slurm_start(slurm_t *self, const char *endpoint, char *err, size_t errlen);

/*  A child of this process ended: 0 when it was none of the sruns; 1 when
    it was one, 2 when it was one whose node had not joined (it never
    will). With 1 or 2, what to say is in why. */
int slurm_exited(slurm_t *self, pid_t pid, int status, char *why, size_t len);

/*  Once the wait for nodes is over: these joined (names). Returns 0 when
    every node started did, else -1 naming those that did not and why. */
int slurm_joined(slurm_t *self, const char *const *names, int n, char *err,
                 size_t errlen);

/*  After the head's BYE: waits for the sruns to end, then signals those
    left (SIGUSR1, which srun passes on to the node; SIGTERM, on which
    srun kills its step; SIGKILL), within a bound of about 12 s. */
void slurm_stop(slurm_t *self);

/*  The node's side: its keys from SLURM_ENV_NODE_SECRET and
    SLURM_ENV_HEAD_PUBLIC, which are then removed from the environment
    (its actors do not need them). Returns 0, or -1 with why in err. */
int slurm_node_keys(auth_keys_t *keys, char head_public[AUTH_KEY_LEN], char *err,
                    size_t errlen);

#endif

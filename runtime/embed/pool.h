/*  pool.h: what pool.c (the pool: its thread, its supervisor, the caller's
    actor) and jobs.c (the work it is given: map, imap_unordered, futures)
    share. Everything a job holds is guarded by its pool's mutex.
*/
#ifndef TR_POOL_H
#define TR_POOL_H

#include "troupe.h"

#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum { JOB_VALUES, JOB_INTS, JOB_DOUBLES } job_kind_t;

/*  A result waiting for imap_unordered's caller to take it. */
typedef struct comp {
    size_t index;
    troupe_value_t *value;
    char *error;
    struct comp *next;
} comp_t;

typedef struct job {
    job_kind_t kind;
    uint64_t first; /* index of its item 0 */
    size_t n;
    /* in: the caller's (it waits until every item is produced), or owned */
    troupe_value_t *const *items;
    const int64_t *ints;
    const double *dbls;
    /* out */
    troupe_value_t **results; /* JOB_VALUES: NULL for imap */
    int64_t *iout;
    double *dout;
    uint8_t *done; /* a bit per item */
    size_t ndone;
    char *error; /* the failed item of lowest index, or the pool's end */
    size_t error_index;
    size_t lost;    /* results not kept for want of memory */
    bool failed;    /* the pool ended before the job did, or it was cancelled */
    bool cancelled; /* troupe_pool_cancel: errno ECANCELED for its caller */
    bool abandoned; /* the caller left: the rest of it is not wanted */
    bool imap;
    comp_t *comp_head, *comp_tail;
    int refs; /* the table's and the caller's */
    troupe_pool_t *pool;
    /* a future's own item and result */
    troupe_value_t *own_item, *own_result;
    /* map_async's results, kept until its caller takes them (n of them) */
    troupe_value_t **own_results;
} job_t;

struct troupe_future {
    job_t job; /* a future is a job of one item */
};

typedef enum { P_STARTING, P_RUNNING, P_ENDED } pool_state_t;

struct troupe_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* the caller's handle, and one per live job */
    pthread_t thread;
    bool thread_live;
    int work_fd; /* eventfd: items were submitted, or the pool closes */
    bool source_waiting; /* the caller's actor waits on work_fd: a
                            submission must wake it (else it needs not) */
    int wake_fd; /* eventfd: the pool is being destroyed, or cancelled */
    unsigned workers;
    int prefetch; /* troupe_pool_opts_t's, bounded */
    unsigned maxtasks; /* troupe_pool_opts_t's maxtasksperchild */
    /* troupe_pool_cancel, maybe in a signal handler, only notes where
       the work submitted so far ends and writes wake_fd; the pool's
       thread fails the jobs before that (pool_tick) */
    uint64_t cancel_below;    /* atomic: next_index at the last call */
    uint64_t cancelled_below; /* the pool's thread's: acted on up to here */
    pid_t sup;
    char rundir[PATH_MAX];
    char actor_exe[PATH_MAX];
    msgpack_sbuffer plan; /* [plan, verbose, hang], for the supervisor */
    pool_state_t state;
    bool failed; /* ended badly: error says why */
    char error[1024];
    bool closing, destroying;
    uint64_t next_check;
    /* the work */
    job_t **jobs;
    size_t head, tail, cap; /* live jobs are jobs[head .. tail) */
    uint64_t next_index; /* stored atomically: troupe_pool_cancel reads it */
    bool wake_waiters;
    bool host_locked; /* the pool's thread holds mu through a whole batch */
    job_t *hint;      /* the job last found: the next item is most often in it */
};

/* ---- jobs.c --------------------------------------------------------------- */
/*  Under the lock, all of them. */
bool job_finished(const job_t *j);
/*  The job holding item `index`, or NULL (a late repeat of a finished job). */
job_t *job_find(troupe_pool_t *p, uint64_t index);
/*  Drops one reference; true when the pool lost its last one and must be
    freed (pool_free, after unlocking). */
bool job_release(job_t *j);
/*  Finished jobs at the head of the table leave it; as job_release. */
bool table_trim(troupe_pool_t *p);
/*  Records why item `index` failed, keeping the lowest index's reason (a
    reason that finds no memory counts as a lost result). */
void job_fail(job_t *j, size_t index, const char *why);

/*  Fails a job not finished with `why` (cancelled: errno ECANCELED for
    its caller): none of its items is sent from now on, the results of
    those under way are dropped. Wakes the waiters. */
void job_cancel(troupe_pool_t *p, job_t *j, const char *why);

/*  Not under the lock: */
/*  A job of n items, or NULL (troupe_error says so). */
job_t *job_new(job_kind_t kind, size_t n, size_t size);
/*  Queues a job (refs: the table's and the caller's) and wakes the
    source. On failure the job is discarded. */
int job_submit(troupe_pool_t *p, job_t *j);
/*  Under the lock: waits for the job to finish (an imap's: for a result
    to take); deadline 0: forever. False on timeout. */
bool job_wait(troupe_pool_t *p, job_t *j, uint64_t deadline_ns);
/*  The job's error, or NULL when it has none. Under the lock. */
const char *job_error(const job_t *j);
/*  The caller is done with the job: its reference goes, and finished jobs
    leave the table; frees the pool if that was its last reference. */
void job_leave(job_t *j);
/*  now + timeout for job_wait; 0 (forever) for a negative timeout. */
uint64_t deadline_after(double timeout);
/*  True (with the error set) when one of the items is NULL. */
bool items_null(troupe_value_t *const *items, size_t n, const char *what);

/*  Frees the pool, once job_release or table_trim said it lost its last
    reference (the caller's handle included). */
void pool_free(troupe_pool_t *p);

#endif

/*  pool.c: Pool.map, imap_unordered and futures for a program of the
    caller's (troupe.h, "pools").

    A pool is a pipeline of two actors, run by a supervisor process of its
    own (`troupe-actor --supervise`, fed the plan on a file descriptor):

        caller ──tasks──► work (the module, N instances) ──results──► caller

    The caller's end is an actor the supervisor does not spawn: a thread of
    the pool plays it with the actor host (actor_run_embedded). Its produce
    hook hands out the submitted items by index; its collect hook files
    each result under the item's index. Everything `troupe run` does for a
    pipeline holds here too: a killed worker is restarted and the items it
    held go to another, so the caller sees nothing; past the restart
    intensity the supervisor gives up and tells this thread why, and every
    pending future fails with that reason.

    Work is kept as jobs (jobs.c, which has the map and future calls): a
    map is one job of n items, a future one of one item. Item indexes are consecutive across jobs, in submission order, so
    a job is found from an index by binary search over the job table.
    Everything a job holds is guarded by the pool's mutex; the caller's
    threads wait on the pool's condition variable.

    The pool's thread forks the supervisor, so that PR_SET_PDEATHSIG ties
    the supervisor to that thread, which lives exactly as long as the pool.
*/
#define _GNU_SOURCE
#include "host/actor.h"
#include "base/rundir.h"
#include "base/clock.h"
#include "base/error.h"
#include "host/host.h"
#include "wire/chan.h"
#include "base/module.h"
#include "plan/plan.h"
#include "embed/pool.h"
#include "base/paths.h"
#include "base/selfref.h"
#include "base/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ==== the pool's end ============================================================= */

/*  The pool cannot go on: every job not finished fails with `why`. Under
    the lock. The first reason stands. */
static void pool_end(troupe_pool_t *p, const char *why)
{
    if (p->state != P_ENDED && why) {
        p->failed = true;
        size_t n = strlen(why); /* cut, should it not fit */
        n = n < sizeof p->error ? n : sizeof p->error - 1;
        memcpy(p->error, why, n);
        p->error[n] = '\0';
    }
    p->state = P_ENDED;
    for (size_t i = p->head; i < p->tail; i++) {
        job_t *j = p->jobs[i];
        if (!job_finished(j)) {
            j->failed = true;
            job_fail(j, 0, p->failed ? p->error : "the pool was closed");
        }
    }
    pthread_cond_broadcast(&p->cv);
}

static void pool_end_locked(troupe_pool_t *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    pool_end(p, why);
    pthread_mutex_unlock(&p->mu);
}

/* ==== the caller's actor: hooks run by the host in the pool's thread ========== */

/*  The pool's thread takes the lock once per batch it makes or takes, not
    once per item: hooks lock, the batch's end hook unlocks. */
static void host_lock(troupe_pool_t *p)
{
    if (!p->host_locked) {
        pthread_mutex_lock(&p->mu);
        p->host_locked = true;
    }
}

static void host_unlock(troupe_pool_t *p)
{
    if (p->host_locked) {
        p->host_locked = false;
        pthread_mutex_unlock(&p->mu);
    }
}

static void pool_produce_end(void *arg)
{
    host_unlock(arg);
}

/*  A batch that takes at most this long is cheap: it may wait for its
    worker behind the one in hand (troupe.h, prefetch). */
#define CHEAP_BATCH_NS 10000000ull

/*  The size of the next batch, from item `next` on, and how many batches
    a worker may hold ahead. Until a worker has said what an item costs,
    one item per batch and none ahead: the first items go one to each
    idle worker, however slow they are. After, the host's size, but in a
    map never more than a quarter per worker of the map's items still to
    send (Python's Pool.map cuts its chunks so), so that a small map
    spreads over every worker even when the cost known is that of cheaper
    items before it. Futures are not cut so: a stream of cheap ones
    would travel in several times as many batches (bench/pool_map
    futures: 690k a second against 830k), and a stale cost mends itself
    after one batch. */
static uint64_t pool_batching(void *arg, uint64_t next, uint64_t cost_ns, uint64_t n,
                              uint32_t *ahead)
{
    troupe_pool_t *p = arg;
    if (!cost_ns)
        n = 1;
    else {
        host_lock(p); /* held through the batch: produce_end unlocks */
        job_t *j = job_find(p, next);
        if (j && j->n > 1) {
            uint64_t left = j->first + j->n - next;
            uint64_t share = (left + 4ull * p->workers - 1) / (4ull * p->workers);
            n = n > share ? share : n;
        }
    }
    if (p->maxtasks && n > p->maxtasks)
        n = p->maxtasks; /* a worker retires at most a batch late */
    if (p->prefetch != 0)
        *ahead = p->prefetch < 0 ? 0 : (uint32_t)p->prefetch;
    else
        *ahead = cost_ns && cost_ns * n <= CHEAP_BATCH_NS ? 1 : 0;
    return n;
}

/*  produce: item `index`, if it has been submitted. */
static int pool_produce(troupe_ctx_t *ctx, uint64_t index)
{
    troupe_pool_t *p = troupe_state(ctx);
    host_lock(p);
    if (index >= p->next_index && !p->closing && p->state != P_ENDED) {
        /* nothing to hand out: clear the wake-up, then look once more, so
           that a submission after this look wakes the host again */
        host_unlock(p);
        uint64_t n;
        if (read(p->work_fd, &n, sizeof n) < 0) {
            /* nothing was pending */
        }
        host_lock(p);
    }
    if (p->state == P_ENDED)
        return TROUPE_DONE;
    if (index >= p->next_index) {
        if (p->closing)
            return TROUPE_DONE;
        p->source_waiting = true; /* the next submission writes work_fd */
        return troupe_wait_readable(ctx, p->work_fd);
    }
    job_t *j = job_find(p, index);
    int rc = 0;
    if (j && !j->abandoned && !j->failed) {
        size_t i = (size_t)(index - j->first);
        switch (j->kind) {
        case JOB_VALUES: {
            size_t size;
            const void *data = troupe_value_data(j->items[i], &size);
            rc = host_emit_packed(ctx, data, size);
            break;
        }
        case JOB_INTS: rc = troupe_emit_int(ctx, j->ints[i]); break;
        case JOB_DOUBLES: rc = troupe_emit_double(ctx, j->dbls[i]); break;
        }
    }
    /* else: an abandoned or cancelled item travels as an empty group,
       cheaply */
    return rc < 0 ? TROUPE_ERROR : TROUPE_OK;
}

/*  The one value an item made: itself when it made one, nil for none, the
    array of them for several. */
static const msgpack_object *result_of(const msgpack_object *group, msgpack_object *tmp)
{
    if (!group) {
        tmp->type = MSGPACK_OBJECT_NIL;
        return tmp;
    }
    if (group->via.array.size == 1)
        return &group->via.array.ptr[0];
    return group;
}

/*  map_int and map_double take one number per item. */
static void fail_not_a(job_t *j, size_t i, const msgpack_object *v, const char *what)
{
    char shown[128], text[256];
    troupe_format(v, shown, sizeof shown);
    snprintf(text, sizeof text, "item %zu: the result is not %s: %s", i, what, shown);
    job_fail(j, i, text);
}

/*  Files item i's result, or why it failed. The item is counted done
    before this, so a result that finds no memory must still leave a mark
    where the caller looks: the item's error for a map or a future, the
    job's count of lost results for imap_unordered. */
static void file_result(job_t *j, size_t i, const msgpack_object *v, const char *failed)
{
    char text[900];
    if (j->imap) {
        comp_t *c = calloc(1, sizeof *c);
        if (c && failed)
            c->error = strdup(failed);
        else if (c)
            c->value = troupe_value_object(v);
        if (c && !c->error && !c->value) {
            free(c);
            c = NULL;
        }
        if (!c) {
            j->lost++;
            return;
        }
        c->index = i;
        if (j->comp_tail)
            j->comp_tail->next = c;
        else
            j->comp_head = c;
        j->comp_tail = c;
        return;
    }
    if (failed) {
        snprintf(text, sizeof text, "item %zu failed: %s", i, failed);
        job_fail(j, i, text);
        return;
    }
    switch (j->kind) {
    case JOB_VALUES:
        if (j->results && !(j->results[i] = troupe_value_object(v))) {
            snprintf(text, sizeof text,
                     "item %zu: out of memory: its result could not be kept", i);
            job_fail(j, i, text);
        }
        break;
    case JOB_INTS:
        if (!troupe_as_int(v, &j->iout[i]))
            fail_not_a(j, i, v, "an integer");
        break;
    case JOB_DOUBLES:
        if (!troupe_as_double(v, &j->dout[i]))
            fail_not_a(j, i, v, "a number");
        break;
    }
}

static void pool_collect(void *arg, uint32_t origin, uint64_t seq,
                         const msgpack_object *group)
{
    troupe_pool_t *p = arg;
    if (origin != 0)
        return; /* what a module emits at its end belongs to no item */
    host_lock(p);
    job_t *j = job_find(p, seq);
    size_t i = j ? (size_t)(seq - j->first) : 0;
    if (j && !j->failed && !(j->done[i / 8] & (1u << (i % 8)))) {
        j->done[i / 8] |= (uint8_t)(1u << (i % 8));
        j->ndone++;
        if (!j->abandoned) {
            char failed[600];
            msgpack_object nil;
            if (group && group->type == MSGPACK_OBJECT_STR) {
                snprintf(failed, sizeof failed, "%.*s", (int)group->via.str.size,
                         group->via.str.ptr);
                file_result(j, i, NULL, failed);
            }
            else
                file_result(j, i, result_of(group, &nil), NULL);
        }
        if (j->ndone == j->n || j->imap)
            p->wake_waiters = true;
    }
}

static void pool_collect_end(void *arg)
{
    troupe_pool_t *p = arg;
    host_lock(p);
    if (p->wake_waiters) {
        p->wake_waiters = false;
        pthread_cond_broadcast(&p->cv);
    }
    bool free_pool = table_trim(p);
    host_unlock(p);
    (void)free_pool; /* the caller's handle holds a reference while we run */
}

static void pool_started(void *arg)
{
    troupe_pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    if (p->state == P_STARTING)
        p->state = P_RUNNING;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/*  troupe_pool_cancel's work, in the pool's thread: every job submitted
    before the call (its items below `below`) and not done fails now.
    Under the lock. */
static void cancel_jobs(troupe_pool_t *p, uint64_t below)
{
    for (size_t i = p->head; i < p->tail; i++) {
        job_t *j = p->jobs[i];
        if (j->first >= below)
            break; /* submitted after the call, as every one after it */
        job_cancel(p, j, "cancelled (troupe_pool_cancel)");
    }
}

static bool pool_tick(void *arg)
{
    troupe_pool_t *p = arg;
    uint64_t n;
    if (read(p->wake_fd, &n, sizeof n) < 0) {
        /* no wake-up pending */
    }
    pthread_mutex_lock(&p->mu);
    uint64_t below = __atomic_load_n(&p->cancel_below, __ATOMIC_ACQUIRE);
    if (below > p->cancelled_below) {
        cancel_jobs(p, below);
        p->cancelled_below = below;
    }
    bool go = !p->destroying && p->state != P_ENDED, closing = p->closing;
    pthread_mutex_unlock(&p->mu);
    if (!go)
        return false;
    uint64_t now = now_ms();
    if (now < p->next_check)
        return true;
    p->next_check = now + 100;
    int status;
    if (waitpid(p->sup, &status, WNOHANG) == p->sup) {
        p->sup = 0;
        /* a closing pool's supervisor ends well once every worker has:
           its STOP may still wait in our socket, unread */
        if (closing && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return false;
        char why[200], how[120];
        describe_status(status, how, sizeof how);
        snprintf(why, sizeof why, "the pool's supervisor %s", how);
        pool_end_locked(p, why);
        return false;
    }
    return true;
}

static void pool_aborted(void *arg, const char *why)
{
    pool_end_locked(arg, why && *why ? why : "the pool's supervisor gave up");
}

static const troupe_module_t caller_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "(the calling program)",
    .produce = pool_produce,
};

/* ==== the pool's thread ============================================================ */

/*  Starts `troupe-actor --supervise FD`, FD a memfd holding the packed
    plan; -1 with the reason in why. */
static pid_t start_supervisor(troupe_pool_t *p, char *why, size_t whylen)
{
    int fd = memfd_create("troupe-plan", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot make the plan's memfd: %s", strerror(errno));
        return -1;
    }
    if (write(fd, p->plan.data, p->plan.size) != (ssize_t)p->plan.size
        || lseek(fd, 0, SEEK_SET) != 0) {
        snprintf(why, whylen, "cannot write the plan's memfd: %s", strerror(errno));
        close(fd);
        return -1;
    }
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", fd);
    char *argv[] = { p->actor_exe, "--supervise", fdarg, NULL };
    /* SIGTERM, not SIGKILL: if the program dies (Ctrl-C), the supervisor
       still kills its workers and removes the run dir */
    spawn_t sp = { .path = p->actor_exe, .argv = argv, .pdeathsig = SIGTERM, .keep_fd = fd };
    pid_t pid = spawn_exec(&sp, why, whylen);
    close(fd);
    return pid;
}

/*  Waits for the supervisor to exit, for up to `ms`; true when it has. */
static bool reap_supervisor(troupe_pool_t *p, int ms, int *status)
{
    for (int waited = 0; p->sup > 0; waited += 5) {
        pid_t r = waitpid(p->sup, status, WNOHANG);
        if (r == p->sup || (r < 0 && errno == ECHILD)) {
            if (r < 0)
                *status = 0; /* reaped by someone else (SIGCHLD ignored) */
            p->sup = 0;
            return true;
        }
        if (waited >= ms)
            return false;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    return true;
}

static void *pool_thread(void *arg)
{
    troupe_pool_t *p = arg;
    char failed[PATH_MAX + 128];
    p->sup = start_supervisor(p, failed, sizeof failed);
    if (p->sup < 0) {
        p->sup = 0;
        pool_end_locked(p, failed);
        return NULL;
    }
    char control[PATH_MAX + 16];
    snprintf(control, sizeof control, "ipc://%s/ctl", p->rundir);
    actor_embed_t embed = {
        .module = &caller_module,
        .arg = p,
        .collect = pool_collect,
        .collect_end = pool_collect_end,
        .produce_end = pool_produce_end,
        .batching = pool_batching,
        .started = pool_started,
        .tick = pool_tick,
        .aborted = pool_aborted,
        .wake_fd = p->wake_fd,
    };
    /* the caller is actor 0, instance 0, first incarnation */
    actor_run_embedded(control, "0.0.0", &embed);
    int status = 0;
    pthread_mutex_lock(&p->mu);
    bool destroying = p->destroying, ended = p->state == P_ENDED, closing = p->closing;
    pthread_mutex_unlock(&p->mu);
    const char *why = NULL;
    char text[200];
    if (p->sup > 0) {
        /* a clean end: the supervisor stops every worker and exits; a
           destroyed or failed pool: it kills them (SIGTERM) at once */
        if (destroying || ended)
            kill(p->sup, SIGTERM);
        if (!reap_supervisor(p, destroying || ended ? 3000 : 30000, &status)) {
            kill(p->sup, SIGKILL);
            reap_supervisor(p, 5000, &status);
        }
        if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0) {
            char how[120];
            describe_status(status, how, sizeof how);
            snprintf(text, sizeof text, "the pool's supervisor %s", how);
            why = text;
        }
    }
    if (!why && !closing)
        why = "the pool's workers stopped";
    /* a destroyed or failed pool has its reason already */
    pool_end_locked(p, destroying || ended ? NULL : why);
    return NULL;
}

/* ==== making a pool =============================================================== */

static int make_rundir(troupe_pool_t *p)
{
    if (rundir_make("troupe-pool", p->rundir, sizeof p->rundir) < 0) {
        int rc = tr_error("troupe: pool: cannot make a run directory in %s: %s", p->rundir,
                          strerror(errno));
        p->rundir[0] = '\0';
        return rc;
    }
    return 0;
}

/*  The run directory holds only the run's ipc socket files: a supervisor
    that was killed leaves them behind. */
static void remove_rundir(troupe_pool_t *p)
{
    if (!p->rundir[0])
        return;
    rundir_remove(p->rundir);
    p->rundir[0] = '\0';
}

static int find_actor_exe(troupe_pool_t *p)
{
    char why[PATH_MAX * 3];
    if (paths_actor_exe(p->actor_exe, sizeof p->actor_exe, why, sizeof why) == 0)
        return 0;
    return tr_error("troupe: pool: cannot find troupe-actor: %s", why);
}

static int *one_int(int v)
{
    int *x = malloc(sizeof *x);
    if (x)
        *x = v;
    return x;
}

/*  caller (0) ──tasks (0)──► work (1) ──results (1)──► caller */
static plan_t *pool_plan(troupe_pool_t *p, const char *module, const char *path,
                         const char *exe, unsigned workers, const troupe_pool_opts_t *o)
{
    plan_t *plan = calloc(1, sizeof *plan);
    char cwd[PATH_MAX];
    if (!plan)
        return NULL;
    plan_defaults(plan);
    if (o->chunksize)
        plan->batch = o->chunksize;
    if (p->prefetch + 1 > (int)plan->credit) /* the batches ahead, and one in hand */
        plan->credit = (unsigned)p->prefetch + 1;
    plan->name = strdup(o->name && *o->name ? o->name : program_invocation_short_name);
    plan->file = strdup("(embedded)");
    plan->dir = strdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
    plan->rundir = strdup(p->rundir);
    plan->chans = calloc(2, sizeof *plan->chans);
    plan->actors = calloc(2, sizeof *plan->actors);
    if (!plan->chans || !plan->actors) {
        plan_destroy(&plan);
        return NULL;
    }
    plan->nchans = 2;
    plan->chans[0] = (plan_chan_t){ .name = strdup("tasks"), .nproducers = 1,
                                    .nconsumers = 1 };
    plan->chans[1] = (plan_chan_t){ .name = strdup("results"), .nproducers = 1,
                                    .nconsumers = 1 };
    plan->nactors = 2;
    plan_actor_t *c = &plan->actors[0], *w = &plan->actors[1];
    plan_actor_init(c, "caller");
    c->module = strdup(caller_module.name);
    c->module_path = strdup(caller_module.name);
    c->external = true;
    c->source = true;
    c->ordered = 0;
    c->restart = RESTART_TEMPORARY;
    c->on_error = ON_ERROR_SKIP; /* an item it cannot send fails its own future */
    c->outputs = one_int(0);
    c->noutputs = 1;
    c->inputs = one_int(1);
    c->ninputs = 1;
    plan_actor_init(w, "work");
    w->module = strdup(module);
    w->module_path = strdup(path);
    w->exe = exe ? strdup(exe) : NULL;
    w->instances = workers;
    w->ordered = 0;
    w->on_error = ON_ERROR_SKIP; /* a failed item goes to its future */
    w->retries = o->retries;
    w->retire_after = o->maxtasksperchild;
    if (o->max_restarts)
        w->max_restarts = o->max_restarts;
    if (o->restart_period > 0)
        w->restart_period = o->restart_period;
    w->inputs = one_int(0);
    w->ninputs = 1;
    w->outputs = one_int(1);
    w->noutputs = 1;
    size_t nargs = 0;
    while (o->args && o->args[nargs * 2] && o->args[nargs * 2 + 1])
        nargs++;
    w->args = calloc(nargs + 1, sizeof *w->args);
    for (size_t i = 0; w->args && i < nargs; i++) {
        w->args[i].key = strdup(o->args[2 * i]);
        w->args[i].value = strdup(o->args[2 * i + 1]);
        w->nargs++;
    }
    bool ok = plan->name && plan->file && plan->dir && plan->rundir
              && plan->chans[0].name && plan->chans[1].name && c->name && c->module
              && c->module_path && c->outputs && c->inputs && w->name && w->module
              && w->module_path && w->inputs && w->outputs && w->args
              && (!exe || w->exe);
    if (!ok)
        plan_destroy(&plan);
    return plan;
}

/*  The first troupe.h whose options have a size ends them at `name`: no
    caller's struct is shorter. */
#define OPTS_FIRST_SIZE (offsetof(troupe_pool_opts_t, name) + sizeof(const char *))

/*  The caller's options as this library's struct: the fields its size
    covers, the defaults (0) for the rest; fields past this library's own
    (the caller's troupe.h is newer) are not read. NULL: every default.
    Returns 0, or -1 (EINVAL) when the size cannot be a troupe.h's. */
static int opts_read(const troupe_pool_opts_t *opts, troupe_pool_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    if (!opts)
        return 0;
    if (opts->size < OPTS_FIRST_SIZE) {
        errno = EINVAL;
        return tr_error("troupe: pool: the options' size is %zu: start them from "
                        "TROUPE_POOL_OPTS_INIT or TROUPE_POOL_OPTS (...)",
                        opts->size);
    }
    memcpy(o, opts, opts->size < sizeof *o ? opts->size : sizeof *o);
    o->size = sizeof *o;
    return 0;
}

static troupe_pool_t *pool_start(const char *module, const char *path, const char *exe,
                                 unsigned workers, const troupe_pool_opts_t *opts)
{
    troupe_pool_opts_t mine;
    const troupe_pool_opts_t *o = &mine;
    if (opts_read(opts, &mine) < 0)
        return NULL;
    if (getenv("TROUPE_WORKER")) {
        /* this is a worker whose main() went on as the program: it would
           start pools of its own, and their workers more */
        tr_error("troupe: pool: this process was started as a troupe worker, but "
                 "main() did not call troupe_init() first");
        return NULL;
    }
    if (workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cores > 0 ? (unsigned)cores : 1;
    }
    if (workers > 1024) {
        tr_error("troupe: pool: %u workers is more than 1024", workers);
        return NULL;
    }
    troupe_pool_t *p = calloc(1, sizeof *p);
    if (!p) {
        tr_error("troupe: pool: out of memory");
        return NULL;
    }
    p->refs = 1;
    p->workers = workers;
    p->prefetch = o->prefetch > 64 ? 64 : o->prefetch < 0 ? -1 : o->prefetch;
    p->maxtasks = o->maxtasksperchild;
    p->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    msgpack_sbuffer_init(&p->plan);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (p->work_fd < 0 || p->wake_fd < 0) {
        tr_error("troupe: pool: cannot make an eventfd: %s", strerror(errno));
        pool_free(p);
        return NULL;
    }
    if (find_actor_exe(p) < 0 || make_rundir(p) < 0) {
        pool_free(p);
        return NULL;
    }
    plan_t *plan = pool_plan(p, module, path, exe, workers, o);
    if (!plan) {
        tr_error("troupe: pool: out of memory");
        remove_rundir(p);
        pool_free(p);
        return NULL;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->plan, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    plan_pack(&pk, plan);
    msgpack_pack_int(&pk, o->verbose > 0 ? o->verbose : 0);
    msgpack_pack_double(&pk, o->hang > 0 ? o->hang : 10.0);
    plan_destroy(&plan);
    if (pthread_create(&p->thread, NULL, pool_thread, p) != 0) {
        tr_error("troupe: pool: cannot start its thread: %s", strerror(errno));
        remove_rundir(p);
        pool_free(p);
        return NULL;
    }
    p->thread_live = true;
    pthread_mutex_lock(&p->mu);
    while (p->state == P_STARTING)
        pthread_cond_wait(&p->cv, &p->mu);
    bool failed = p->failed;
    pthread_mutex_unlock(&p->mu);
    if (failed) {
        tr_error("troupe: pool of '%s': %s", module, p->error);
        troupe_pool_destroy(&p);
        return NULL;
    }
    return p;
}

troupe_pool_t *troupe_pool_new(const char *module, unsigned workers,
                               const troupe_pool_opts_t *opts)
{
    tr_error_clear();
    if (!module || !*module) {
        tr_error("troupe: pool: no module named");
        return NULL;
    }
    char err[512], cwd[PATH_MAX];
    char *path = module_resolve(module, getcwd(cwd, sizeof cwd) ? cwd : ".", err, sizeof err);
    if (!path) {
        tr_error("troupe: pool: %s", err);
        return NULL;
    }
    troupe_pool_t *p = pool_start(module, path, NULL, workers, opts);
    free(path);
    return p;
}

troupe_pool_t *troupe_pool_new_module(const troupe_module_t *module, unsigned workers,
                                      const troupe_pool_opts_t *opts)
{
    tr_error_clear();
    char ref[PATH_MAX + 64], exe[PATH_MAX];
    if (!module) {
        tr_error("troupe: pool: no module given");
        return NULL;
    }
    if (module->abi_version < TROUPE_ABI_MIN || module->abi_version > TROUPE_ABI_VERSION
        || (!module->message && !module->produce)) {
        tr_error("troupe: pool: module '%s' has no message hook or was built for "
                 "another ABI (set .abi_version = TROUPE_ABI_VERSION)",
                 module->name ? module->name : "?");
        return NULL;
    }
    if (selfref_make(module, ref, sizeof ref) < 0) {
        tr_error("troupe: pool: module '%s' is not a static object of the program or "
                 "of a library it loaded (a worker could not find it)",
                 module->name ? module->name : "?");
        return NULL;
    }
    if (selfref_program(exe, sizeof exe) < 0) {
        tr_error("troupe: pool: cannot find this program's file: %s", strerror(errno));
        return NULL;
    }
    return pool_start(module->name ? module->name : "(module)", ref, exe, workers, opts);
}

/* ==== ending ====================================================================== */

/*  Waits for the pool's thread (and so its supervisor and every worker). */
static void pool_join(troupe_pool_t *p)
{
    if (!p->thread_live)
        return;
    pthread_join(p->thread, NULL);
    p->thread_live = false;
    remove_rundir(p);
}

int troupe_pool_close(troupe_pool_t *pool)
{
    tr_error_clear();
    if (!pool)
        return tr_error("troupe: pool_close: no pool");
    pthread_mutex_lock(&pool->mu);
    pool->closing = true;
    pthread_mutex_unlock(&pool->mu);
    uint64_t one = 1;
    if (write(pool->work_fd, &one, sizeof one) < 0) {
        /* saturated: the source wakes anyway */
    }
    pool_join(pool);
    pthread_mutex_lock(&pool->mu);
    int rc = pool->failed ? tr_error("troupe: pool: %s", pool->error) : 0;
    pthread_mutex_unlock(&pool->mu);
    return rc;
}

void troupe_pool_destroy(troupe_pool_t **pool_p)
{
    if (!pool_p || !*pool_p)
        return;
    troupe_pool_t *p = *pool_p;
    *pool_p = NULL;
    pthread_mutex_lock(&p->mu);
    p->destroying = true;
    if (p->state != P_ENDED && !p->closing)
        pool_end(p, "the pool was destroyed");
    pthread_mutex_unlock(&p->mu);
    uint64_t one = 1;
    if (write(p->wake_fd, &one, sizeof one) < 0) {
        /* saturated: the thread wakes anyway */
    }
    pool_join(p);
    pthread_mutex_lock(&p->mu);
    pool_end(p, NULL);
    bool free_pool = false;
    while (p->head < p->tail)
        free_pool |= job_release(p->jobs[p->head++]);
    free_pool |= --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (free_pool)
        pool_free(p);
}


int troupe_pool_cancel(troupe_pool_t *pool)
{
    /* async-signal-safe: atomics that take no lock and a write, errno
       kept as it was */
    if (!pool) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    /* the work submitted so far ends here; a later call may only raise it */
    uint64_t below = __atomic_load_n(&pool->next_index, __ATOMIC_ACQUIRE);
    uint64_t seen = __atomic_load_n(&pool->cancel_below, __ATOMIC_RELAXED);
    while (seen < below
           && !__atomic_compare_exchange_n(&pool->cancel_below, &seen, below, true,
                                           __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        /* another call (a thread, a nested signal) moved it: try again */
    }
    uint64_t one = 1;
    if (write(pool->wake_fd, &one, sizeof one) < 0) {
        /* saturated: the thread wakes anyway */
    }
    errno = saved;
    return 0;
}

/*  jobs.c: the work a pool is given (troupe.h, "pools"): maps,
    imap_unordered and futures, each a job of consecutive item indexes in
    the pool's job table; pool.c's caller actor hands the items out and
    files the results. A map's caller waits on the pool's condition
    variable until its job is finished; a future is a job of one item that
    outlives its pool if need be (the pool is reference counted).
*/
#define _GNU_SOURCE
#include "base/clock.h"
#include "base/error.h"
#include "embed/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ==== jobs ====================================================================== */

bool job_finished(const job_t *j)
{
    return j->ndone == j->n || j->failed;
}

/*  The job holding item `index`, or NULL (a late repeat of a finished job). */
job_t *job_find(troupe_pool_t *p, uint64_t index)
{
    job_t *h = p->hint;
    if (h && index >= h->first && index - h->first < h->n)
        return h;
    size_t lo = p->head, hi = p->tail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        job_t *j = p->jobs[mid];
        if (index < j->first)
            hi = mid;
        else if (index >= j->first + j->n)
            lo = mid + 1;
        else
            return p->hint = j;
    }
    return NULL;
}

/*  Drops one reference, under the lock. Returns true when the pool itself
    lost its last reference and must be freed (after unlocking). */
bool job_release(job_t *j)
{
    troupe_pool_t *p = j->pool;
    if (--j->refs > 0)
        return false;
    while (j->comp_head) {
        comp_t *c = j->comp_head;
        j->comp_head = c->next;
        troupe_value_destroy(&c->value);
        free(c->error);
        free(c);
    }
    troupe_value_destroy(&j->own_item);
    troupe_value_destroy(&j->own_result);
    if (j->own_results)
        for (size_t i = 0; i < j->n; i++)
            troupe_value_destroy(&j->own_results[i]);
    free(j->own_results);
    free(j->done);
    free(j->error);
    free(j); /* a future's or handle's job is its first member: one block */
    return --p->refs == 0;
}

/*  Finished jobs at the head of the table leave it. */
bool table_trim(troupe_pool_t *p)
{
    bool free_pool = false;
    while (p->head < p->tail && job_finished(p->jobs[p->head])) {
        p->hint = NULL;
        free_pool |= job_release(p->jobs[p->head++]);
    }
    if (p->head == p->tail)
        p->head = p->tail = 0;
    return free_pool;
}

void job_fail(job_t *j, size_t index, const char *why)
{
    if (j->error && index >= j->error_index)
        return;
    char *copy = strdup(why);
    if (!copy) {
        j->lost++;
        return;
    }
    free(j->error);
    j->error = copy;
    j->error_index = index;
}

void job_cancel(troupe_pool_t *p, job_t *j, const char *why)
{
    if (job_finished(j))
        return;
    j->failed = j->cancelled = true;
    job_fail(j, 0, why);
    pthread_cond_broadcast(&p->cv);
}

const char *job_error(const job_t *j)
{
    if (j->error)
        return j->error;
    return j->lost ? "out of memory: a result was lost" : NULL;
}

/*  Frees a job that never reached the table. */
static void job_discard(job_t *j)
{
    troupe_value_destroy(&j->own_item);
    free(j->own_results);
    free(j->done);
    free(j);
}

int job_submit(troupe_pool_t *p, job_t *j)
{
    pthread_mutex_lock(&p->mu);
    if (p->state == P_ENDED || p->closing) {
        int rc = tr_error("troupe: pool: %s",
                          p->failed ? p->error : "the pool is closed");
        pthread_mutex_unlock(&p->mu);
        job_discard(j);
        return rc;
    }
    if (p->tail == p->cap) {
        if (p->head > 0) { /* room at the front: slide down */
            memmove(p->jobs, p->jobs + p->head, (p->tail - p->head) * sizeof *p->jobs);
            p->tail -= p->head;
            p->head = 0;
        }
        else {
            size_t cap = p->cap ? p->cap * 2 : 64;
            job_t **more = realloc(p->jobs, cap * sizeof *more);
            if (!more) {
                pthread_mutex_unlock(&p->mu);
                job_discard(j);
                return tr_error("troupe: pool: out of memory");
            }
            p->jobs = more;
            p->cap = cap;
        }
    }
    j->pool = p;
    j->refs = 2;
    j->first = p->next_index;
    __atomic_store_n(&p->next_index, p->next_index + j->n, __ATOMIC_RELEASE);
    p->jobs[p->tail++] = j;
    p->refs++;
    bool wake = p->source_waiting;
    p->source_waiting = false;
    pthread_mutex_unlock(&p->mu);
    uint64_t one = 1;
    if (wake && write(p->work_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: a wake-up is pending anyway */
    }
    return 0;
}

/*  size: of the struct the job begins (a future's, a handle's), at least
    a job's. */
job_t *job_new(job_kind_t kind, size_t n, size_t size)
{
    job_t *j = calloc(1, size > sizeof(job_t) ? size : sizeof(job_t));
    if (!j || !(j->done = calloc(n / 8 + 1, 1))) {
        free(j);
        tr_error("troupe: pool: out of memory");
        return NULL;
    }
    j->kind = kind;
    j->n = n;
    return j;
}

bool job_wait(troupe_pool_t *p, job_t *j, uint64_t deadline_ns)
{
    while (!job_finished(j) && !(j->imap && j->comp_head)) {
        if (!deadline_ns) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ull),
                               .tv_nsec = (long)(deadline_ns % 1000000000ull) };
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            return job_finished(j) || (j->imap && j->comp_head);
    }
    return true;
}

void job_leave(job_t *j)
{
    troupe_pool_t *p = j->pool;
    pthread_mutex_lock(&p->mu);
    j->abandoned = true;
    bool free_pool = job_release(j); /* the caller's reference */
    free_pool |= table_trim(p);
    pthread_mutex_unlock(&p->mu);
    if (free_pool)
        pool_free(p);
}

uint64_t deadline_after(double timeout)
{
    if (timeout < 0)
        return 0;
    return now_ns() + (uint64_t)(timeout * 1e9) + 1;
}

/* ==== map ========================================================================= */

/*  Submits the job, waits for all of it, and returns 0 or -1 with the
    error of the failed item of lowest index (or the pool's). */
static int run_job(troupe_pool_t *p, job_t *j)
{
    if (job_submit(p, j) < 0)
        return -1;
    pthread_mutex_lock(&p->mu);
    job_wait(p, j, 0);
    int rc = job_error(j) ? tr_error("troupe: pool: %s", job_error(j)) : 0;
    bool cancelled = j->cancelled;
    pthread_mutex_unlock(&p->mu);
    job_leave(j);
    if (cancelled)
        errno = ECANCELED;
    return rc;
}

bool items_null(troupe_value_t *const *items, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!items[i]) {
            tr_error("troupe: %s: item %zu is NULL", what, i);
            return true;
        }
    return false;
}

int troupe_pool_map(troupe_pool_t *pool, troupe_value_t *const *items, size_t n,
                    troupe_value_t **results)
{
    tr_error_clear();
    if (!pool || (n && (!items || !results)))
        return tr_error("troupe: pool_map: %s", !pool ? "no pool" : "no items or results");
    for (size_t i = 0; i < n; i++)
        results[i] = NULL;
    if (items_null(items, n, "pool_map"))
        return -1;
    if (n == 0)
        return 0;
    job_t *j = job_new(JOB_VALUES, n, sizeof(job_t));
    if (!j)
        return -1;
    j->items = items;
    j->results = results;
    int rc = run_job(pool, j);
    if (rc < 0)
        for (size_t i = 0; i < n; i++)
            troupe_value_destroy(&results[i]);
    return rc;
}

/*  The pool's thread writes the output array of map_int and map_double
    once per item, and each page of it that the program has not touched
    yet (a fresh calloc) faults on its first store: a quarter of that
    thread's time in a map of a million ints (docs/PERFORMANCE.md). One
    madvise asks the kernel to fault in, writable, the pages the array
    wholly covers, as the stores would but without writing anything: for
    8 MB, 6-8 ms against 22 ms for a fault per page on the 2-core VM. A
    hint only: where the kernel lacks it (before Linux 5.14) or refuses it,
    the pages fault one by one as before. */
static void prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0) {
        /* not supported or not allowed: the stores fault instead */
    }
#else
    (void)p;
    (void)bytes;
#endif
}

/*  map_int and map_double: numbers in, one number per item out. */
static int map_numbers(troupe_pool_t *pool, job_kind_t kind, const void *in, void *out,
                       size_t n, const char *what)
{
    if (!pool || (n && (!in || !out)))
        return tr_error("troupe: %s: %s", what, !pool ? "no pool" : "no input or output");
    if (n == 0)
        return 0;
    job_t *j = job_new(kind, n, sizeof(job_t));
    if (!j)
        return -1;
    prefault(out, n * (kind == JOB_INTS ? sizeof(int64_t) : sizeof(double)));
    if (kind == JOB_INTS) {
        j->ints = in;
        j->iout = out;
    }
    else {
        j->dbls = in;
        j->dout = out;
    }
    return run_job(pool, j);
}

int troupe_pool_map_int(troupe_pool_t *pool, const int64_t *in, int64_t *out, size_t n)
{
    tr_error_clear();
    return map_numbers(pool, JOB_INTS, in, out, n, "pool_map_int");
}

int troupe_pool_map_double(troupe_pool_t *pool, const double *in, double *out, size_t n)
{
    tr_error_clear();
    return map_numbers(pool, JOB_DOUBLES, in, out, n, "pool_map_double");
}

int troupe_pool_imap_unordered(troupe_pool_t *pool, troupe_value_t *const *items,
                               size_t n, troupe_result_fn *fn, void *arg)
{
    tr_error_clear();
    if (!pool || !fn || (n && !items))
        return tr_error("troupe: pool_imap_unordered: %s",
                        !pool ? "no pool" : !fn ? "no callback" : "no items");
    if (items_null(items, n, "pool_imap_unordered"))
        return -1;
    if (n == 0)
        return 0;
    job_t *j = job_new(JOB_VALUES, n, sizeof(job_t));
    if (!j)
        return -1;
    j->items = items;
    j->imap = true;
    if (job_submit(pool, j) < 0)
        return -1;
    size_t handed = 0;
    int rc = 0;
    pthread_mutex_lock(&pool->mu);
    while (rc == 0 && handed < n) {
        job_wait(pool, j, 0);
        comp_t *list = j->comp_head;
        j->comp_head = j->comp_tail = NULL;
        if (!list && j->failed) {
            rc = tr_error("troupe: pool: %s", j->error ? j->error : "the pool ended");
            break;
        }
        if (!list && job_finished(j)) {
            /* every item is back, and what is not handed over by now was
               never kept: waiting for it would spin for ever */
            rc = tr_error("troupe: pool_imap_unordered: out of memory: %zu result%s "
                          "lost",
                          j->lost, j->lost == 1 ? " was" : "s were");
            break;
        }
        pthread_mutex_unlock(&pool->mu);
        while (list) { /* the callback runs without the lock */
            comp_t *c = list;
            list = c->next;
            if (rc == 0 && fn(arg, c->index, c->value ? troupe_value_get(c->value) : NULL,
                              c->error)
                               != 0)
                rc = tr_error("troupe: pool_imap_unordered: stopped by the callback at "
                              "item %zu",
                              c->index);
            handed++;
            troupe_value_destroy(&c->value);
            free(c->error);
            free(c);
        }
        pthread_mutex_lock(&pool->mu);
    }
    bool cancelled = j->cancelled && rc < 0;
    pthread_mutex_unlock(&pool->mu);
    job_leave(j);
    if (cancelled)
        errno = ECANCELED;
    return rc;
}

/* ==== futures ===================================================================== */

troupe_future_t *troupe_pool_submit(troupe_pool_t *pool, const troupe_value_t *item)
{
    tr_error_clear();
    if (!pool || !item) {
        tr_error("troupe: pool_submit: %s", !pool ? "no pool" : "no item");
        return NULL;
    }
    job_t *j = job_new(JOB_VALUES, 1, sizeof(struct troupe_future));
    if (!j)
        return NULL;
    size_t size;
    const void *data = troupe_value_data(item, &size);
    if (!(j->own_item = troupe_value_packed(data, size))) {
        job_discard(j);
        tr_error("troupe: pool_submit: out of memory");
        return NULL;
    }
    j->items = &j->own_item;
    j->results = &j->own_result;
    if (job_submit(pool, j) < 0)
        return NULL;
    return (troupe_future_t *)j;
}

int troupe_future_wait(troupe_future_t *f, double timeout)
{
    tr_error_clear();
    if (!f)
        return tr_error("troupe: future_wait: no future");
    job_t *j = &f->job;
    pthread_mutex_lock(&j->pool->mu);
    bool done = job_wait(j->pool, j, deadline_after(timeout));
    pthread_mutex_unlock(&j->pool->mu);
    if (!done) {
        errno = ETIMEDOUT;
        return tr_error("troupe: future_wait: not done after %.3f s", timeout);
    }
    return 0;
}

bool troupe_future_done(const troupe_future_t *f)
{
    if (!f)
        return false;
    job_t *j = (job_t *)&f->job;
    pthread_mutex_lock(&j->pool->mu);
    bool done = job_finished(j);
    pthread_mutex_unlock(&j->pool->mu);
    return done;
}

const msgpack_object *troupe_future_result(const troupe_future_t *f)
{
    if (!f)
        return NULL;
    job_t *j = (job_t *)&f->job;
    pthread_mutex_lock(&j->pool->mu);
    const msgpack_object *v = job_finished(j) && !j->error && j->own_result
                                  ? troupe_value_get(j->own_result)
                                  : NULL;
    pthread_mutex_unlock(&j->pool->mu);
    return v;
}

const char *troupe_future_error(const troupe_future_t *f)
{
    if (!f)
        return NULL;
    job_t *j = (job_t *)&f->job;
    pthread_mutex_lock(&j->pool->mu);
    const char *e = job_finished(j) ? job_error(j) : NULL;
    pthread_mutex_unlock(&j->pool->mu);
    return e;
}

/*  Futures of one pool wait on its condition variable; futures of several
    pools are polled every millisecond. */
static int wait_some(troupe_future_t *const *fs, size_t n, double timeout, bool all)
{
    if (!fs && n)
        return tr_error("troupe: future_wait: no futures");
    uint64_t deadline = deadline_after(timeout);
    troupe_pool_t *one = n && fs[0] ? fs[0]->job.pool : NULL; /* NULLs: below */
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return tr_error("troupe: future_wait: future %zu is NULL", i);
        if (fs[i]->job.pool != one)
            one = NULL;
    }
    for (;;) {
        int found = -1;
        size_t ndone = 0;
        if (one)
            pthread_mutex_lock(&one->mu);
        for (size_t i = 0; i < n; i++) {
            job_t *j = &fs[i]->job;
            if (!one)
                pthread_mutex_lock(&j->pool->mu);
            if (job_finished(j)) {
                ndone++;
                if (found < 0)
                    found = (int)i;
            }
            if (!one)
                pthread_mutex_unlock(&j->pool->mu);
        }
        bool ready = all ? ndone == n : found >= 0;
        bool late = deadline && now_ns() >= deadline;
        if (!ready && !late) {
            if (one) {
                struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000ull),
                                       .tv_nsec = (long)(deadline % 1000000000ull) };
                if (deadline)
                    pthread_cond_timedwait(&one->cv, &one->mu, &ts);
                else
                    pthread_cond_wait(&one->cv, &one->mu);
            }
            else {
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
            }
        }
        if (one)
            pthread_mutex_unlock(&one->mu);
        if (ready)
            return all ? 0 : found;
        if (late) {
            errno = ETIMEDOUT;
            return tr_error("troupe: future_wait: %s after %.3f s",
                            all ? "not all done" : "none done", timeout);
        }
    }
}

int troupe_future_wait_any(troupe_future_t *const *fs, size_t n, double timeout)
{
    tr_error_clear();
    if (n == 0)
        return tr_error("troupe: future_wait_any: no futures");
    return wait_some(fs, n, timeout, false);
}

int troupe_future_wait_all(troupe_future_t *const *fs, size_t n, double timeout)
{
    tr_error_clear();
    return wait_some(fs, n, timeout, true) < 0 ? -1 : 0;
}

void troupe_future_destroy(troupe_future_t **f_p)
{
    if (!f_p || !*f_p)
        return;
    job_t *j = &(*f_p)->job;
    troupe_pool_t *p = j->pool;
    *f_p = NULL;
    pthread_mutex_lock(&p->mu);
    j->abandoned = true;
    bool free_pool = job_release(j);
    pthread_mutex_unlock(&p->mu);
    if (free_pool)
        pool_free(p);
}

/*  The last reference to the pool is gone (its caller's and every job's). */
void pool_free(troupe_pool_t *p)
{
    msgpack_sbuffer_destroy(&p->plan);
    if (p->work_fd >= 0)
        close(p->work_fd);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    free(p->jobs);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

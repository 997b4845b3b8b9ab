/*  async.c: the work a pool's caller holds a handle to while it runs
    (troupe.h, "pools"): map_async (Python's MapResult: wait, get with a
    timeout, cancel) and the ordered imap (Python's IMapIterator: results
    in input order as they come). Each is a job of jobs.c with a struct of
    its own around it, as a future is; pool.c hands their items out and
    files their results like any other job's.
*/
#define _GNU_SOURCE
#include "base/error.h"
#include "embed/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ==== map_async ================================================================== */

struct troupe_mapresult {
    job_t job; /* first: job_release frees the handle with it */
    bool taken; /* get handed the results over */
};

troupe_mapresult_t *troupe_pool_map_async(troupe_pool_t *pool,
                                          troupe_value_t *const *items, size_t n)
{
    tr_error_clear();
    if (!pool || (n && !items)) {
        tr_error("troupe: pool_map_async: %s", !pool ? "no pool" : "no items");
        return NULL;
    }
    if (items_null(items, n, "pool_map_async"))
        return NULL;
    job_t *j = job_new(JOB_VALUES, n, sizeof(troupe_mapresult_t));
    if (!j)
        return NULL;
    /* one slot more, so that an empty map has an array as well */
    if (!(j->own_results = calloc(n + 1, sizeof *j->own_results))) {
        free(j->done);
        free(j);
        tr_error("troupe: pool_map_async: out of memory");
        return NULL;
    }
    j->items = items;
    j->results = j->own_results;
    if (n == 0) { /* nothing to send: done already, and in no table */
        j->refs = 1;
        j->pool = pool;
        pthread_mutex_lock(&pool->mu);
        pool->refs++;
        pthread_mutex_unlock(&pool->mu);
        return (troupe_mapresult_t *)j;
    }
    if (job_submit(pool, j) < 0)
        return NULL;
    return (troupe_mapresult_t *)j;
}

/*  Waits up to timeout for the map; under the lock. -1 (ETIMEDOUT) when
    it is not done by then. */
static int mapresult_wait(troupe_mapresult_t *r, double timeout, const char *what)
{
    job_t *j = &r->job;
    if (!job_wait(j->pool, j, deadline_after(timeout))) {
        errno = ETIMEDOUT;
        return tr_error("troupe: %s: not done after %.3f s (%zu of %zu items)", what,
                        timeout, j->ndone, j->n);
    }
    return 0;
}

int troupe_mapresult_wait(troupe_mapresult_t *r, double timeout)
{
    tr_error_clear();
    if (!r)
        return tr_error("troupe: mapresult_wait: no map");
    pthread_mutex_lock(&r->job.pool->mu);
    int rc = mapresult_wait(r, timeout, "mapresult_wait");
    pthread_mutex_unlock(&r->job.pool->mu);
    return rc;
}

bool troupe_mapresult_ready(troupe_mapresult_t *r)
{
    if (!r)
        return false;
    pthread_mutex_lock(&r->job.pool->mu);
    bool done = job_finished(&r->job);
    pthread_mutex_unlock(&r->job.pool->mu);
    return done;
}

int troupe_mapresult_get(troupe_mapresult_t *r, double timeout, troupe_value_t **results)
{
    tr_error_clear();
    if (!r || (r->job.n && !results))
        return tr_error("troupe: mapresult_get: %s", !r ? "no map" : "no results array");
    job_t *j = &r->job;
    pthread_mutex_lock(&j->pool->mu);
    int rc = mapresult_wait(r, timeout, "mapresult_get");
    if (rc == 0 && job_error(j)) {
        rc = tr_error("troupe: pool: %s", job_error(j));
        if (j->cancelled)
            errno = ECANCELED;
    }
    else if (rc == 0 && r->taken)
        rc = tr_error("troupe: mapresult_get: the results were taken by an earlier get");
    else if (rc == 0) {
        /* the pool's thread writes no more into a finished job */
        if (j->n) {
            memcpy(results, j->own_results, j->n * sizeof *results);
            memset(j->own_results, 0, j->n * sizeof *j->own_results);
        }
        r->taken = true;
    }
    pthread_mutex_unlock(&j->pool->mu);
    return rc;
}

int troupe_mapresult_cancel(troupe_mapresult_t *r)
{
    tr_error_clear();
    if (!r)
        return tr_error("troupe: mapresult_cancel: no map");
    pthread_mutex_lock(&r->job.pool->mu);
    job_cancel(r->job.pool, &r->job, "cancelled (troupe_mapresult_cancel)");
    pthread_mutex_unlock(&r->job.pool->mu);
    return 0;
}

void troupe_mapresult_destroy(troupe_mapresult_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    job_t *j = &(*r_p)->job;
    *r_p = NULL;
    pthread_mutex_lock(&j->pool->mu);
    job_cancel(j->pool, j, "cancelled (troupe_mapresult_destroy)");
    pthread_mutex_unlock(&j->pool->mu);
    job_leave(j); /* frees its results not taken, with the job */
}

/* ==== imap: in input order ======================================================== */

/*  Results that came before their turn wait in a ring indexed by item:
    result i sits at i % cap while i - next < cap. The ring grows only as
    far as results come ahead of the one missing, so a map whose results
    come about in order holds a few, whatever its size. */
struct troupe_imap {
    job_t job; /* first: job_release frees the iterator with it */
    size_t next; /* the item next () hands out */
    comp_t **ring;
    size_t cap;
};

static void comp_free(comp_t *c)
{
    troupe_value_destroy(&c->value);
    free(c->error);
    free(c);
}

/*  Puts c in the ring, growing it as far as c->index. False when out of
    memory (c is freed: the caller counts it lost). */
static bool ring_put(troupe_imap_t *it, comp_t *c)
{
    size_t ahead = c->index - it->next;
    if (ahead >= it->cap) {
        size_t cap = it->cap ? it->cap : 16;
        while (cap <= ahead)
            cap *= 2;
        comp_t **ring = calloc(cap, sizeof *ring);
        if (!ring) {
            comp_free(c);
            return false;
        }
        for (size_t i = 0; i < it->cap; i++)
            if (it->ring[i])
                ring[it->ring[i]->index % cap] = it->ring[i];
        free(it->ring);
        it->ring = ring;
        it->cap = cap;
    }
    it->ring[c->index % it->cap] = c;
    return true;
}

/*  The next item's result, when it has come: taken out of the ring. */
static comp_t *ring_take(troupe_imap_t *it)
{
    if (!it->cap || !it->ring[it->next % it->cap])
        return NULL;
    comp_t *c = it->ring[it->next % it->cap];
    it->ring[it->next % it->cap] = NULL;
    return c;
}

troupe_imap_t *troupe_pool_imap(troupe_pool_t *pool, troupe_value_t *const *items,
                                size_t n)
{
    tr_error_clear();
    if (!pool || (n && !items)) {
        tr_error("troupe: pool_imap: %s", !pool ? "no pool" : "no items");
        return NULL;
    }
    if (items_null(items, n, "pool_imap"))
        return NULL;
    job_t *j = job_new(JOB_VALUES, n, sizeof(troupe_imap_t));
    if (!j)
        return NULL;
    j->items = items;
    j->imap = true;
    if (n == 0) { /* done already, and in no table */
        j->refs = 1;
        j->pool = pool;
        pthread_mutex_lock(&pool->mu);
        pool->refs++;
        pthread_mutex_unlock(&pool->mu);
        return (troupe_imap_t *)j;
    }
    if (job_submit(pool, j) < 0)
        return NULL;
    return (troupe_imap_t *)j;
}

/*  Files what came into the ring, until the next item's result is there
    or nothing more has come. Under the lock. */
static comp_t *imap_collect(troupe_imap_t *it)
{
    job_t *j = &it->job;
    comp_t *list = j->comp_head;
    j->comp_head = j->comp_tail = NULL;
    while (list) {
        comp_t *c = list;
        list = c->next;
        c->next = NULL;
        if (!ring_put(it, c))
            j->lost++;
    }
    return ring_take(it);
}

/*  Hands c over: 0 and its value, or -1 (EIO) naming why its item failed. */
static int imap_hand(troupe_imap_t *it, comp_t *c, troupe_value_t **result)
{
    int rc = 0;
    it->next++;
    if (c->error) {
        rc = tr_error("troupe: pool_imap: item %zu failed: %s", c->index, c->error);
        errno = EIO;
    }
    else {
        *result = c->value;
        c->value = NULL;
    }
    comp_free(c);
    return rc;
}

int troupe_imap_next(troupe_imap_t *it, troupe_value_t **result, double timeout)
{
    tr_error_clear();
    if (!it || !result)
        return tr_error("troupe: imap_next: %s", !it ? "no iterator" : "no result");
    *result = NULL;
    job_t *j = &it->job;
    if (it->next == j->n)
        return TROUPE_DONE;
    uint64_t deadline = deadline_after(timeout);
    pthread_mutex_lock(&j->pool->mu);
    comp_t *c;
    int rc = 0;
    while (!(c = imap_collect(it))) {
        if (j->failed) {
            const char *why = job_error(j);
            rc = tr_error("troupe: pool: %s", why ? why : "the pool ended");
            if (j->cancelled)
                errno = ECANCELED;
            break;
        }
        if (job_finished(j) && !j->comp_head) {
            /* every result is back, and this one was never kept */
            rc = tr_error("troupe: pool_imap: out of memory: the result of item %zu "
                          "was lost",
                          it->next);
            it->next++;
            break;
        }
        if (!job_wait(j->pool, j, deadline) && !j->comp_head) {
            errno = ETIMEDOUT;
            rc = tr_error("troupe: imap_next: item %zu not done after %.3f s", it->next,
                          timeout);
            break;
        }
    }
    pthread_mutex_unlock(&j->pool->mu);
    return c ? imap_hand(it, c, result) : rc;
}

void troupe_imap_destroy(troupe_imap_t **it_p)
{
    if (!it_p || !*it_p)
        return;
    troupe_imap_t *it = *it_p;
    *it_p = NULL;
    job_t *j = &it->job;
    pthread_mutex_lock(&j->pool->mu);
    job_cancel(j->pool, j, "cancelled (troupe_imap_destroy)");
    pthread_mutex_unlock(&j->pool->mu);
    for (size_t i = 0; i < it->cap; i++)
        if (it->ring[i])
            comp_free(it->ring[i]);
    free(it->ring);
    job_leave(j); /* frees the iterator with its job */
}

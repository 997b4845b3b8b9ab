/*  checkpoint.c: batches waiting for a checkpoint (checkpoint.h). */
#include "wire/checkpoint.h"

#include <stdlib.h>
#include <string.h>

static int push(ckpt_ack_t **v, size_t *n, size_t *cap, ckpt_ack_t a)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        ckpt_ack_t *more = realloc(*v, ncap * sizeof *more);
        if (!more)
            return -1;
        *v = more;
        *cap = ncap;
    }
    (*v)[(*n)++] = a;
    return 0;
}

int ckpt_wait(ckpt_t *self, int input, uint64_t batch_id, uint64_t now_ns)
{
    if (!self->nwaiting)
        self->oldest_ns = now_ns;
    return push(&self->waiting, &self->nwaiting, &self->capwaiting,
                (ckpt_ack_t){ input, batch_id });
}

bool ckpt_due(const ckpt_t *self, uint64_t now_ns, size_t batches, uint64_t max_wait_ns)
{
    if (!self->nwaiting || self->in_flight || now_ns < self->not_before_ns)
        return false;
    return self->nwaiting >= batches || now_ns - self->oldest_ns >= max_wait_ns;
}

bool ckpt_due_idle(const ckpt_t *self, size_t batches)
{
    return self->nwaiting >= batches && !self->in_flight;
}

bool ckpt_pending(const ckpt_t *self)
{
    return self->nwaiting || self->in_flight;
}

uint64_t ckpt_begin(ckpt_t *self)
{
    /* swap the lists: the waiting become the covered, and the old covered
       list (empty) takes the next waiting */
    ckpt_ack_t *v = self->flight;
    size_t cap = self->capflight;
    self->flight = self->waiting;
    self->nflight = self->nwaiting;
    self->capflight = self->capwaiting;
    self->waiting = v;
    self->capwaiting = cap;
    self->nwaiting = 0;
    self->in_flight = true;
    return ++self->seq;
}

void ckpt_cost(ckpt_t *self, uint64_t now_ns, uint64_t cost_ns)
{
    self->not_before_ns = now_ns + 19 * cost_ns;
}

void ckpt_kept(ckpt_t *self, uint64_t seq, void (*ack)(void *arg, int input, uint64_t id),
               void *arg)
{
    if (!self->in_flight || seq != self->seq)
        return; /* not ours: a stale or forged answer */
    for (size_t i = 0; i < self->nflight; i++)
        ack(arg, self->flight[i].input, self->flight[i].batch_id);
    self->nflight = 0;
    self->in_flight = false;
}

int ckpt_abandon(ckpt_t *self, uint64_t now_ns)
{
    if (!self->in_flight)
        return 0;
    /* the covered go back in front of those that came since, in one piece:
       pushed back one by one, a failed push would forget the rest, which
       nobody would then acknowledge */
    size_t n = self->nflight + self->nwaiting;
    if (self->nwaiting) {
        if (n > self->capflight) {
            ckpt_ack_t *more = realloc(self->flight, n * sizeof *more);
            if (!more)
                return -1;
            self->flight = more;
            self->capflight = n;
        }
        memcpy(self->flight + self->nflight, self->waiting,
               self->nwaiting * sizeof *self->waiting);
    }
    else if (n)
        self->oldest_ns = now_ns;
    ckpt_ack_t *v = self->waiting;
    size_t cap = self->capwaiting;
    self->waiting = self->flight;
    self->capwaiting = self->capflight;
    self->nwaiting = n;
    self->flight = v;
    self->capflight = cap;
    self->nflight = 0;
    self->in_flight = false;
    self->seq--;
    return 0;
}

void ckpt_fini(ckpt_t *self)
{
    free(self->waiting);
    free(self->flight);
    self->waiting = self->flight = NULL;
    self->nwaiting = self->nflight = 0;
}

/* ---- the checkpoint file --------------------------------------------------- */

#include <errno.h>
#include <unistd.h>

#define CKPT_FILE_MAGIC 0x74726f7570652d31ull /* "troupe-1" */

static uint64_t head_check(const ckpt_head_t *h)
{
    return h->off ^ h->len ^ h->out ^ CKPT_FILE_MAGIC;
}

static int write_all_at(int fd, const void *data, size_t len, uint64_t off)
{
    const char *p = data;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int ckpt_file_write(int fd, ckpt_head_t *head, const void *map, size_t len, uint64_t out)
{
    /* before the one the header names if it fits there, else after it */
    uint64_t at = CKPT_FILE_DATA;
    if (head->len && head->off < CKPT_FILE_DATA + len)
        at = (head->off + head->len + 63) & ~(uint64_t)63;
    if (write_all_at(fd, map, len, at) < 0)
        return -1;
    ckpt_head_t next = { .off = at, .len = len, .out = out };
    next.check = head_check(&next);
    if (write_all_at(fd, &next, sizeof next, 0) < 0)
        return -1;
    *head = next;
    return 0;
}

int ckpt_file_head(int fd, ckpt_head_t *head)
{
    ssize_t n = pread(fd, head, sizeof *head, 0);
    if (n == 0 || (n == (ssize_t)sizeof *head && !head->off && !head->len && !head->out
                   && !head->check)) {
        *head = (ckpt_head_t){ 0 };
        return 0;
    }
    if (n != (ssize_t)sizeof *head || head->check != head_check(head)
        || head->off < CKPT_FILE_DATA) {
        *head = (ckpt_head_t){ 0 };
        return -1;
    }
    return 1;
}

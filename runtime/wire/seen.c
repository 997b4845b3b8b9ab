/*  seen.c: the set of items already taken (seen.h). */
#include "wire/seen.h"

#include <stdlib.h>
#include <string.h>

static seen_origin_t *origin_of(seen_t *self, uint32_t origin)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->o[i].origin == origin)
            return &self->o[i];
    seen_origin_t *more = realloc(self->o, (self->n + 1) * sizeof *more);
    if (!more)
        return NULL;
    self->o = more;
    seen_origin_t *o = &self->o[self->n++];
    memset(o, 0, sizeof *o);
    o->origin = origin;
    return o;
}

static bool insert_at(seen_origin_t *o, size_t at, uint64_t seq)
{
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 8;
        seen_range_t *more = realloc(o->r, ncap * sizeof *more);
        if (!more)
            return false;
        o->r = more;
        o->cap = ncap;
    }
    memmove(&o->r[at + 1], &o->r[at], (o->n - at) * sizeof *o->r);
    o->r[at] = (seen_range_t){ seq, seq + 1 };
    o->n++;
    return true;
}

/*  The first range of o whose hi is past seq (o->n when none is). */
static size_t first_past(const seen_origin_t *o, uint64_t seq)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->r[mid].hi <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  Records [lo, hi), which overlaps no range of o, before range `at` (the
    first whose hi is past lo): joined to its neighbours where it touches
    them. False out of memory, and nothing changed. */
static bool record_at(seen_origin_t *o, size_t at, uint64_t lo, uint64_t hi)
{
    bool joins_prev = at > 0 && o->r[at - 1].hi == lo;
    bool joins_next = at < o->n && o->r[at].lo == hi;
    if (joins_prev && joins_next) {
        o->r[at - 1].hi = o->r[at].hi;
        memmove(&o->r[at], &o->r[at + 1], (o->n - at - 1) * sizeof *o->r);
        o->n--;
    }
    else if (joins_prev)
        o->r[at - 1].hi = hi;
    else if (joins_next)
        o->r[at].lo = lo;
    else if (insert_at(o, at, lo))
        o->r[at].hi = hi;
    else
        return false;
    return true;
}

int seen_check(seen_t *self, uint32_t origin, uint64_t seq)
{
    seen_origin_t *o = origin_of(self, origin);
    if (!o)
        return -1;
    /* the common case: the next item after the last range */
    if (o->n && seq >= o->r[o->n - 1].lo) {
        seen_range_t *last = &o->r[o->n - 1];
        if (seq < last->hi)
            return 1;
        if (seq == last->hi) {
            last->hi++;
            return 0;
        }
        return insert_at(o, o->n, seq) ? 0 : -1;
    }
    size_t at = first_past(o, seq);
    if (at < o->n && o->r[at].lo <= seq)
        return 1;
    return record_at(o, at, seq, seq + 1) ? 0 : -1;
}

size_t seen_ranges(const seen_t *self, uint32_t origin)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->o[i].origin == origin)
            return self->o[i].n;
    return 0;
}

void seen_clear(seen_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        free(self->o[i].r);
    free(self->o);
    self->o = NULL;
    self->n = 0;
}

void seen_pack(const seen_t *self, msgpack_packer *pk)
{
    msgpack_pack_array(pk, (uint32_t)self->n);
    for (size_t i = 0; i < self->n; i++) {
        const seen_origin_t *o = &self->o[i];
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, o->origin);
        msgpack_pack_array(pk, (uint32_t)(o->n * 2));
        for (size_t j = 0; j < o->n; j++) {
            msgpack_pack_uint64(pk, o->r[j].lo);
            msgpack_pack_uint64(pk, o->r[j].hi);
        }
    }
}

static bool is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

int seen_unpack(seen_t *self, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2
            || !is_uint(&e->via.array.ptr[0]) || e->via.array.ptr[0].via.u64 > UINT32_MAX
            || e->via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY
            || e->via.array.ptr[1].via.array.size % 2)
            goto bad;
        seen_origin_t *so = origin_of(self, (uint32_t)e->via.array.ptr[0].via.u64);
        const msgpack_object_array *r = &e->via.array.ptr[1].via.array;
        if (!so || so->n)
            goto bad; /* out of memory, or an origin twice */
        for (uint32_t j = 0; j < r->size; j += 2) {
            if (!is_uint(&r->ptr[j]) || !is_uint(&r->ptr[j + 1])
                || r->ptr[j].via.u64 >= r->ptr[j + 1].via.u64
                || (so->n && r->ptr[j].via.u64 <= so->r[so->n - 1].hi)
                || !insert_at(so, so->n, 0))
                goto bad; /* ranges must be sorted and disjoint */
            so->r[so->n - 1] = (seen_range_t){ r->ptr[j].via.u64, r->ptr[j + 1].via.u64 };
        }
    }
    return 0;
bad:
    seen_clear(self);
    return -1;
}

int seen_take_range(seen_t *self, uint32_t origin, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return 0;
    seen_origin_t *o = origin_of(self, origin);
    if (!o)
        return -1;
    if (o->n && lo == o->r[o->n - 1].hi) { /* the common case: next in order */
        o->r[o->n - 1].hi = hi;
        return 0;
    }
    /* anywhere else, as long as it overlaps nothing: batches from two
       producers of one origin's items come in either order */
    size_t at = first_past(o, lo);
    if (at < o->n && o->r[at].lo < hi)
        return 1; /* some of it was seen: one by one */
    return record_at(o, at, lo, hi) ? 0 : -1;
}

/*  seen.h: which items (origin, seq) an actor has already taken, so that a
    stateful or terminal actor handles an item sent again after a crash only
    once. Per origin, a sorted list of disjoint [lo, hi) ranges: items come
    nearly in order, so the list stays a few ranges long.
*/
#ifndef TR_SEEN_H
#define TR_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lo, hi;
} seen_range_t;

typedef struct {
    uint32_t origin;
    seen_range_t *r;
    size_t n, cap;
} seen_origin_t;

typedef struct {
    seen_origin_t *o;
    size_t n;
} seen_t;

/*  1 when (origin, seq) was seen before; 0 when it was not, and is now
    recorded; -1 when it was not and cannot be recorded (out of memory):
    then the caller must not take the item, since a repeat of it would be
    taken again (the actor host stops, and its successor gets the item). */
int seen_check(seen_t *self, uint32_t origin, uint64_t seq);
/*  The items [lo, hi) of origin at once, where none of them was seen (the
    common case: a batch, in order or not): 0, and they are recorded; 1
    when some were, and nothing is recorded (the caller checks them one by
    one with seen_check); -1 out of memory. */
int seen_take_range(seen_t *self, uint32_t origin, uint64_t lo, uint64_t hi);
/*  Ranges held for origin: for tests and memory bounds. */
size_t seen_ranges(const seen_t *self, uint32_t origin);
void seen_clear(seen_t *self);
/*  The set as one msgpack value, [[origin, [lo, hi, lo, hi ...]] ...], for
    a checkpoint; and back (into an empty set). seen_unpack returns 0, or
    -1 when the value is not one (the set is left empty). */
#include <msgpack.h>
void seen_pack(const seen_t *self, msgpack_packer *pk);
int seen_unpack(seen_t *self, const msgpack_object *o);

#endif

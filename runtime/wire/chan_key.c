/*  chan_key.c: a keyed output's keys (chan.h): which part of a value is
    its key, a key's hash by value, and the split of a group's values by
    the home instance that owns each key.
*/
#include "wire/chan.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

/*  h with size bytes of data mixed in, eight at a time (a multiply and a
    shift each): a keyed output hashes every value, and FNV-1a's byte at a
    time was most of what finding a word's home cost. */
static uint64_t absorb(uint64_t h, const void *data, size_t size)
{
    const char *p = data;
    uint64_t w;
    for (; size >= 8; p += 8, size -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ le64toh(w)) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    /* the last 0 to 7 bytes, read whole (a byte-wise copy into a word
       stalls the load that follows it): two 4-byte reads that may
       overlap, or the first, middle and last byte; with the tail's
       length, "a" and "a\0" differ */
    if (size >= 4)
        w = (uint64_t)load32(p) | (uint64_t)load32(p + size - 4) << 32;
    else if (size)
        w = (uint64_t)(uint8_t)p[0] << 16 | (uint64_t)(uint8_t)p[size / 2] << 8
            | (uint8_t)p[size - 1];
    else
        w = 0;
    h = (h ^ w ^ (uint64_t)size << 61) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/*  A number mixed in by value, the same on a machine of either byte
    order: producers on different nodes must find the same home. */
static uint64_t absorb_u64(uint64_t h, uint64_t v)
{
    v = htole64(v);
    return absorb(h, &v, sizeof v);
}

#define HASH_BASIS 0xcbf29ce484222325ull

uint64_t chan_key_hash(const void *key, size_t size)
{
    /* a string's own seed, its length in it */
    uint64_t h = absorb(HASH_BASIS ^ ((uint64_t)size * 0x9e3779b97f4a7c15ull) ^ 's', key, size);
    return h ? h : 1;
}

/*  A key's hash by value: integers as integers whatever their msgpack
    form, and a float with an integer's value as that integer; a NaN (no
    key equals it) and a map (no order of its own) have none: -1, with
    *why. */
static int key_hash(const msgpack_object *o, uint64_t *h, const char **why, int depth)
{
    int64_t i;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *h = absorb(*h, "n", 1); return 0;
    case MSGPACK_OBJECT_BOOLEAN: *h = absorb(absorb(*h, "b", 1), &o->via.boolean, 1); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *h = absorb_u64(absorb(*h, "i", 1), o->via.u64);
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (o->via.f64 != o->via.f64) {
            *why = "a NaN";
            return -1;
        }
        if (o->via.f64 >= -9.2e18 && o->via.f64 <= 9.2e18
            && (double)(i = (int64_t)o->via.f64) == o->via.f64) {
            *h = absorb_u64(absorb(*h, "i", 1), (uint64_t)i);
            return 0;
        }
        uint64_t bits;
        memcpy(&bits, &o->via.f64, sizeof bits);
        *h = absorb_u64(absorb(*h, "f", 1), bits);
        return 0;
    case MSGPACK_OBJECT_STR:
        *h = chan_key_hash(o->via.str.ptr, o->via.str.size) ^ (*h - HASH_BASIS);
        return 0;
    case MSGPACK_OBJECT_BIN:
        *h = absorb_u64(absorb(*h, "y", 1), o->via.bin.size);
        *h = absorb(*h, o->via.bin.ptr, o->via.bin.size);
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        *h = absorb_u64(absorb(*h, "a", 1), o->via.array.size);
        for (uint32_t k = 0; k < o->via.array.size; k++)
            if (key_hash(&o->via.array.ptr[k], h, why, depth + 1) < 0)
                return -1;
        return 0;
    case MSGPACK_OBJECT_EXT:
        *h = absorb(absorb(*h, "x", 1), &o->via.ext.type, 1);
        *h = absorb(*h, o->via.ext.ptr, o->via.ext.size);
        return 0;
    default: *why = "a map"; return -1;
    }
}

/*  The part of value v that is its key for this output, or NULL. */
static const msgpack_object *key_of(const chan_out_t *self, const msgpack_object *v)
{
    if (self->key_index >= 0)
        return v->type == MSGPACK_OBJECT_ARRAY && (uint32_t)self->key_index < v->via.array.size
                   ? &v->via.array.ptr[self->key_index]
                   : NULL;
    if (!self->key)
        return v;
    if (v->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen(self->key);
    for (uint32_t k = 0; k < v->via.map.size; k++) {
        const msgpack_object *f = &v->via.map.ptr[k].key;
        if (f->type == MSGPACK_OBJECT_STR && f->via.str.size == len
            && memcmp(f->via.str.ptr, self->key, len) == 0)
            return &v->via.map.ptr[k].val;
    }
    return NULL;
}

/*  A string value at data[*off] whose key is itself: its hash into *h and
    *off past it, as key_hash and msgpack-c would read it (a str header,
    then that many bytes). False for any other value, or one cut short:
    msgpack-c reads those. */
static bool str_key(const char *data, size_t size, size_t *off, uint64_t *h)
{
    const uint8_t *p = (const uint8_t *)data + *off;
    size_t left = size - *off, head, len;
    if (left >= 1 && p[0] >= 0xa0 && p[0] <= 0xbf)
        head = 1, len = p[0] & 0x1f;
    else if (left >= 2 && p[0] == 0xd9)
        head = 2, len = p[1];
    else if (left >= 3 && p[0] == 0xda)
        head = 3, len = (size_t)p[1] << 8 | p[2];
    else
        return false;
    if (len > left - head)
        return false;
    *h = chan_key_hash(p + head, len);
    *off += head + len;
    return true;
}

/*  Value i at data[*off], decoded: its key's hash into *h (unless `set`,
    the module's), *off past it. 0, or -1 with the reason in err. */
static int value_key(chan_out_t *self, const char *data, size_t size, size_t *off,
                     uint64_t set, uint64_t *h, uint32_t i, char *err, size_t errlen)
{
    msgpack_object v;
    if (msgpack_unpack(data, size, off, &self->key_zone, &v) <= 0) {
        snprintf(err, errlen, "value %u could not be read to find its key", i);
        return -1;
    }
    if (set)
        return 0;
    const char *why = NULL;
    const msgpack_object *k = key_of(self, &v);
    if (!k) {
        if (self->key)
            snprintf(err, errlen, "value has no key '%s' (channel '%s')", self->key,
                     self->name);
        else
            snprintf(err, errlen, "value has no element %d, its key (channel '%s')",
                     self->key_index, self->name);
        return -1;
    }
    if (key_hash(k, h, &why, 0) < 0) {
        snprintf(err, errlen, "the key of a value is %s, which cannot be a key "
                 "(channel '%s')", why, self->name);
        return -1;
    }
    return 0;
}

/*  The home of a key's hash: splitmix64's finaliser, so that the top bits
    spread every key, then those bits scaled to the homes (a multiply,
    where a modulo is a division per value). */
static unsigned home_of_hash(const chan_out_t *self, uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return (unsigned)(((h >> 32) * self->nbuild) >> 32);
}

/*  The home of the value at data[*off] (its key's, or `set`, the module's),
    *off past it: 0, or -1 with the reason in err. */
static int value_home(chan_out_t *self, const char *data, size_t size, size_t *off,
                      uint64_t set, uint32_t i, unsigned *home, char *err, size_t errlen)
{
    uint64_t h = set ? set : HASH_BASIS;
    if (!set && self->key_index < 0 && !self->key && str_key(data, size, off, &h))
        ; /* a string, its own key: the common case, read without msgpack-c */
    else {
        msgpack_zone_clear(&self->key_zone); /* what the last value's key took */
        if (value_key(self, data, size, off, set, &h, i, err, errlen) < 0)
            return -1;
    }
    *home = home_of_hash(self, h);
    return 0;
}

int chan_out_keyed_put_str(chan_out_t *self, const char *str, size_t len, uint64_t set)
{
    if (self->key_index >= 0 || self->key || len > UINT32_MAX)
        return -1; /* its key is not the whole value: chan_out_keyed_put */
    /* the same hash as str_key's of the packed value: a string's bytes */
    unsigned home = home_of_hash(self, set ? set : chan_key_hash(str, len));
    chan_out_home_put_str(self, home, str, len);
    return 0;
}

int chan_out_keyed_put(chan_out_t *self, const char *data, size_t size, uint64_t set,
                       uint32_t i, char *err, size_t errlen)
{
    size_t off = 0;
    unsigned home;
    if (value_home(self, data, size, &off, set, i, &home, err, errlen) < 0)
        return -1;
    chan_out_home_put(self, home, data, size);
    return 0;
}

int chan_out_split(chan_out_t *self, uint32_t n, const char *data, size_t size,
                   const uint64_t *keys, uint32_t nkeys, char *err, size_t errlen)
{
    self->split_data = NULL;
    if (n > self->splitcap) {
        chan_split_t *more = realloc(self->split, n * sizeof *more);
        if (!more) {
            snprintf(err, errlen, "out of memory to split a group by key");
            return -1;
        }
        self->split = more;
        self->splitcap = n;
    }
    memset(self->split_count, 0, self->nbuild * sizeof *self->split_count);
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t at = off;
        unsigned home;
        if (value_home(self, data, size, &off, i < nkeys ? keys[i] : 0, i, &home, err,
                       errlen) < 0)
            return -1;
        self->split[i] = (chan_split_t){ home, at, off };
        self->split_count[home]++;
    }
    self->nsplit = n;
    self->split_data = data;
    return 0;
}

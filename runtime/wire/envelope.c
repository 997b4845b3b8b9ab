/*  envelope.c: encode and decode the data-plane envelope.

    Decoding never trusts the frame: every field's type is checked before it
    is read, and a frame that is not exactly one msgpack value is refused.
*/
#include "wire/envelope.h"

#include <string.h>

static void put_be(char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

void env_batch_header(char *head, uint64_t batch_id, uint32_t origin,
                      uint64_t first_seq, uint32_t ngroups, bool all_empty)
{
    head[0] = (char)0x96;
    head[1] = ENV_VERSION;
    head[2] = ENV_BATCH;
    head[3] = (char)0xcf;
    put_be(head + 4, batch_id, 8);
    head[12] = (char)0xce;
    put_be(head + 13, origin, 4);
    head[17] = (char)0xcf;
    put_be(head + 18, first_seq, 8);
    head[26] = (char)(all_empty ? 0xce : 0xdd); /* uint32 count, or array32 */
    put_be(head + 27, ngroups, 4);
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

uint32_t env_branch_origin(uint32_t salt, uint32_t origin, uint32_t chan, uint32_t branch)
{
    /* splitmix64's finaliser over the four, mixed in one at a time */
    uint64_t parts[4] = { salt, origin, chan, branch }, x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 4; i++) {
        x ^= parts[i] + 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    return (uint32_t)(x >> 32) | 0x80000000u;
}

bool env_batch_rename(void *frame, size_t size, uint32_t salt, uint32_t chan,
                      uint32_t branch)
{
    uint8_t *p = frame;
    if (size < ENV_BATCH_HEADER || p[0] != 0x96 || p[1] != ENV_VERSION || p[2] != ENV_BATCH
        || p[3] != 0xcf || p[12] != 0xce || p[17] != 0xcf)
        return false;
    uint32_t origin = (uint32_t)get_be(p + 13, 4);
    put_be((char *)p + 13, env_branch_origin(salt, origin, chan, branch), 4);
    return true;
}

/*  msgpack-c's C unpacker allocates a container's whole element array as
    soon as it reads the declared count, before it knows the frame holds
    that many elements: five hostile bytes can ask for gigabytes. (Its C++
    API has unpack limits; the C API has none.) So before unpacking we walk
    the frame's structure once, without allocating, and refuse it unless it
    is exactly one value whose every declared length fits in the bytes that
    remain: each element takes at least one byte, so what msgpack-c then
    allocates is bounded by the frame's size. */
/*  Payload bytes after the type byte, for the fixed-size types. */
static const uint8_t fixed[256] = {
    [0xca] = 4, [0xcb] = 8, [0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8,
    [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8, [0xd4] = 2, [0xd5] = 3,
    [0xd6] = 5, [0xd7] = 9, [0xd8] = 17,
};

static bool frame_sane(const uint8_t *p, size_t n)
{
    size_t i = 0;
    uint64_t pending = 1; /* values still to read */
    while (pending) {
        if (i >= n)
            return false;
        uint8_t b = p[i++];
        pending--;
        uint64_t skip = 0, count = 0;
        int w = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            continue;
        if (b <= 0x8f)
            count = 2u * (b & 0x0f);
        else if (b <= 0x9f)
            count = b & 0x0f;
        else if (b <= 0xbf)
            skip = b & 0x1f;
        else if (fixed[b])
            skip = fixed[b];
        else {
            switch (b) {
            case 0xc4: case 0xd9: w = 1; break;                /* bin8, str8 */
            case 0xc5: case 0xda: case 0xdc: case 0xde: w = 2; break;
            case 0xc6: case 0xdb: case 0xdd: case 0xdf: w = 4; break;
            case 0xc7: w = 1; break;                            /* ext8..32 */
            case 0xc8: w = 2; break;
            case 0xc9: w = 4; break;
            default: return false;                              /* 0xc1 */
            }
            if ((uint64_t)w > n - i)
                return false;
            uint64_t len = get_be(p + i, w);
            i += (size_t)w;
            if (b == 0xdc || b == 0xdd)
                count = len;
            else if (b == 0xde || b == 0xdf)
                count = 2 * len;
            else
                skip = len + (b >= 0xc7 && b <= 0xc9); /* ext: its type byte */
        }
        if (skip > n - i || count > n - i)
            return false;
        i += (size_t)skip;
        pending += count;
    }
    return i == n;
}

/* ==== how deep a value nests ============================================== */

/*  Walks packed values the way frame_sane does, keeping, for each open
    array or map, how many of its elements are still to come. The bytes
    are our own packer's, but every read is still bounded by `size`: a
    value cut short is not this check's to judge (the frame would be
    refused as it was before). */
bool env_depth_ok(const void *data, size_t size)
{
    const uint8_t *p = data;
    uint64_t left[ENV_MAX_DEPTH];
    unsigned open = 0;
    size_t i = 0;
    while (i < size) {
        /* every container takes a byte at least: too few bytes are left
           for enough of them to go past the limit */
        if (size - i < ENV_MAX_DEPTH + 1 - open)
            return true;
        uint8_t b = p[i++];
        uint64_t skip = 0, count = 0;
        bool container = false;
        if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3))
            ;
        else if (b <= 0x9f) { /* fixmap, fixarray */
            container = true;
            count = b <= 0x8f ? 2u * (b & 0x0f) : b & 0x0f;
        }
        else if (b <= 0xbf)
            skip = b & 0x1f;
        else if (fixed[b])
            skip = fixed[b];
        else { /* bin, ext, str 8..32, array and map 16..32 */
            int w = b == 0xc4 || b == 0xc7 || b == 0xd9 ? 1
                    : b == 0xc5 || b == 0xc8 || b == 0xda || b == 0xdc || b == 0xde ? 2
                                                                                : 4;
            if ((size_t)w > size - i)
                return true;
            uint64_t len = get_be(p + i, w);
            i += (size_t)w;
            if (b >= 0xdc) {
                container = true;
                count = b >= 0xde ? 2 * len : len;
            }
            else
                skip = len + (b >= 0xc7 && b <= 0xc9); /* ext: its type byte */
        }
        if (container) {
            /* msgpack-c refuses to open one more, even an empty one */
            if (open == ENV_MAX_DEPTH)
                return false;
            if (count) {
                left[open++] = count;
                continue;
            }
        }
        else if (skip > size - i)
            return true;
        else
            i += (size_t)skip;
        /* one element done: so is every container it was the last of */
        while (open && --left[open - 1] == 0)
            open--;
    }
    return true;
}

bool env_one_value(const void *data, size_t size)
{
    return frame_sane(data, size) && env_depth_ok(data, size);
}

/* ==== batches of plain values, read without msgpack-c ===================== */

/*  One integer, in any of msgpack's integer formats, as msgpack_unpack
    would make it: a negative value is a NEGATIVE_INTEGER, any other a
    POSITIVE_INTEGER, whatever format carried it. b is its first byte, p
    what follows; false for a value cut short by the frame's end. */
static bool read_int(uint8_t b, const uint8_t **pp, const uint8_t *end, msgpack_object *o)
{
    const uint8_t *p = *pp;
    int64_t s;
    if (b <= 0x7f)
        s = b;
    else if (b >= 0xe0)
        s = (int8_t)b;
    else {
        /* uint8..uint64 (0xcc..0xcf), then int8..int64 (0xd0..0xd3) */
        int w = 1 << ((b - 0xcc) & 3);
        if (end - p < w)
            return false;
        uint64_t v = get_be(p, w);
        p += w;
        if (b <= 0xcf) {
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = v;
            *pp = p;
            return true;
        }
        s = w == 1 ? (int8_t)v : w == 2 ? (int16_t)v : w == 4 ? (int32_t)v : (int64_t)v;
    }
    if (s < 0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = s;
    }
    else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t)s;
    }
    *pp = p;
    return true;
}

/*  A string or a binary of len bytes at *pp, pointing into the frame as
    msgpack_unpack's do (the frame outlives what is decoded from it). */
static bool read_bytes(const uint8_t **pp, const uint8_t *end, uint64_t len,
                       msgpack_object_type type, msgpack_object *o)
{
    if (len > (uint64_t)(end - *pp))
        return false;
    o->type = type;
    o->via.str.size = (uint32_t)len;
    o->via.str.ptr = (const char *)*pp;
    *pp += len;
    return true;
}

/*  One value that holds no other: an integer, a string, a binary, a
    float, a boolean or nil, as msgpack_unpack would make it. False for a
    container or an extension (left to msgpack-c), or a value cut short. */
static bool read_scalar(const uint8_t **pp, const uint8_t *end, msgpack_object *o)
{
    if (*pp == end)
        return false;
    uint8_t b = *(*pp)++;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return read_int(b, pp, end, o);
    if ((b & 0xe0) == 0xa0) /* fixstr */
        return read_bytes(pp, end, b & 0x1f, MSGPACK_OBJECT_STR, o);
    switch (b) {
    case 0xc0:
        o->type = MSGPACK_OBJECT_NIL;
        return true;
    case 0xc2:
    case 0xc3:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = b == 0xc3;
        return true;
    case 0xd9: /* str8, str16, str32 */
    case 0xda:
    case 0xdb:
    case 0xc4: /* bin8, bin16, bin32 */
    case 0xc5:
    case 0xc6: {
        int w = 1 << ((b - (b >= 0xd9 ? 0xd9 : 0xc4)) & 3);
        if (end - *pp < w)
            return false;
        uint64_t len = get_be(*pp, w);
        *pp += w;
        return read_bytes(pp, end, len, b >= 0xd9 ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN,
                          o);
    }
    case 0xca: { /* float32 */
        if (end - *pp < 4)
            return false;
        uint32_t u = (uint32_t)get_be(*pp, 4);
        float f;
        memcpy(&f, &u, sizeof f);
        *pp += 4;
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
        return true;
    }
    case 0xcb: { /* float64 */
        if (end - *pp < 8)
            return false;
        uint64_t u = get_be(*pp, 8);
        *pp += 8;
        o->type = MSGPACK_OBJECT_FLOAT64;
        memcpy(&o->via.f64, &u, sizeof o->via.f64);
        return true;
    }
    default:
        return false;
    }
}

/*  A group's array header: a fixarray, an array 16 or an array 32. */
static bool read_group_header(const uint8_t **pp, const uint8_t *end, uint64_t *count)
{
    if (*pp == end)
        return false;
    uint8_t b = *(*pp)++;
    if ((b & 0xf0) == 0x90) {
        *count = b & 0x0f;
        return true;
    }
    int w = b == 0xdc ? 2 : b == 0xdd ? 4 : 0;
    if (!w || end - *pp < w)
        return false;
    *count = get_be(*pp, w);
    *pp += w;
    return true;
}

/*  Most batches are a header as env_batch_header writes it and then groups
    of a few plain values: a source's numbers or lines, a map's results, a
    tokenizer's words. msgpack-c takes about 230 instructions per such
    one-integer group (frame_sane's walk, then its generic unpacker, a
    state machine over every byte); this reader takes about a tenth of
    that. It takes only that shape: the exact header, then one array per
    group of values that hold no other (read_scalar), nothing after the
    last, and makes the msgpack_objects msgpack_unpack would make
    (tests/unit/test_envelope.c and the fuzz target check that they are
    equal). On any other byte (a failed item's message, a repeat's nil, a
    value that is a map or an array) it returns false and the frame goes
    the general way, where what this refuses is judged as before. Every
    read is checked against the frame's end, and nothing is allocated for
    a count that the bytes left could not hold (every value takes a byte
    at least); what a frame given up on had allocated is the zone's until
    it is cleared. */
bool env_decode_plain(const void *data, size_t n, msgpack_zone *zone, msgpack_object *root)
{
    const uint8_t *p = data;
    if (n < ENV_BATCH_HEADER || p[0] != 0x96 || p[1] > 0x7f || p[2] > 0x7f
        || p[3] != 0xcf || p[12] != 0xce || p[17] != 0xcf || p[26] != 0xdd)
        return false;
    const uint8_t *q = p + ENV_BATCH_HEADER, *end = p + n;
    uint64_t ngroups = get_be(p + 27, 4);
    if (ngroups > (uint64_t)(end - q))
        return false;
    msgpack_object *f = msgpack_zone_malloc(zone, 6 * sizeof *f);
    msgpack_object *groups = msgpack_zone_malloc(zone, ngroups * sizeof *groups);
    if (!f || !groups)
        return false;
    for (uint64_t g = 0; g < ngroups; g++) {
        uint64_t k;
        if (!read_group_header(&q, end, &k) || k > (uint64_t)(end - q))
            return false;
        msgpack_object *v = k ? msgpack_zone_malloc(zone, k * sizeof *v) : NULL;
        if (k && !v)
            return false;
        for (uint64_t i = 0; i < k; i++)
            if (!read_scalar(&q, end, &v[i]))
                return false;
        groups[g].type = MSGPACK_OBJECT_ARRAY;
        groups[g].via.array.size = (uint32_t)k;
        groups[g].via.array.ptr = v;
    }
    if (q != end)
        return false;
    const uint64_t head[5] = { p[1], p[2], get_be(p + 4, 8), get_be(p + 13, 4),
                               get_be(p + 18, 8) };
    for (int i = 0; i < 5; i++) {
        f[i].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        f[i].via.u64 = head[i];
    }
    f[5].type = MSGPACK_OBJECT_ARRAY;
    f[5].via.array.size = (uint32_t)ngroups;
    f[5].via.array.ptr = groups;
    root->type = MSGPACK_OBJECT_ARRAY;
    root->via.array.size = 6;
    root->via.array.ptr = f;
    return true;
}

/* ==== decoding ============================================================= */

env_status_t env_decode(const void *data, size_t size, msgpack_zone *zone,
                        msgpack_object *root)
{
    if (env_decode_plain(data, size, zone, root))
        return ENV_OK;
    if (!frame_sane(data, size))
        return ENV_E_MSGPACK;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, size, &off, zone, root);
    return rc == MSGPACK_UNPACK_SUCCESS      ? ENV_OK
           : rc == MSGPACK_UNPACK_NOMEM_ERROR ? ENV_E_NOMEM
                                              : ENV_E_MSGPACK;
}

env_status_t env_batch_peek(const void *data, size_t size, env_batch_t *batch)
{
    const uint8_t *p = data;
    /* the header env_batch_header writes: a fixed layout, then the groups
       as an array32, or a uint32 count of empty groups and nothing after */
    if (size < ENV_BATCH_HEADER || p[0] != 0x96 || p[1] != ENV_VERSION
        || p[2] != ENV_BATCH || p[3] != 0xcf || p[12] != 0xce || p[17] != 0xcf
        || (p[26] != 0xdd && (p[26] != 0xce || size != ENV_BATCH_HEADER)))
        return ENV_E_SHAPE;
    batch->batch_id = get_be(p + 4, 8);
    batch->origin = (uint32_t)get_be(p + 13, 4);
    batch->first_seq = get_be(p + 18, 8);
    batch->groups.size = (uint32_t)get_be(p + 27, 4);
    batch->groups.ptr = NULL;
    return ENV_OK;
}

static bool as_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

int env_kind(const msgpack_object *root, env_status_t *status)
{
    uint64_t version, kind;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2
        || !as_u64(&root->via.array.ptr[0], &version)
        || !as_u64(&root->via.array.ptr[1], &kind)) {
        *status = ENV_E_SHAPE;
        return -1;
    }
    if (version != ENV_VERSION) {
        *status = ENV_E_VERSION;
        return -1;
    }
    *status = ENV_OK;
    return (int)(kind > 255 ? 255 : kind);
}

env_status_t env_batch_view(const msgpack_object *root, env_batch_t *batch)
{
    env_status_t st;
    int kind = env_kind(root, &st);
    if (kind < 0)
        return st;
    if (kind != ENV_BATCH)
        return ENV_E_KIND;
    const msgpack_object *f = root->via.array.ptr;
    uint64_t origin;
    uint64_t empty;
    if (root->via.array.size != 6 || !as_u64(&f[2], &batch->batch_id)
        || !as_u64(&f[3], &origin) || origin > UINT32_MAX
        || !as_u64(&f[4], &batch->first_seq))
        return ENV_E_SHAPE;
    batch->origin = (uint32_t)origin;
    if (as_u64(&f[5], &empty)) { /* that many empty groups */
        if (empty > UINT32_MAX)
            return ENV_E_SHAPE;
        batch->groups.size = (uint32_t)empty;
        batch->groups.ptr = NULL;
        return ENV_OK;
    }
    if (f[5].type != MSGPACK_OBJECT_ARRAY)
        return ENV_E_SHAPE;
    batch->groups = f[5].via.array;
    for (uint32_t i = 0; i < batch->groups.size; i++) {
        msgpack_object_type t = batch->groups.ptr[i].type;
        if (t != MSGPACK_OBJECT_ARRAY && t != MSGPACK_OBJECT_STR
            && t != MSGPACK_OBJECT_NIL)
            return ENV_E_SHAPE;
    }
    return ENV_OK;
}

void env_pack_hello(msgpack_packer *pk, const char *consumer, uint32_t credit,
                    const char *topic)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, ENV_VERSION);
    msgpack_pack_uint8(pk, ENV_HELLO);
    msgpack_pack_str_with_body(pk, consumer, strlen(consumer));
    msgpack_pack_uint32(pk, credit);
    msgpack_pack_str_with_body(pk, topic, strlen(topic));
}

env_status_t env_hello_view(const msgpack_object *root, env_hello_t *hello)
{
    env_status_t st;
    int kind = env_kind(root, &st);
    if (kind < 0)
        return st;
    if (kind != ENV_HELLO)
        return ENV_E_KIND;
    const msgpack_object *f = root->via.array.ptr;
    uint64_t credit;
    if (root->via.array.size != 5 || f[2].type != MSGPACK_OBJECT_STR
        || !as_u64(&f[3], &credit) || credit > UINT32_MAX
        || f[4].type != MSGPACK_OBJECT_STR)
        return ENV_E_SHAPE;
    hello->consumer = f[2].via.str.ptr;
    hello->consumer_len = f[2].via.str.size;
    hello->credit = (uint32_t)credit;
    hello->topic = f[4].via.str.ptr;
    hello->topic_len = f[4].via.str.size;
    return ENV_OK;
}

void env_pack_ack(msgpack_packer *pk, uint32_t credit, const uint64_t *ids,
                  size_t nids, uint64_t cost_ns)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, ENV_VERSION);
    msgpack_pack_uint8(pk, ENV_ACK);
    msgpack_pack_uint32(pk, credit);
    msgpack_pack_array(pk, nids);
    for (size_t i = 0; i < nids; i++)
        msgpack_pack_uint64(pk, ids[i]);
    msgpack_pack_uint64(pk, cost_ns);
}

void env_pack_bye(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint8(pk, ENV_VERSION);
    msgpack_pack_uint8(pk, ENV_BYE);
}

env_status_t env_ack_view(const msgpack_object *root, uint32_t *credit,
                          msgpack_object_array *ids, uint64_t *cost_ns)
{
    env_status_t st;
    int kind = env_kind(root, &st);
    if (kind < 0)
        return st;
    if (kind != ENV_ACK)
        return ENV_E_KIND;
    const msgpack_object *f = root->via.array.ptr;
    uint64_t c;
    if (root->via.array.size != 5 || !as_u64(&f[2], &c) || c > UINT32_MAX
        || f[3].type != MSGPACK_OBJECT_ARRAY || !as_u64(&f[4], cost_ns))
        return ENV_E_SHAPE;
    for (uint32_t i = 0; i < f[3].via.array.size; i++)
        if (f[3].via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return ENV_E_SHAPE;
    *credit = (uint32_t)c;
    *ids = f[3].via.array;
    return ENV_OK;
}

const char *env_status_str(env_status_t status)
{
    switch (status) {
    case ENV_OK: return "ok";
    case ENV_E_MSGPACK: return "not one msgpack value";
    case ENV_E_SHAPE: return "not a troupe envelope";
    case ENV_E_VERSION: return "wrong envelope version";
    case ENV_E_KIND: return "unexpected envelope kind";
    case ENV_E_NOMEM: return "out of memory";
    }
    return "unknown";
}

/*  envelope.c: encode and decode the data-plane envelope.

    Decoding never trusts the frame: every field's type is checked before it
    is read, and a frame that is not exactly one msgpack value is refused.
*/
#include "envelope.h"

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

/*  msgpack-c's C unpacker allocates a container's whole element array as
    soon as it reads the declared count, before it knows the frame holds
    that many elements: five hostile bytes can ask for gigabytes. (Its C++
    API has unpack limits; the C API has none.) So before unpacking we walk
    the frame's structure once, without allocating, and refuse it unless it
    is exactly one value whose every declared length fits in the bytes that
    remain: each element takes at least one byte, so what msgpack-c then
    allocates is bounded by the frame's size. */
static bool frame_sane(const uint8_t *p, size_t n)
{
    static const uint8_t fixed[256] = {
        /* payload bytes after the type byte for fixed-size types */
        [0xca] = 4, [0xcb] = 8, [0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8,
        [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8, [0xd4] = 2, [0xd5] = 3,
        [0xd6] = 5, [0xd7] = 9, [0xd8] = 17,
    };
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

env_status_t env_decode(const void *data, size_t size, msgpack_zone *zone,
                        msgpack_object *root)
{
    if (!frame_sane(data, size))
        return ENV_E_MSGPACK;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, size, &off, zone, root);
    return rc == MSGPACK_UNPACK_SUCCESS ? ENV_OK : ENV_E_MSGPACK;
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
    }
    return "unknown";
}

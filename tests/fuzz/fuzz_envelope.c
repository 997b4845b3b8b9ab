/*  fuzz_envelope: libFuzzer target for the data-plane decoder. Any bytes
    go through env_decode and every view; nothing may crash, leak or read
    out of bounds (built with ASan and UBSan). What env_decode takes must
    decode to what msgpack-c makes of it, since batches of integers are
    read without msgpack-c. */
#include "wire/envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*  The same value: both pack to the same bytes. */
static void check_same(msgpack_object a, msgpack_object b)
{
    msgpack_sbuffer sa, sb;
    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pa, a);
    msgpack_pack_object(&pb, b);
    if (a.type != b.type || sa.size != sb.size || memcmp(sa.data, sb.data, sa.size))
        abort();
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static msgpack_zone *zone;
    if (!zone)
        zone = msgpack_zone_new(4096);
    msgpack_zone_clear(zone);
    msgpack_object root;
    if (env_decode(data, size, zone, &root) != ENV_OK)
        return 0;
    /* taken, so every declared length fits: msgpack-c may look too */
    static msgpack_zone *other;
    if (!other)
        other = msgpack_zone_new(4096);
    msgpack_zone_clear(other);
    msgpack_object theirs;
    size_t off = 0;
    if (msgpack_unpack((const char *)data, size, &off, other, &theirs)
            != MSGPACK_UNPACK_SUCCESS
        || off != size)
        abort();
    check_same(root, theirs);
    env_batch_t b;
    if (env_batch_view(&root, &b) == ENV_OK && b.groups.ptr)
        for (uint32_t i = 0; i < b.groups.size; i++)
            if (b.groups.ptr[i].type == MSGPACK_OBJECT_ARRAY)
                (void)b.groups.ptr[i].via.array.size;
    env_hello_t h;
    (void)env_hello_view(&root, &h);
    uint32_t credit;
    msgpack_object_array ids;
    uint64_t cost;
    (void)env_ack_view(&root, &credit, &ids, &cost);
    return 0;
}

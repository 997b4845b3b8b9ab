/*  fuzz_envelope: libFuzzer target for the data-plane decoder. Any bytes
    go through env_decode and every view; nothing may crash, leak or read
    out of bounds (built with ASan and UBSan). */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static msgpack_zone *zone;
    if (!zone)
        zone = msgpack_zone_new(4096);
    msgpack_zone_clear(zone);
    msgpack_object root;
    if (env_decode(data, size, zone, &root) != ENV_OK)
        return 0;
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

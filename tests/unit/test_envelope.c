/*  test_envelope: a batch, a hello and an ack survive encode and decode, and
    hostile frames (not msgpack, truncated, wrong version, wrong shape, huge
    declared lengths) are refused with the right status, never a crash. */
#include "check.h"
#include "envelope.h"

#include <stdlib.h>
#include <string.h>

static msgpack_zone zone;

static env_status_t decode_batch(const char *data, size_t size, env_batch_t *b)
{
    msgpack_object root;
    msgpack_zone_clear(&zone);
    env_status_t st = env_decode(data, size, &zone, &root);
    return st != ENV_OK ? st : env_batch_view(&root, b);
}

static void test_batch_round_trip(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char zeros[ENV_BATCH_HEADER] = { 0 };
    msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
    msgpack_pack_array(&pk, 1); /* group 0: one int */
    msgpack_pack_int64(&pk, -7);
    msgpack_pack_array(&pk, 0); /* group 1: nothing */
    msgpack_pack_str_with_body(&pk, "boom", 4); /* group 2: failed */
    msgpack_pack_array(&pk, 2); /* group 3: two values */
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_double(&pk, 2.5);
    env_batch_header(sb.data, 1ull << 40, 7, 123456789012ull, 4, false);

    env_batch_t b;
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK);
    CHECK(b.batch_id == 1ull << 40);
    CHECK(b.origin == 7);
    CHECK(b.first_seq == 123456789012ull);
    CHECK(b.groups.size == 4);
    if (b.groups.size == 4) {
        CHECK(b.groups.ptr[0].type == MSGPACK_OBJECT_ARRAY);
        CHECK(b.groups.ptr[0].via.array.ptr[0].via.i64 == -7);
        CHECK(b.groups.ptr[1].via.array.size == 0);
        CHECK(b.groups.ptr[2].type == MSGPACK_OBJECT_STR);
        CHECK(b.groups.ptr[3].via.array.size == 2);
        /* strings point into the frame: zero copy */
        const char *p = b.groups.ptr[3].via.array.ptr[0].via.str.ptr;
        CHECK(p >= sb.data && p < sb.data + sb.size);
    }

    /* every truncation is refused, none crashes */
    for (size_t n = 0; n < sb.size; n++)
        CHECK(decode_batch(sb.data, n, &b) != ENV_OK);
    /* trailing garbage too */
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_E_MSGPACK);
    /* another version */
    sb.size--;
    sb.data[1] = 2;
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_E_VERSION);
    /* a batch of empty groups: a count, no groups */
    char head[ENV_BATCH_HEADER];
    env_batch_header(head, 9, 2, 100, 5000, true);
    CHECK(decode_batch(head, sizeof head, &b) == ENV_OK);
    CHECK(b.batch_id == 9 && b.first_seq == 100 && b.groups.size == 5000
          && b.groups.ptr == NULL);
    msgpack_sbuffer_destroy(&sb);
}

static void test_bad_shapes(void)
{
    env_batch_t b;
    CHECK(decode_batch("hello", 5, &b) == ENV_E_MSGPACK);
    CHECK(decode_batch("", 0, &b) == ENV_E_MSGPACK);
    CHECK(decode_batch("\x01", 1, &b) == ENV_E_SHAPE);      /* a bare int */
    CHECK(decode_batch("\x92\x01\x05", 3, &b) == ENV_E_KIND); /* kind 5 */
    /* a batch whose group is an int, not an array or a string */
    const char bad_group[] = "\x96\x01\x00\x01\x02\x03\x91\x05";
    CHECK(decode_batch(bad_group, sizeof bad_group - 1, &b) == ENV_E_SHAPE);
    /* an array that declares 2^32-1 elements in a 5-byte frame */
    const char huge[] = "\xdd\xff\xff\xff\xff";
    CHECK(decode_batch(huge, 5, &b) != ENV_OK);
    const char hugemap[] = "\xdf\xff\xff\xff\xff";
    CHECK(decode_batch(hugemap, 5, &b) != ENV_OK);
    /* a string that declares more bytes than the frame has */
    const char longstr[] = "\xdb\x7f\xff\xff\xff" "abc";
    CHECK(decode_batch(longstr, 8, &b) != ENV_OK);
}

static void test_hello_and_ack(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    env_pack_hello(&pk, "square#1", 4, "weather");
    msgpack_object root;
    msgpack_zone_clear(&zone);
    CHECK(env_decode(sb.data, sb.size, &zone, &root) == ENV_OK);
    env_hello_t h;
    CHECK(env_hello_view(&root, &h) == ENV_OK);
    CHECK(h.credit == 4);
    CHECK(h.consumer_len == 8 && memcmp(h.consumer, "square#1", 8) == 0);
    CHECK(h.topic_len == 7 && memcmp(h.topic, "weather", 7) == 0);
    uint32_t credit;
    msgpack_object_array ids;
    uint64_t cost;
    CHECK(env_ack_view(&root, &credit, &ids, &cost) == ENV_E_KIND);

    sb.size = 0;
    uint64_t want[] = { 3, 1ull << 50, 0 };
    env_pack_ack(&pk, 2, want, 3, 1500);
    msgpack_zone_clear(&zone);
    CHECK(env_decode(sb.data, sb.size, &zone, &root) == ENV_OK);
    CHECK(env_ack_view(&root, &credit, &ids, &cost) == ENV_OK);
    CHECK(credit == 2 && ids.size == 3 && cost == 1500);
    for (uint32_t i = 0; i < ids.size && i < 3; i++)
        CHECK(ids.ptr[i].via.u64 == want[i]);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    msgpack_zone_init(&zone, 4096);
    test_batch_round_trip();
    test_bad_shapes();
    test_hello_and_ack();
    msgpack_zone_destroy(&zone);
    CHECK_DONE();
}

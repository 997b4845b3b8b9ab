/*  test_envelope: a batch, a hello and an ack survive encode and decode, and
    hostile frames (not msgpack, truncated, wrong version, wrong shape, huge
    declared lengths) are refused with the right status, never a crash.
    Batches of integers, which env_decode reads without msgpack-c, decode
    to exactly what msgpack-c makes of them. The depth a value may nest to
    travel in a batch is exactly what msgpack-c decodes. */
#include "check.h"
#include "wire/envelope.h"

#include <stdint.h>
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

/*  An ordered sink reads an early batch's header alone (env_batch_peek):
    the same fields as decoding it whole; a header of any other form is
    left to the decoder. */
static void test_peek(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char zeros[ENV_BATCH_HEADER] = { 0 };
    msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
    for (int i = 0; i < 3; i++) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_int(&pk, i);
    }
    env_batch_header(sb.data, 5ull << 40 | 3, 4, 1ull << 35, 3, false);
    env_batch_t peek, whole;
    CHECK(env_batch_peek(sb.data, sb.size, &peek) == ENV_OK);
    CHECK(decode_batch(sb.data, sb.size, &whole) == ENV_OK);
    CHECK(peek.batch_id == whole.batch_id && peek.origin == whole.origin
          && peek.first_seq == whole.first_seq && peek.groups.size == whole.groups.size
          && peek.groups.ptr == NULL);
    CHECK(env_batch_peek(sb.data, ENV_BATCH_HEADER - 1, &peek) == ENV_E_SHAPE);
    char head[ENV_BATCH_HEADER];
    env_batch_header(head, 9, 2, 100, 5000, true); /* all empty: a count */
    CHECK(env_batch_peek(head, sizeof head, &peek) == ENV_OK);
    CHECK(peek.batch_id == 9 && peek.first_seq == 100 && peek.groups.size == 5000);
    CHECK(env_batch_peek(sb.data, sb.size, &peek) == ENV_OK);
    /* a count with bytes after it, and a header msgpack packs its own way */
    memcpy(sb.data, head, sizeof head);
    CHECK(env_batch_peek(sb.data, sb.size, &peek) == ENV_E_SHAPE);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 6);
    const int fields[5] = { ENV_VERSION, ENV_BATCH, 1, 1, 1 };
    for (int i = 0; i < 5; i++)
        msgpack_pack_int(&pk, fields[i]);
    msgpack_pack_array(&pk, 0);
    CHECK(env_batch_peek(sb.data, sb.size, &peek) == ENV_E_SHAPE);
    CHECK(decode_batch(sb.data, sb.size, &whole) == ENV_OK);
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

/*  Two decoded values are the same when they pack to the same bytes
    (msgpack_object_equal would call two NaNs different). */
static bool same_value(msgpack_object a, msgpack_object b)
{
    msgpack_sbuffer sa, sb;
    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pa, a);
    msgpack_pack_object(&pb, b);
    bool same = a.type == b.type && sa.size == sb.size
                && memcmp(sa.data, sb.data, sa.size) == 0;
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
    return same;
}

/*  What env_decode makes of `data`, when it takes it, is what msgpack-c
    makes (msgpack-c is asked only then: on a frame that declares more
    than it holds it would allocate what it declares). */
static bool same_as_msgpack_c(const char *data, size_t size)
{
    msgpack_object mine, theirs;
    msgpack_zone_clear(&zone);
    if (env_decode(data, size, &zone, &mine) != ENV_OK)
        return true;
    msgpack_zone other;
    msgpack_zone_init(&other, 4096);
    size_t off = 0;
    bool same = msgpack_unpack(data, size, &off, &other, &theirs) == MSGPACK_UNPACK_SUCCESS
                && off == size && same_value(mine, theirs);
    msgpack_zone_destroy(&other);
    return same;
}

static void test_int_batches(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char zeros[ENV_BATCH_HEADER] = { 0 };
    msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
    /* every integer format at its edges, each a group of one */
    static const int64_t ints[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
                                    4294967295ll, 4294967296ll, INT64_MAX, -1, -32,
                                    -33, -128, -129, -32768, -32769, INT32_MIN,
                                    (int64_t)INT32_MIN - 1, INT64_MIN };
    uint32_t ngroups = 0;
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++, ngroups++) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_int64(&pk, ints[i]);
    }
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    /* signed formats holding values that are not negative, and unsigned
       ones larger than they need be: other packers write these */
    msgpack_pack_array(&pk, 8);
    msgpack_pack_fix_int8(&pk, 5);
    msgpack_pack_fix_int16(&pk, 5);
    msgpack_pack_fix_int32(&pk, 5);
    msgpack_pack_fix_int64(&pk, 5);
    msgpack_pack_fix_uint8(&pk, 5);
    msgpack_pack_fix_uint16(&pk, 5);
    msgpack_pack_fix_uint32(&pk, 5);
    msgpack_pack_fix_uint64(&pk, 5);
    msgpack_pack_array(&pk, 0); /* an item that made nothing */
    msgpack_pack_array(&pk, 15); /* the most a fixarray holds */
    for (int i = 0; i < 15; i++)
        msgpack_pack_int(&pk, -i);
    ngroups += 4;
    env_batch_header(sb.data, 77, 3, 1ull << 33, ngroups, false);
    CHECK(same_as_msgpack_c(sb.data, sb.size));
    env_batch_t b;
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK);
    CHECK(b.batch_id == 77 && b.origin == 3 && b.first_seq == 1ull << 33);
    CHECK(b.groups.size == ngroups);
    if (b.groups.size == ngroups) {
        CHECK(b.groups.ptr[0].via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER);
        CHECK(b.groups.ptr[11].via.array.ptr[0].type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
        CHECK(b.groups.ptr[20].via.array.ptr[0].via.i64 == INT64_MIN);
        CHECK(b.groups.ptr[21].via.array.ptr[0].via.u64 == UINT64_MAX);
    }
    /* every truncation is refused; each byte changed still agrees */
    for (size_t n = 0; n < sb.size; n++)
        CHECK(decode_batch(sb.data, n, &b) != ENV_OK);
    for (size_t i = 0; i < sb.size; i++) {
        static const unsigned char swaps[] = { 0x00, 0x7f, 0x90, 0x9f, 0xa1, 0xc0,
                                               0xcb, 0xcf, 0xd3, 0xdd, 0xff };
        char was = sb.data[i];
        for (size_t k = 0; k < sizeof swaps; k++) {
            sb.data[i] = (char)swaps[k];
            CHECK(same_as_msgpack_c(sb.data, sb.size));
        }
        sb.data[i] = was;
    }
    /* a failed item among the numbers: msgpack-c's way, the same result */
    msgpack_pack_str_with_body(&pk, "boom", 4);
    env_batch_header(sb.data, 78, 3, 0, ngroups + 1, false);
    CHECK(same_as_msgpack_c(sb.data, sb.size));
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK);
    CHECK(b.groups.size == ngroups + 1);
    /* more groups declared than there are bytes for */
    env_batch_header(sb.data, 79, 3, 0, 0xffffffffu, false);
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_E_MSGPACK);
    msgpack_sbuffer_destroy(&sb);
}

/*  Groups of strings, binaries, floats, booleans and nils, in every
    length format, and groups with array 16 and 32 headers: the narrow
    reader takes them, makes what msgpack-c makes, and refuses every
    truncation; a map or an array among the values goes to msgpack-c. */
static void test_plain_batches(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char zeros[ENV_BATCH_HEADER] = { 0 };
    msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
    static char big[70000];
    memset(big, 'w', sizeof big);
    static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536 };
    uint32_t ngroups = 0;
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++, ngroups++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_str_with_body(&pk, big, lens[i]);
        msgpack_pack_bin_with_body(&pk, big, lens[i]);
    }
    msgpack_pack_array(&pk, 6);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, -0.25);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, 7);
    /* headers wider than they need be, as other packers may write */
    const char wide16[] = "\xdc\x00\x02\xa1x\x01";
    const char wide32[] = "\xdd\x00\x00\x00\x01\xa2yz";
    msgpack_sbuffer_write(&sb, wide16, sizeof wide16 - 1);
    msgpack_sbuffer_write(&sb, wide32, sizeof wide32 - 1);
    msgpack_pack_array(&pk, 16); /* past a fixarray */
    for (int i = 0; i < 16; i++)
        msgpack_pack_str_with_body(&pk, "word", 4);
    ngroups += 4;
    env_batch_header(sb.data, 5, 1, 9, ngroups, false);
    msgpack_object root;
    msgpack_zone_clear(&zone);
    CHECK(env_decode_plain(sb.data, sb.size, &zone, &root));
    CHECK(same_as_msgpack_c(sb.data, sb.size));
    env_batch_t b;
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK && b.groups.size == ngroups);
    if (b.groups.size == ngroups) {
        const msgpack_object *v = b.groups.ptr[7].via.array.ptr;
        CHECK(v[0].type == MSGPACK_OBJECT_STR && v[0].via.str.size == 65536);
        CHECK(v[1].type == MSGPACK_OBJECT_BIN && v[1].via.bin.size == 65536);
        CHECK(v[0].via.str.ptr > sb.data && v[0].via.str.ptr < sb.data + sb.size);
        v = b.groups.ptr[8].via.array.ptr;
        CHECK(v[0].type == MSGPACK_OBJECT_FLOAT32 && v[0].via.f64 == 1.5);
        CHECK(v[1].type == MSGPACK_OBJECT_FLOAT64 && v[1].via.f64 == -0.25);
        CHECK(v[2].type == MSGPACK_OBJECT_BOOLEAN && v[2].via.boolean);
        CHECK(v[3].type == MSGPACK_OBJECT_BOOLEAN && !v[3].via.boolean);
        CHECK(v[4].type == MSGPACK_OBJECT_NIL);
        CHECK(b.groups.ptr[9].via.array.size == 2 && b.groups.ptr[10].via.array.size == 1);
        CHECK(b.groups.ptr[11].via.array.size == 16);
    }
    /* every truncation is refused; a byte changed still agrees */
    for (size_t n = 0; n < sb.size; n += n < 600 ? 1 : 997)
        CHECK(decode_batch(sb.data, n, &b) != ENV_OK);
    for (size_t i = sb.size - 200; i < sb.size; i++) {
        static const unsigned char swaps[] = { 0x00, 0x90, 0xa3, 0xc0, 0xc4, 0xca,
                                               0xcb, 0xd9, 0xdb, 0xdc, 0xff };
        char was = sb.data[i];
        for (size_t k = 0; k < sizeof swaps; k++) {
            sb.data[i] = (char)swaps[k];
            CHECK(same_as_msgpack_c(sb.data, sb.size));
        }
        sb.data[i] = was;
    }
    /* a value that holds others, or an extension: msgpack-c's, the same */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 2);
    env_batch_header(sb.data, 5, 1, 9, ngroups + 1, false);
    msgpack_zone_clear(&zone);
    CHECK(!env_decode_plain(sb.data, sb.size, &zone, &root));
    CHECK(same_as_msgpack_c(sb.data, sb.size));
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK && b.groups.size == ngroups + 1);
    msgpack_sbuffer_destroy(&sb);
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

/*  `depth` containers one inside the other around an integer (or, with
    `empty`, around nothing). Shapes: 0 fixarrays, 1 fixmaps (the value
    under a key), 2 maps with the nesting in the key, 3 array16s of 16
    members, the nesting in the first. */
static void pack_nested(msgpack_packer *pk, int depth, int shape, bool empty)
{
    if (depth == 0) {
        msgpack_pack_int(pk, 7);
        return;
    }
    bool last = depth == 1 && empty;
    switch (shape) {
    case 0: msgpack_pack_array(pk, last ? 0 : 1); break;
    case 1:
        msgpack_pack_map(pk, last ? 0 : 1);
        if (!last)
            msgpack_pack_str_with_body(pk, "k", 1);
        break;
    case 2: msgpack_pack_map(pk, last ? 0 : 1); break;
    case 3: msgpack_pack_array(pk, last ? 0 : 16); break;
    }
    if (last)
        return;
    pack_nested(pk, depth - 1, shape, empty);
    if (shape == 2)
        msgpack_pack_nil(pk); /* the key's value */
    for (int i = 1; shape == 3 && i < 16; i++)
        msgpack_pack_int(pk, i);
}

/*  env_depth_ok says yes exactly when msgpack-c can decode a batch that
    carries the value: the limit is msgpack-c's, not a guess. */
static void test_depth_limit_is_msgpack_cs(void)
{
    msgpack_sbuffer sb, one;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&one);
    msgpack_packer pk, pk1;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_packer_init(&pk1, &one, msgpack_sbuffer_write);
    for (int shape = 0; shape < 4; shape++)
        for (int empty = 0; empty < 2; empty++)
            for (int depth = 0; depth <= ENV_MAX_DEPTH + 4; depth++) {
                one.size = 0;
                pack_nested(&pk1, depth, shape, empty);
                sb.size = 0;
                char zeros[ENV_BATCH_HEADER] = { 0 };
                msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
                msgpack_pack_array(&pk, 1);
                msgpack_sbuffer_write(&sb, one.data, one.size);
                env_batch_header(sb.data, 1, 0, 0, 1, false);
                env_batch_t b;
                bool decodes = decode_batch(sb.data, sb.size, &b) == ENV_OK;
                bool ok = env_depth_ok(one.data, one.size);
                if (ok != decodes)
                    fprintf(stderr, "shape %d, depth %d%s: env_depth_ok %d, decodes %d\n",
                            shape, depth, empty ? " (empty)" : "", ok, decodes);
                CHECK(ok == decodes);
                CHECK(ok == (depth <= ENV_MAX_DEPTH));
            }
    /* several values in a row (a group's bytes), the deep one last */
    one.size = 0;
    msgpack_pack_int(&pk1, 1);
    pack_nested(&pk1, 3, 0, false);
    CHECK(env_depth_ok(one.data, one.size));
    pack_nested(&pk1, ENV_MAX_DEPTH + 1, 1, false);
    CHECK(!env_depth_ok(one.data, one.size));
    msgpack_sbuffer_destroy(&one);
    msgpack_sbuffer_destroy(&sb);
}

/*  Copies' names: the same copy always gets the same name, never an
    actor's index; copies apart (another channel, another branch, another
    salt, another name before) get names apart; a batch renamed in place
    reads back with the new origin and nothing else changed, and a header
    packed another way is not renamed. */
static void test_copies_names(void)
{
    uint32_t a = env_branch_origin(0, 4, 2, 1);
    CHECK(a == env_branch_origin(0, 4, 2, 1) && (a & 0x80000000u));
    CHECK(a != env_branch_origin(0, 4, 2, 0) && a != env_branch_origin(0, 4, 3, 1));
    CHECK(a != env_branch_origin(1, 4, 2, 1) && a != env_branch_origin(0, 5, 2, 1));
    CHECK(a != env_branch_origin(0, 4, 2, ENV_BRANCH_OUT));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char zeros[ENV_BATCH_HEADER] = { 0 };
    msgpack_sbuffer_write(&sb, zeros, sizeof zeros);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 7);
    env_batch_header(sb.data, 11, 4, 300, 1, false);
    CHECK(env_batch_rename(sb.data, sb.size, 0, 2, 1));
    env_batch_t b;
    CHECK(decode_batch(sb.data, sb.size, &b) == ENV_OK);
    CHECK(b.origin == a && b.batch_id == 11 && b.first_seq == 300 && b.groups.size == 1);
    CHECK(!env_batch_rename(sb.data, ENV_BATCH_HEADER - 1, 0, 2, 1));
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 6);
    const int fields[5] = { ENV_VERSION, ENV_BATCH, 1, 1, 1 };
    for (int i = 0; i < 5; i++)
        msgpack_pack_int(&pk, fields[i]);
    msgpack_pack_array(&pk, 0);
    CHECK(!env_batch_rename(sb.data, sb.size, 0, 2, 1));
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    msgpack_zone_init(&zone, 4096);
    test_batch_round_trip();
    test_peek();
    test_copies_names();
    test_bad_shapes();
    test_int_batches();
    test_plain_batches();
    test_hello_and_ack();
    test_depth_limit_is_msgpack_cs();
    msgpack_zone_destroy(&zone);
    CHECK_DONE();
}

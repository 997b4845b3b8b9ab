/*  test_values: every troupe_value constructor makes the value it was given
    (its packed bytes decode to the same value, its readers and its text
    give back what went in), and troupe_value_packed and troupe_value_end
    refuse anything that is not exactly one msgpack value. Also the
    library's run-time version (troupe_version), which needs no process. */
#include "../unit/check.h"
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/*  The value's bytes, decoded by msgpack-c on their own, equal its view,
    and a value made from those bytes is the same value again. */
static void check_round_trip(const troupe_value_t *v)
{
    CHECK(v != NULL);
    if (!v)
        return;
    size_t size = 0;
    const char *data = troupe_value_data(v, &size);
    CHECK(data != NULL && size > 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, data, size, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == size);
    CHECK(msgpack_object_equal(u.data, *troupe_value_get(v)));
    msgpack_unpacked_destroy(&u);

    troupe_value_t *again = troupe_value_packed(data, size);
    CHECK(again != NULL);
    if (again) {
        size_t size2 = 0;
        const char *data2 = troupe_value_data(again, &size2);
        CHECK(size2 == size && memcmp(data, data2, size) == 0);
        CHECK(data2 != data); /* a copy, not a borrow */
        CHECK(msgpack_object_equal(*troupe_value_get(again), *troupe_value_get(v)));
    }
    troupe_value_destroy(&again);
}

static const char *text(const troupe_value_t *v)
{
    static char buf[512];
    troupe_value_format(v, buf, sizeof buf);
    return buf;
}

/*  Checks v's packed bytes are exactly `want` (n bytes). */
static void check_bytes(const troupe_value_t *v, const char *want, size_t n)
{
    size_t size = 0;
    const char *data = troupe_value_data(v, &size);
    CHECK(size == n);
    CHECK(data && memcmp(data, want, n < size ? n : size) == 0);
}

static void test_scalars(void)
{
    troupe_value_t *v = troupe_value_nil();
    check_round_trip(v);
    check_bytes(v, "\xc0", 1);
    CHECK(troupe_value_get(v)->type == MSGPACK_OBJECT_NIL);
    CHECK_STR(text(v), "null");
    int64_t i = 7;
    CHECK(!troupe_value_as_int(v, &i) && i == 7);
    troupe_value_destroy(&v);

    v = troupe_value_bool(true);
    check_round_trip(v);
    check_bytes(v, "\xc3", 1);
    CHECK_STR(text(v), "true");
    troupe_value_destroy(&v);
    v = troupe_value_bool(false);
    check_bytes(v, "\xc2", 1);
    CHECK_STR(text(v), "false");
    troupe_value_destroy(&v);

    const int64_t ints[] = { 0, 5, -1, 127, 128, 300, -33, -40000, INT64_MAX, INT64_MIN };
    const char *texts[] = { "0", "5", "-1", "127", "128", "300", "-33", "-40000",
                            "9223372036854775807", "-9223372036854775808" };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        v = troupe_value_int(ints[k]);
        check_round_trip(v);
        int64_t got = 0;
        CHECK(troupe_value_as_int(v, &got) && got == ints[k]);
        double d = 0;
        CHECK(troupe_value_as_double(v, &d) && d == (double)ints[k]);
        CHECK_STR(text(v), texts[k]);
        troupe_value_destroy(&v);
    }
    /* packed as small as msgpack allows */
    v = troupe_value_int(5);
    check_bytes(v, "\x05", 1);
    troupe_value_destroy(&v);
    v = troupe_value_int(300);
    check_bytes(v, "\xcd\x01\x2c", 3);
    troupe_value_destroy(&v);
    v = troupe_value_int(-1);
    check_bytes(v, "\xff", 1);
    troupe_value_destroy(&v);

    v = troupe_value_double(2.5);
    check_round_trip(v);
    check_bytes(v, "\xcb\x40\x04\x00\x00\x00\x00\x00\x00", 9);
    double d = 0;
    CHECK(troupe_value_as_double(v, &d) && d == 2.5);
    CHECK(!troupe_value_as_int(v, &i)); /* a fraction is not an integer */
    CHECK_STR(text(v), "2.5");
    troupe_value_destroy(&v);
    v = troupe_value_double(3.0);
    CHECK(troupe_value_as_int(v, &i) && i == 3);
    CHECK_STR(text(v), "3.0");
    troupe_value_destroy(&v);
    v = troupe_value_double(0.1);
    CHECK(troupe_value_as_double(v, &d) && d == 0.1);
    CHECK_STR(text(v), "0.1");
    troupe_value_destroy(&v);
}

static void test_strings(void)
{
    troupe_value_t *v = troupe_value_cstr("hello");
    check_round_trip(v);
    check_bytes(v, "\xa5hello", 6);
    size_t n = 0;
    const char *s = troupe_value_as_strn(v, &n);
    CHECK(n == 5 && s && memcmp(s, "hello", 5) == 0);
    CHECK_STR(text(v), "hello");
    CHECK(troupe_value_get(v)->type == MSGPACK_OBJECT_STR);
    int64_t i;
    CHECK(!troupe_value_as_int(v, &i));
    troupe_value_destroy(&v);

    /* strn keeps embedded NULs and copies */
    char buf[] = { 'a', '\0', 'b' };
    v = troupe_value_strn(buf, 3);
    buf[0] = 'X';
    s = troupe_value_as_strn(v, &n);
    CHECK(n == 3 && s && memcmp(s, "a\0b", 3) == 0);
    check_round_trip(v);
    troupe_value_destroy(&v);

    v = troupe_value_cstr("");
    check_round_trip(v);
    check_bytes(v, "\xa0", 1);
    s = troupe_value_as_strn(v, &n);
    CHECK(s != NULL && n == 0);
    CHECK_STR(text(v), "");
    troupe_value_destroy(&v);
    v = troupe_value_strn(NULL, 0); /* no bytes, no pointer needed */
    check_bytes(v, "\xa0", 1);
    troupe_value_destroy(&v);

    const unsigned char raw[] = { 0xde, 0xad, 0x00, 0x01 };
    v = troupe_value_bytes(raw, sizeof raw);
    check_round_trip(v);
    check_bytes(v, "\xc4\x04\xde\xad\x00\x01", 6);
    s = troupe_value_as_strn(v, &n);
    CHECK(n == 4 && s && memcmp(s, raw, 4) == 0);
    CHECK(troupe_value_get(v)->type == MSGPACK_OBJECT_BIN);
    CHECK_STR(text(v), "0xdead0001");
    troupe_value_destroy(&v);

    /* a long string: str32 header, the bytes intact */
    size_t big = 100000;
    char *long_str = malloc(big + 1);
    for (size_t k = 0; k < big; k++)
        long_str[k] = (char)('a' + k % 26);
    long_str[big] = '\0';
    v = troupe_value_cstr(long_str);
    check_round_trip(v);
    s = troupe_value_as_strn(v, &n);
    CHECK(n == big && s && memcmp(s, long_str, big) == 0);
    size_t size;
    troupe_value_data(v, &size);
    CHECK(size == big + 5);
    troupe_value_destroy(&v);
    free(long_str);

    /* NULL with a size is a mistake, said so */
    errno = 0;
    CHECK(troupe_value_cstr(NULL) == NULL && errno == EINVAL);
    CHECK(strstr(troupe_error(), "NULL") != NULL);
    errno = 0;
    CHECK(troupe_value_strn(NULL, 3) == NULL && errno == EINVAL);
    CHECK_STR(troupe_error(), "troupe_value_strn: NULL data with size 3");
    errno = 0;
    CHECK(troupe_value_bytes(NULL, 1) == NULL && errno == EINVAL);
}

static void test_arrays(void)
{
    const int64_t in[] = { 1, -2, 3, 1000000, INT64_MIN };
    troupe_value_t *v = troupe_value_ints(in, 5);
    check_round_trip(v);
    CHECK_STR(text(v), "[1, -2, 3, 1000000, -9223372036854775808]");
    int64_t out[6] = { 0, 0, 0, 0, 0, 99 };
    CHECK(troupe_value_as_ints(v, out, 6) == 5);
    CHECK(memcmp(out, in, sizeof in) == 0 && out[5] == 99);
    int64_t two[3] = { 0, 0, 42 };
    CHECK(troupe_value_as_ints(v, two, 2) == 5); /* how many it holds */
    CHECK(two[0] == 1 && two[1] == -2 && two[2] == 42);
    CHECK(troupe_value_as_ints(v, NULL, 0) == 5);
    double dout[5];
    CHECK(troupe_value_as_doubles(v, dout, 5) == 5 && dout[1] == -2.0);
    troupe_value_destroy(&v);

    const double din[] = { 0.5, 2.0, -1e300 };
    v = troupe_value_doubles(din, 3);
    check_round_trip(v);
    CHECK_STR(text(v), "[0.5, 2.0, -1e+300]");
    double dgot[3] = { 0 };
    CHECK(troupe_value_as_doubles(v, dgot, 3) == 3);
    CHECK(memcmp(dgot, din, sizeof din) == 0);
    /* 0.5 is not an integer: the whole array is refused, out untouched */
    int64_t untouched[3] = { 7, 7, 7 };
    CHECK(troupe_value_as_ints(v, untouched, 3) == -1);
    CHECK(untouched[0] == 7 && untouched[1] == 7);
    troupe_value_destroy(&v);

    const char *strs[] = { "a", "b\"c", "" };
    v = troupe_value_cstrs(strs, 3);
    check_round_trip(v);
    CHECK_STR(text(v), "[\"a\", \"b\\\"c\", \"\"]");
    CHECK(troupe_value_as_ints(v, NULL, 0) == -1);
    CHECK(troupe_value_as_strn(v, NULL) == NULL);
    troupe_value_destroy(&v);

    /* empty arrays */
    v = troupe_value_ints(NULL, 0);
    check_bytes(v, "\x90", 1);
    CHECK(troupe_value_as_ints(v, NULL, 0) == 0);
    CHECK_STR(text(v), "[]");
    troupe_value_destroy(&v);

    /* a big array: the zone grows past its first chunk */
    size_t n = 10000;
    int64_t *many = malloc(n * sizeof *many);
    for (size_t k = 0; k < n; k++)
        many[k] = (int64_t)(k * k) - 5000;
    v = troupe_value_ints(many, n);
    check_round_trip(v);
    int64_t *back = calloc(n, sizeof *back);
    CHECK(troupe_value_as_ints(v, back, n) == (long)n);
    CHECK(memcmp(back, many, n * sizeof *many) == 0);
    troupe_value_destroy(&v);
    free(back);
    free(many);

    const char *with_null[] = { "a", NULL };
    errno = 0;
    CHECK(troupe_value_cstrs(with_null, 2) == NULL && errno == EINVAL);
    CHECK_STR(troupe_error(), "troupe_value_cstrs: string 1 is NULL");
    CHECK(troupe_value_ints(NULL, 2) == NULL && errno == EINVAL);
    CHECK(troupe_value_doubles(NULL, 1) == NULL);

    /* not an array at all */
    v = troupe_value_int(1);
    CHECK(troupe_value_as_ints(v, NULL, 0) == -1);
    CHECK(troupe_value_as_doubles(v, NULL, 0) == -1);
    troupe_value_destroy(&v);
}

static void test_begin_end_and_object(void)
{
    msgpack_packer *pk = troupe_value_begin();
    CHECK(pk != NULL);
    msgpack_pack_map(pk, 2);
    msgpack_pack_str_with_body(pk, "k", 1);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 1);
    msgpack_pack_nil(pk);
    msgpack_pack_str_with_body(pk, "u", 1);
    msgpack_pack_uint64(pk, UINT64_MAX);
    troupe_value_t *v = troupe_value_end(pk);
    check_round_trip(v);
    CHECK_STR(text(v), "{\"k\": [1, null], \"u\": 18446744073709551615}");
    CHECK(troupe_value_get(v)->type == MSGPACK_OBJECT_MAP);

    /* a deep copy outlives what it was copied from */
    const msgpack_object *inner = &troupe_value_get(v)->via.map.ptr[0].val;
    troupe_value_t *copy = troupe_value_object(inner);
    troupe_value_destroy(&v);
    check_round_trip(copy);
    CHECK_STR(text(copy), "[1, null]");
    troupe_value_destroy(&copy);

    /* strings of a copy point into the copy's own bytes */
    troupe_value_t *s = troupe_value_cstr("own");
    copy = troupe_value_object(troupe_value_get(s));
    troupe_value_destroy(&s);
    size_t size;
    const char *data = troupe_value_data(copy, &size);
    const char *p = troupe_value_as_strn(copy, NULL);
    CHECK(p >= data && p < data + size);
    CHECK_STR(text(copy), "own");
    troupe_value_destroy(&copy);

    /* zero values, two values, no packer */
    pk = troupe_value_begin();
    errno = 0;
    CHECK(troupe_value_end(pk) == NULL && errno == EINVAL);
    CHECK_STR(troupe_error(), "no value was packed");
    pk = troupe_value_begin();
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 2);
    errno = 0;
    CHECK(troupe_value_end(pk) == NULL && errno == EINVAL);
    CHECK(strstr(troupe_error(), "not one msgpack value") != NULL);
    pk = troupe_value_begin();
    msgpack_pack_array(pk, 2); /* an array missing a member */
    msgpack_pack_int(pk, 1);
    CHECK(troupe_value_end(pk) == NULL);
    CHECK(troupe_value_end(NULL) == NULL && errno == EINVAL);
    CHECK(troupe_value_object(NULL) == NULL);

    /* nesting: 20 deep is fine, 100 deep is refused without a crash */
    pk = troupe_value_begin();
    for (int k = 0; k < 20; k++)
        msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 9);
    v = troupe_value_end(pk);
    check_round_trip(v);
    troupe_value_destroy(&v);
    pk = troupe_value_begin();
    for (int k = 0; k < 100; k++)
        msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 9);
    CHECK(troupe_value_end(pk) == NULL);
}

static void test_packed_refuses(void)
{
    struct {
        const char *data;
        size_t size;
        const char *why;
    } bad[] = {
        { "\xc1", 1, "never used byte" },
        { "\xa5hi", 3, "string shorter than declared" },
        { "\x93\x01\x02", 3, "array missing a member" },
        { "\xdd\xff\xff\xff\xff", 5, "huge declared array" },
        { "\xdb\xff\xff\xff\xff", 5, "huge declared string" },
        { "\xcd\x01", 2, "truncated uint16" },
        { "\x01\x02", 2, "trailing bytes" },
        { "\xc0\xc0", 2, "two nils" },
        { "", 0, "nothing" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        errno = 0;
        troupe_value_t *v = troupe_value_packed(bad[k].data, bad[k].size);
        if (v || errno != EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[k].why);
        CHECK(v == NULL && errno == EINVAL);
        CHECK(strstr(troupe_error(), "not one msgpack value") != NULL);
    }
    CHECK(troupe_value_packed(NULL, 4) == NULL && errno == EINVAL);

    /* every truncation of a nested value is refused */
    msgpack_packer *pk = troupe_value_begin();
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "list", 4);
    msgpack_pack_array(pk, 3);
    msgpack_pack_double(pk, 1.5);
    msgpack_pack_bin_with_body(pk, "xyz", 3);
    msgpack_pack_int64(pk, -70000);
    troupe_value_t *v = troupe_value_end(pk);
    check_round_trip(v);
    size_t size;
    const char *data = troupe_value_data(v, &size);
    for (size_t n = 0; n < size; n++)
        CHECK(troupe_value_packed(data, n) == NULL);
    /* and one byte more */
    char *longer = malloc(size + 1);
    memcpy(longer, data, size);
    longer[size] = '\0';
    CHECK(troupe_value_packed(longer, size + 1) == NULL);
    troupe_value_t *same = troupe_value_packed(longer, size);
    CHECK(same != NULL);
    CHECK_STR(text(same), "{\"list\": [1.5, 0x78797a, -70000]}");
    troupe_value_destroy(&same);
    free(longer);
    troupe_value_destroy(&v);
}

static void test_destroy(void)
{
    troupe_value_t *v = troupe_value_int(1);
    CHECK(v != NULL);
    troupe_value_destroy(&v);
    CHECK(v == NULL);
    troupe_value_destroy(&v); /* twice: harmless */
    troupe_value_destroy(NULL);
    /* readers on NULL answer "not one", never crash */
    CHECK(troupe_value_get(NULL) == NULL);
    size_t size = 9;
    CHECK(troupe_value_data(NULL, &size) == NULL && size == 0);
    char buf[4] = "xyz";
    CHECK(troupe_value_format(NULL, buf, sizeof buf) == 0 && buf[0] == '\0');
    int64_t i;
    CHECK(!troupe_value_as_int(NULL, &i));
}

/*  A call that can fail leaves troupe_error () "" when it succeeds, even
    right after another call failed: each success below follows a failure
    (troupe_value_cstr (NULL)). Readers that cannot fail leave it alone. */

static void test_a_success_clears_the_last_error(void)
{
    troupe_value_t *v[12] = { NULL };
    int64_t ints[2] = { 1, 2 };
    double doubles[2] = { 0.5, 1.5 };
    const char *strs[2] = { "a", "b" };
    AFTER_A_FAILURE((v[0] = troupe_value_nil()) != NULL);
    AFTER_A_FAILURE((v[1] = troupe_value_bool(true)) != NULL);
    AFTER_A_FAILURE((v[2] = troupe_value_int(7)) != NULL);
    AFTER_A_FAILURE((v[3] = troupe_value_double(0.25)) != NULL);
    AFTER_A_FAILURE((v[4] = troupe_value_cstr("s")) != NULL);
    AFTER_A_FAILURE((v[5] = troupe_value_strn("sn", 2)) != NULL);
    AFTER_A_FAILURE((v[6] = troupe_value_bytes("b", 1)) != NULL);
    AFTER_A_FAILURE((v[7] = troupe_value_ints(ints, 2)) != NULL);
    AFTER_A_FAILURE((v[8] = troupe_value_doubles(doubles, 2)) != NULL);
    AFTER_A_FAILURE((v[9] = troupe_value_cstrs(strs, 2)) != NULL);
    AFTER_A_FAILURE((v[10] = troupe_value_object(troupe_value_get(v[7]))) != NULL);
    size_t size;
    const void *data = troupe_value_data(v[2], &size);
    AFTER_A_FAILURE((v[11] = troupe_value_packed(data, size)) != NULL);
    msgpack_packer *pk = NULL;
    AFTER_A_FAILURE((pk = troupe_value_begin()) != NULL);
    msgpack_pack_int(pk, 3);
    troupe_value_t *built = NULL;
    AFTER_A_FAILURE((built = troupe_value_end(pk)) != NULL);
    AFTER_A_FAILURE(troupe_value_as_strn(v[4], &size) != NULL);
    int64_t out[2];
    AFTER_A_FAILURE(troupe_value_as_ints(v[7], out, 2) == 2);
    AFTER_A_FAILURE(troupe_value_as_doubles(v[8], doubles, 2) == 2);
    /* a reader that cannot fail keeps the message for the caller to read */
    CHECK(troupe_value_cstr(NULL) == NULL);
    CHECK(troupe_value_get(v[2]) != NULL && troupe_value_format(v[2], NULL, 0) == 1);
    CHECK(*troupe_error() != '\0');
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        troupe_value_destroy(&v[i]);
    troupe_value_destroy(&built);
    CHECK(*troupe_error() != '\0');
}

/*  The names from before the _cstr/_strn rule still work, for one
    release: each is the renamed call (the compiler warns; not here). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void test_deprecated_names_still_work(void)
{
    troupe_value_t *s = troupe_value_str("old");
    const char *names[] = { "x", "y" };
    troupe_value_t *a = troupe_value_strs(names, 2);
    size_t size = 0;
    CHECK(s && a);
    const char *p = troupe_value_as_str(s, &size);
    CHECK(p && size == 3 && memcmp(p, "old", 3) == 0);
    CHECK_STR(text(a), "[\"x\", \"y\"]");
    CHECK(troupe_value_str(NULL) == NULL && errno == EINVAL);
    troupe_value_destroy(&s);
    troupe_value_destroy(&a);
}
#pragma GCC diagnostic pop

/*  troupe_version: the library's version, as string and numbers, which is
    this troupe.h's here (built together). */
static void test_version_at_run_time(void)
{
    int major = -1, minor = -1, patch = -1;
    const char *v = troupe_version(&major, &minor, &patch);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", TROUPE_VERSION_MAJOR, TROUPE_VERSION_MINOR,
             TROUPE_VERSION_PATCH);
    CHECK_STR(v, want);
    CHECK(TROUPE_MAKE_VERSION(major, minor, patch) == TROUPE_VERSION);
    CHECK(troupe_version(NULL, NULL, NULL) == v);
    CHECK(TROUPE_MAKE_VERSION(0, 1, 0) < TROUPE_MAKE_VERSION(0, 2, 0));
    CHECK(TROUPE_MAKE_VERSION(0, 9, 9) < TROUPE_MAKE_VERSION(1, 0, 0));
}

/*  What a value takes of the heap, by malloc's own count (mallinfo2): an
    integer of 32 bits or a string of up to 5 bytes is a 32-byte slot of
    the slab, a double or a 64-bit integer one 48-byte block, where each
    took 160 bytes in three blocks (issue 17: 10M values, 3.2 GB). Slots
    freed are taken again: a second round costs nothing more. */
static void test_a_small_value_is_one_small_block(void)
{
    enum { N = 20000 };
    static troupe_value_t *v[N];
    static const size_t most[] = { 33, 48, 33, 48 };
    for (int round = 0; round < 2; round++)
        for (int kind = 0; kind < 4; kind++) {
            size_t before = mallinfo2().uordblks;
            for (int i = 0; i < N; i++)
                v[i] = kind == 0   ? troupe_value_int(i * 1000 - 5000000)
                       : kind == 1 ? troupe_value_double(i * 0.5)
                       : kind == 2 ? troupe_value_cstr("hello")
                                   : troupe_value_int(i * 1000003LL * 1000003LL);
            size_t per = (mallinfo2().uordblks - before) / N;
            CHECK(per <= (round ? 0 : most[kind]) || (kind % 2 && per <= most[kind]));
            int64_t n = 0;
            CHECK(kind != 0 || (troupe_value_as_int(v[N - 1], &n) && n == (N - 1) * 1000 - 5000000));
            for (int i = 0; i < N; i++)
                troupe_value_destroy(&v[i]);
        }
}

int main(void)
{
    test_a_small_value_is_one_small_block();
    test_scalars();
    test_strings();
    test_arrays();
    test_begin_end_and_object();
    test_packed_refuses();
    test_destroy();
    test_version_at_run_time();
    test_a_success_clears_the_last_error();
    test_deprecated_names_still_work();
    CHECK_DONE();
}

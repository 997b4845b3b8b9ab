/*  test_format: troupe_format writes values as documented, and the number
    readers accept exactly the numbers they promise. */
#include "check.h"
#include "troupe.h"

#include <math.h>
#include <string.h>

static const char *fmt(msgpack_object o)
{
    static char buf[256];
    troupe_format(&o, buf, sizeof buf);
    return buf;
}

static msgpack_object i64(int64_t v)
{
    msgpack_object o = { .type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER
                                       : MSGPACK_OBJECT_POSITIVE_INTEGER };
    o.via.i64 = v;
    return o;
}

static msgpack_object f64(double v)
{
    msgpack_object o = { .type = MSGPACK_OBJECT_FLOAT64 };
    o.via.f64 = v;
    return o;
}

static msgpack_object str(const char *s)
{
    msgpack_object o = { .type = MSGPACK_OBJECT_STR };
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

int main(void)
{
    CHECK_STR(fmt(i64(0)), "0");
    CHECK_STR(fmt(i64(999998000001)), "999998000001");
    CHECK_STR(fmt(i64(INT64_MIN)), "-9223372036854775808");
    msgpack_object big = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER };
    big.via.u64 = UINT64_MAX;
    CHECK_STR(fmt(big), "18446744073709551615");
    /* every length, and each side of where the 8-digit chunks begin */
    char want[32];
    for (uint64_t v = 1, k = 1; k <= 19; k++, v *= 10) {
        uint64_t near[] = { v - 1, v, v + 1, v * 9 + (v - 1) };
        for (int j = 0; j < 4; j++) {
            big.via.u64 = near[j];
            snprintf(want, sizeof want, "%llu", (unsigned long long)near[j]);
            CHECK_STR(fmt(big), want);
        }
    }
    /* a buffer too small for the number: troupe_format says how long it is */
    char tiny[4];
    big.via.u64 = 123456789;
    CHECK(troupe_format(&big, tiny, sizeof tiny) == 9);
    CHECK(!strcmp(tiny, "123"));
    big.via.u64 = UINT64_MAX;
    CHECK_STR(fmt(f64(0.1)), "0.1");
    CHECK_STR(fmt(f64(2.0)), "2.0");
    CHECK_STR(fmt(f64(1e300)), "1e+300");
    CHECK_STR(fmt(f64(-INFINITY)), "-inf");
    CHECK_STR(fmt(str("tab\there")), "tab\there"); /* raw at the top */

    msgpack_object items[3] = { i64(1), str("a\"b"), f64(0.5) };
    msgpack_object arr = { .type = MSGPACK_OBJECT_ARRAY };
    arr.via.array.size = 3;
    arr.via.array.ptr = items;
    CHECK_STR(fmt(arr), "[1, \"a\\\"b\", 0.5]");

    msgpack_object_kv kv[1] = { { str("k"), arr } };
    msgpack_object map = { .type = MSGPACK_OBJECT_MAP };
    map.via.map.size = 1;
    map.via.map.ptr = kv;
    CHECK_STR(fmt(map), "{\"k\": [1, \"a\\\"b\", 0.5]}");

    /* truncation: like snprintf, the length it needed comes back */
    char small[4];
    CHECK(troupe_format(&arr, small, sizeof small) == strlen("[1, \"a\\\"b\", 0.5]"));
    CHECK_STR(small, "[1,");

    int64_t n;
    double d;
    CHECK(troupe_as_int(&(msgpack_object){ .type = MSGPACK_OBJECT_FLOAT64,
                                           .via.f64 = 3.0 }, &n) && n == 3);
    CHECK(!troupe_as_int(&(msgpack_object){ .type = MSGPACK_OBJECT_FLOAT64,
                                            .via.f64 = 3.5 }, &n));
    CHECK(!troupe_as_int(&big, &n));
    CHECK(!troupe_as_int(&arr, &n));
    CHECK(troupe_as_double(&items[0], &d) && d == 1.0);
    CHECK(!troupe_as_double(&items[1], &d));
    CHECK_DONE();
}

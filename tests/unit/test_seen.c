/*  test_seen: every item is new exactly once, in any arrival order, and
    items arriving in order keep the set at one range; out of memory, an
    item that cannot be recorded is not called new. */
#include "check.h"
#include "wire/seen.h"

#include <errno.h>
#include <stdlib.h>

/*  This program's realloc is the one seen.c calls (the runtime is linked
    in whole): it fails while `no_memory` is set. */
extern void *__libc_realloc(void *, size_t);
static bool no_memory;

__attribute__((visibility("default"))) void *realloc(void *p, size_t size)
{
    if (no_memory) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, size);
}

/*  A set whose range list cannot grow says so (-1), for a new origin and
    for a gap; it records nothing then, and once memory is back the same
    item is new exactly once. It used to say "not seen" without recording,
    so that the actor took the item, and took it again when it came back. */
static void test_out_of_memory_is_not_new(void)
{
    seen_t s = { 0 };
    CHECK(seen_check(&s, 1, 0) == 0);
    for (uint64_t i = 2; i < 16; i += 2) /* 8 ranges: the list is full */
        CHECK(seen_check(&s, 1, i) == 0);
    no_memory = true;
    CHECK(seen_check(&s, 1, 100) == -1); /* a ninth range */
    CHECK(seen_check(&s, 9, 0) == -1);   /* a new origin */
    CHECK(seen_check(&s, 1, 15) == 0);   /* joins the last range: no memory needed */
    CHECK(seen_check(&s, 1, 4) == 1);
    no_memory = false;
    CHECK(seen_check(&s, 1, 100) == 0 && seen_check(&s, 1, 100) == 1);
    CHECK(seen_check(&s, 9, 0) == 0 && seen_check(&s, 9, 0) == 1);
    seen_clear(&s);
}

/*  A batch in order is taken as one range; one that overlaps what was
    seen, or comes before it, is refused whole (1: checked one by one
    then) and records nothing. */
static void test_range(void)
{
    seen_t s = { 0 };
    CHECK(seen_take_range(&s, 1, 100, 200) == 0); /* a first range */
    CHECK(seen_ranges(&s, 1) == 1);
    CHECK(seen_take_range(&s, 1, 200, 300) == 0); /* joins it */
    CHECK(seen_ranges(&s, 1) == 1);
    CHECK(seen_check(&s, 1, 299) == 1 && seen_check(&s, 1, 100) == 1);
    CHECK(seen_check(&s, 1, 99) == 0);
    CHECK(seen_take_range(&s, 1, 290, 310) == 1); /* overlaps: nothing taken */
    CHECK(seen_check(&s, 1, 305) == 0);
    CHECK(seen_take_range(&s, 1, 0, 10) == 0);    /* before, apart: taken */
    CHECK(seen_check(&s, 1, 5) == 1 && seen_check(&s, 1, 10) == 0);
    CHECK(seen_take_range(&s, 1, 400, 500) == 0); /* past a gap: a range of its own */
    CHECK(seen_check(&s, 1, 450) == 1 && seen_check(&s, 1, 399) == 0);
    /* now [0, 11) [99, 300) [305] [399, 500): out of order, as from two
       producers, into the gaps */
    CHECK(seen_take_range(&s, 1, 20, 30) == 0);   /* apart from both */
    CHECK(seen_ranges(&s, 1) == 5);
    CHECK(seen_take_range(&s, 1, 11, 20) == 0);   /* joins both sides */
    CHECK(seen_ranges(&s, 1) == 4);
    CHECK(seen_take_range(&s, 1, 30, 99) == 0);   /* closes the gap */
    CHECK(seen_ranges(&s, 1) == 3);
    CHECK(seen_take_range(&s, 1, 300, 305) == 0); /* joins the one before */
    CHECK(seen_take_range(&s, 1, 306, 399) == 0); /* and the last gap */
    CHECK(seen_ranges(&s, 1) == 1);
    CHECK(seen_take_range(&s, 1, 0, 500) == 1 && seen_take_range(&s, 1, 499, 501) == 1);
    CHECK(seen_check(&s, 1, 499) == 1 && seen_check(&s, 1, 500) == 0);
    CHECK(seen_take_range(&s, 1, 600, 700) == 0 && seen_take_range(&s, 1, 550, 601) == 1);
    CHECK(seen_take_range(&s, 1, 550, 600) == 0 && seen_ranges(&s, 1) == 2); /* joins the next */
    CHECK(seen_take_range(&s, 1, 501, 550) == 0 && seen_ranges(&s, 1) == 1);
    CHECK(seen_take_range(&s, 1, 7, 7) == 0);     /* empty */
    no_memory = true;
    CHECK(seen_take_range(&s, 2, 0, 10) == -1);   /* a new origin, no memory */
    no_memory = false;
    CHECK(seen_check(&s, 2, 0) == 0);
    seen_clear(&s);
}

int main(void)
{
    test_out_of_memory_is_not_new();
    test_range();
    seen_t s = { 0 };
    for (uint64_t i = 0; i < 1000; i++)
        CHECK(!seen_check(&s, 1, i));
    CHECK(seen_ranges(&s, 1) == 1);
    for (uint64_t i = 0; i < 1000; i += 7)
        CHECK(seen_check(&s, 1, i));
    CHECK(!seen_check(&s, 2, 5)); /* origins are separate */
    CHECK(seen_check(&s, 2, 5));

    /* a shuffled range: each first sight is new, each second is a repeat */
    enum { N = 5000 };
    uint64_t *order = malloc(N * sizeof *order);
    for (uint64_t i = 0; i < N; i++)
        order[i] = 10000 + i;
    srand(42);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int fresh = 0, repeats = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            if (seen_check(&s, 3, order[i]))
                repeats++;
            else
                fresh++;
        }
    CHECK(fresh == N && repeats == N);
    CHECK(seen_ranges(&s, 3) == 1); /* all merged back into one */
    CHECK(!seen_check(&s, 3, 9999));
    CHECK(seen_ranges(&s, 3) == 1);
    CHECK(!seen_check(&s, 3, 20000) && seen_ranges(&s, 3) == 2);
    free(order);

    /* a checkpoint's copy of the set answers as the set does */
    CHECK(!seen_check(&s, 7, 100) && !seen_check(&s, 7, 300));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    seen_pack(&s, &pk);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    CHECK(msgpack_unpack(sb.data, sb.size, NULL, &zone, &o) == MSGPACK_UNPACK_SUCCESS);
    seen_t back = { 0 };
    CHECK(seen_unpack(&back, &o) == 0);
    CHECK(seen_check(&back, 1, 999) && seen_check(&back, 3, 12345));
    CHECK(seen_check(&back, 7, 100) && seen_check(&back, 7, 300));
    CHECK(!seen_check(&back, 7, 200) && !seen_check(&back, 1, 1000));
    CHECK(seen_ranges(&back, 3) == seen_ranges(&s, 3));
    seen_clear(&back);
    /* damaged: [[1, [5, 3]]] (an empty range), [[1, [1, 5, 4, 9]]]
       (overlapping), [[1, [1, 2]], [1, [3, 4]]] (an origin twice), {} */
    for (int i = 0; i < 4; i++) {
        msgpack_sbuffer_clear(&sb);
        if (i == 0) { msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2);
            msgpack_pack_uint32(&pk, 1); msgpack_pack_array(&pk, 2);
            msgpack_pack_uint64(&pk, 5); msgpack_pack_uint64(&pk, 3); }
        if (i == 1) { msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 2);
            msgpack_pack_uint32(&pk, 1); msgpack_pack_array(&pk, 4);
            msgpack_pack_uint64(&pk, 1); msgpack_pack_uint64(&pk, 5);
            msgpack_pack_uint64(&pk, 4); msgpack_pack_uint64(&pk, 9); }
        if (i == 2) { msgpack_pack_array(&pk, 2);
            for (int k = 0; k < 2; k++) { msgpack_pack_array(&pk, 2);
                msgpack_pack_uint32(&pk, 1); msgpack_pack_array(&pk, 2);
                msgpack_pack_uint64(&pk, 1 + 2 * k); msgpack_pack_uint64(&pk, 2 + 2 * k); } }
        if (i == 3)
            msgpack_pack_map(&pk, 0);
        CHECK(msgpack_unpack(sb.data, sb.size, NULL, &zone, &o) == MSGPACK_UNPACK_SUCCESS);
        CHECK(seen_unpack(&back, &o) == -1 && back.n == 0);
    }
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
    seen_clear(&s);
    CHECK_DONE();
}

/*  test_seen: every item is new exactly once, in any arrival order, and
    items arriving in order keep the set at one range. */
#include "check.h"
#include "seen.h"

#include <stdlib.h>

int main(void)
{
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
    seen_clear(&s);
    CHECK_DONE();
}

/*  embed_check.h: what the embedding API's tests check with. CHECK, when
    the test has none of its own (../unit/check.h's), counts a failure and
    says troupe_error () beside it; AFTER_A_FAILURE(call): `call` succeeds
    right after a call that failed (troupe_value_cstr (NULL)), and leaves
    troupe_error () "" as troupe.h says.
*/
#ifndef TR_EMBED_CHECK_H
#define TR_EMBED_CHECK_H

#include "troupe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef CHECK
static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s (troupe_error: '%s')\n", __FILE__, \
                    __LINE__, #cond, troupe_error());                          \
            failures++;                                                        \
        }                                                                      \
    } while (0)
#endif

/*  Monotonic seconds. */
static inline double embed_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  The whole sleep, a signal's handler run or not. */
static inline void embed_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*  A test program's tests, run in order by embed_run: only those whose
    name holds `only` when it is not NULL (a program's first argument),
    each with an "ok:" or "FAIL:" line and its time. Returns how many
    checks failed in them (CHECK's count, when it is ours). */
typedef struct {
    const char *name;
    void (*fn)(void);
} embed_test_t;

static inline int embed_run(const embed_test_t *tests, size_t n, const char *only,
                            const int *failed)
{
    for (size_t i = 0; i < n; i++) {
        if (only && !strstr(tests[i].name, only))
            continue;
        int before = *failed;
        double t0 = embed_now();
        tests[i].fn();
        printf("%s %s (%.2f s)\n", *failed == before ? "ok:" : "FAIL:", tests[i].name,
               embed_now() - t0);
        fflush(stdout);
    }
    if (*failed)
        fprintf(stderr, "%d check(s) failed\n", *failed);
    return *failed;
}

#define AFTER_A_FAILURE(call)                                                  \
    do {                                                                       \
        CHECK(troupe_value_cstr(NULL) == NULL && *troupe_error() != '\0');     \
        CHECK(call);                                                           \
        CHECK(*troupe_error() == '\0');                                        \
    } while (0)

#endif

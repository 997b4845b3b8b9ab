/*  embed_check.h: what the embedding API's tests check with. CHECK, when
    the test has none of its own (../unit/check.h's), counts a failure and
    says troupe_error () beside it; AFTER_A_FAILURE(call): `call` succeeds
    right after a call that failed (troupe_value_cstr (NULL)), and leaves
    troupe_error () "" as troupe.h says.
*/
#ifndef TR_EMBED_CHECK_H
#define TR_EMBED_CHECK_H

#include "troupe.h"

#include <stdio.h>

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

#define AFTER_A_FAILURE(call)                                                  \
    do {                                                                       \
        CHECK(troupe_value_cstr(NULL) == NULL && *troupe_error() != '\0');     \
        CHECK(call);                                                           \
        CHECK(*troupe_error() == '\0');                                        \
    } while (0)

#endif

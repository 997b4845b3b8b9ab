/*  test_api: what runtime/host/api.c gives modules, on a context made by
    hand (no actor process): troupe_arg_path resolves relative paths from
    the config's folder once per text, so that a module calling it for
    every item does not grow the actor's memory with each call. */
#include "check.h"
#include "host/host.h"

#include <stdlib.h>
#include <string.h>

static void test_arg_path_is_made_once_per_text(void)
{
    host_arg_t args[] = { { "file", "in.txt" }, { "out", "/abs/out.txt" },
                          { "std", "-" } };
    troupe_ctx_t ctx = { .args = args, .nargs = 3, .base_dir = "/cfg" };
    const char *first = troupe_arg_path(&ctx, "file", NULL);
    CHECK_STR(first, "/cfg/in.txt");
    for (int i = 0; i < 1000; i++)
        CHECK(troupe_arg_path(&ctx, "file", NULL) == first);
    CHECK(ctx.npaths == 1);
    /* a fallback is a text like any other */
    const char *dflt = troupe_arg_path(&ctx, "missing", "data/default.txt");
    CHECK_STR(dflt, "/cfg/data/default.txt");
    CHECK(troupe_arg_path(&ctx, "missing", "data/default.txt") == dflt);
    CHECK(ctx.npaths == 2);
    /* absolute, "-" and unset: as they are, nothing made */
    CHECK_STR(troupe_arg_path(&ctx, "out", NULL), "/abs/out.txt");
    CHECK_STR(troupe_arg_path(&ctx, "std", NULL), "-");
    CHECK(troupe_arg_path(&ctx, "missing", NULL) == NULL);
    CHECK(ctx.npaths == 2);
    for (int i = 0; i < ctx.npaths; i++)
        free(ctx.paths[i]);
    free(ctx.paths);
}

int main(void)
{
    test_arg_path_is_made_once_per_text();
    CHECK_DONE();
}

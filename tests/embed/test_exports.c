/*  test_exports.c: a program that defines names libtroupe uses inside
    (rundir_make, say, place and more, all of which libtroupe.so exported
    once) still gets right answers from a pool: the library exports
    troupe_* only, so its internal calls never reach the program's
    functions. Built with export_dynamic, so that every name here is in the
    program's dynamic symbol table, where the loader would find it first.
    Each of them aborts: a call from libtroupe would kill the test.
*/
#include "troupe.h"
#include "embed_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void called(const char *name)
{
    fprintf(stderr, "FAIL: libtroupe called this program's %s ()\n", name);
    abort();
}

/*  Names of libtroupe's internals, with signatures of our own: only the
    names matter. Each was in `nm -D libtroupe.so` before the version
    script; all but place are on the path of a pool map (the caller's
    process, or a worker that is this program started again). */
void rundir_make(void);
void say(void);
void place(void);
void plan_pack(void);
void ctl_send(void);
void env_decode(void);
void chan_out_new(void);
void module_resolve(void);
void tr_error(void);
void actor_run_embedded(void);

void rundir_make(void) { called("rundir_make"); }
void say(void) { called("say"); }
void place(void) { called("place"); }
void plan_pack(void) { called("plan_pack"); }
void ctl_send(void) { called("ctl_send"); }
void env_decode(void) { called("env_decode"); }
void chan_out_new(void) { called("chan_out_new"); }
void module_resolve(void) { called("module_resolve"); }
void tr_error(void) { called("tr_error"); }
void actor_run_embedded(void) { called("actor_run_embedded"); }


static int triple_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (!troupe_as_int(v, &n)) {
        troupe_fail(ctx, "not a number");
        return TROUPE_ERROR;
    }
    return troupe_emit_int(ctx, 3 * n);
}

static const troupe_module_t triple_module = {
    .abi_version = TROUPE_ABI_VERSION,
    .name = "triple",
    .message = triple_message,
};

/*  0 .. N-1 through the pool: i * i from square, 3 * i from triple. */
static void map_through(troupe_pool_t *pool, bool square)
{
    enum { N = 1000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
        out[i] = -1;
    }
    CHECK(pool != NULL);
    if (!pool)
        return;
    CHECK(troupe_pool_map_int(pool, in, out, N) == 0);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += out[i] != (square ? (int64_t)i * i : 3 * (int64_t)i);
    CHECK(wrong == 0);
    CHECK(troupe_pool_close(pool) == 0);
    troupe_pool_destroy(&pool);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    /* a built-in module, in troupe-actor workers */
    map_through(troupe_pool_new("square", 2, NULL), true);
    /* a module of this program: the workers are this program again */
    map_through(troupe_pool_new_module(&triple_module, 2, NULL), false);
    /* a failure goes through the library's own error path, not ours */
    troupe_pool_t *bad = troupe_pool_new("no-such-module", 1, NULL);
    CHECK(bad == NULL);
    CHECK(strstr(troupe_error(), "no-such-module") != NULL);
    printf("%s: a program that defines libtroupe's internal names\n",
           failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

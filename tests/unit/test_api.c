/*  test_api: what runtime/host/api.c gives modules, on a context made by
    hand (no actor process): troupe_arg_path resolves relative paths from
    the config's folder once per text, so that a module calling it for
    every item does not grow the actor's memory with each call; maps and
    arrays emitted a piece at a time are one value each, whole, and one
    short of pieces fails its item; troupe_get and its kin read them back. */
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

/*  A context in a hook, its group packed as the host packs it. */
static void hook_ctx(troupe_ctx_t *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    msgpack_sbuffer_init(&ctx->group_sb);
    msgpack_packer_init(&ctx->group_pk, ctx, host_group_write);
    host_group_reset(ctx);
    ctx->in_hook = true;
}

/*  The group's values, decoded: how many, into vals[]. */
static int group_values(troupe_ctx_t *ctx, msgpack_zone *zone, msgpack_object *vals, int max)
{
    size_t off = 0;
    int n = 0;
    while (n < max && off < ctx->group_sb.size
           && msgpack_unpack(ctx->group_sb.data, ctx->group_sb.size, &off, zone, &vals[n]) > 0)
        n++;
    return n;
}

static void test_maps_and_arrays_a_piece_at_a_time(void)
{
    troupe_ctx_t ctx;
    hook_ctx(&ctx);
    /* {"word": "fox", "n": 2, "at": [1, [], {}]} then 7 */
    CHECK(troupe_emit_map(&ctx, 3) == 0);
    CHECK(troupe_emit_cstr(&ctx, "word") == 0 && troupe_emit_strn(&ctx, "foxes", 3) == 0);
    CHECK(ctx.group_n == 0); /* not whole yet */
    CHECK(troupe_emit_cstr(&ctx, "n") == 0 && troupe_emit_int(&ctx, 2) == 0);
    CHECK(troupe_emit_cstr(&ctx, "at") == 0 && troupe_emit_array(&ctx, 3) == 0);
    CHECK(troupe_emit_int(&ctx, 1) == 0 && troupe_emit_array(&ctx, 0) == 0);
    CHECK(troupe_emit_map(&ctx, 0) == 0);
    CHECK(ctx.group_n == 1 && ctx.nest == 0);
    CHECK(troupe_emit_int(&ctx, 7) == 0 && ctx.group_n == 2);
    CHECK(host_group_close(&ctx));
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object v[4];
    CHECK(group_values(&ctx, &zone, v, 4) == 2);
    char text[128];
    troupe_format(&v[0], text, sizeof text);
    CHECK_STR(text, "{\"word\": \"fox\", \"n\": 2, \"at\": [1, [], {}]}");
    size_t len = 0;
    const char *w = troupe_get_strn(&v[0], "word", &len);
    CHECK(w && len == 3 && memcmp(w, "fox", 3) == 0);
    int64_t n = 0, at0 = 0;
    CHECK(troupe_get_int(&v[0], "n", &n) && n == 2);
    CHECK(troupe_as_int(troupe_at(troupe_get(&v[0], "at"), 0), &at0) && at0 == 1);
    CHECK(troupe_at(troupe_get(&v[0], "at"), 3) == NULL);
    CHECK(troupe_get(&v[0], "none") == NULL && troupe_get(NULL, "n") == NULL);
    CHECK(!troupe_get_int(&v[0], "word", &n)); /* a string, not a number */
    CHECK(troupe_get(&v[1], "n") == NULL && troupe_at(&v[1], 0) == NULL);

    /* short of a piece when the hook returns: dropped, and the item fails */
    host_group_reset(&ctx);
    ctx.in_hook = true;
    CHECK(troupe_emit_int(&ctx, 1) == 0);
    CHECK(troupe_emit_array(&ctx, 2) == 0 && troupe_emit_int(&ctx, 5) == 0);
    CHECK(!host_group_close(&ctx) && ctx.failed);
    CHECK(strstr(ctx.error, "still needed 1 piece when the hook returned"));
    CHECK(ctx.group_n == 1);
    msgpack_zone_clear(&zone);
    CHECK(group_values(&ctx, &zone, v, 4) == 1); /* the 1 alone */
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&ctx.group_sb);
}

/*  A string or binary longer than msgpack's 32-bit lengths fails its item
    with the reason, packing nothing (it would have said a wrong length and
    made its batch unreadable); nothing of it is read. */
static void test_too_long_fails_the_item(void)
{
    troupe_ctx_t ctx;
    hook_ctx(&ctx);
    const char *p = "x"; /* never read past: refused on its length */
    CHECK(troupe_emit_strn(&ctx, p, (size_t)UINT32_MAX + 1) == -1);
    CHECK(ctx.failed && strstr(ctx.error, "longer than msgpack can say"));
    CHECK(ctx.group_n == 0 && ctx.group_sb.size == 0);
    ctx.failed = false;
    CHECK(troupe_emit_bytes(&ctx, p, (size_t)UINT32_MAX + 7) == -1 && ctx.failed);
    CHECK(ctx.group_n == 0 && ctx.group_sb.size == 0);
    msgpack_sbuffer_destroy(&ctx.group_sb);
}

/*  troupe_emit_key gives the next value, and it alone, a key: the hash a
    string value of those bytes has as its own key (chan_key_hash); values
    before it and after it have none (0: the channel's key). Only in a
    hook. */
static void test_emit_key_marks_one_value(void)
{
    troupe_ctx_t ctx;
    hook_ctx(&ctx);
    CHECK(troupe_emit_int(&ctx, 1) == 0);
    CHECK(troupe_emit_key(&ctx, "fox", 3) == 0);
    CHECK(troupe_emit_int(&ctx, 2) == 0);
    CHECK(troupe_emit_int(&ctx, 3) == 0);
    CHECK(ctx.group_n == 3 && ctx.key_n == 3 && ctx.keys[2] == 0);
    CHECK(ctx.keys[0] == 0 && ctx.keys[1] == chan_key_hash("fox", 3));
    host_group_reset(&ctx);
    CHECK(ctx.key_n == 0 && ctx.next_key == 0);
    ctx.in_hook = false;
    CHECK(troupe_emit_key(&ctx, "fox", 3) == -1);
    free(ctx.keys);
    msgpack_sbuffer_destroy(&ctx.group_sb);
}

/*  troupe_hash: what a keyed channel homes a string with, bytes only:
    every length around the 4- and 8-byte reads hashes apart from its
    neighbours (a trailing NUL, one byte changed at either end). */
static void test_hash_tells_near_strings_apart(void)
{
    char a[40], b[40];
    memset(a, 'x', sizeof a);
    CHECK(troupe_hash(NULL, 0) == troupe_hash("", 0));
    CHECK(troupe_hash("fox", 3) == troupe_hash("foxes", 3));
    for (size_t n = 1; n < sizeof a - 1; n++) {
        CHECK(troupe_hash(a, n) != troupe_hash(a, n + 1));
        memcpy(b, a, n);
        b[0] = 'y';
        CHECK(troupe_hash(a, n) != troupe_hash(b, n));
        memcpy(b, a, n);
        b[n - 1] = 'y';
        CHECK(troupe_hash(a, n) != troupe_hash(b, n));
    }
    CHECK(troupe_hash("a", 1) != troupe_hash("a\0", 2));
}

int main(void)
{
    test_hash_tells_near_strings_apart();
    test_emit_key_marks_one_value();
    test_too_long_fails_the_item();
    test_arg_path_is_made_once_per_text();
    test_maps_and_arrays_a_piece_at_a_time();
    CHECK_DONE();
}

/*  awkward: a test source that emits, once, one value of a kind JSON has no
    form for (kind = bin, ext, intkey, nan, inf, badutf8) or a uint64 above
    INT64_MAX (kind = bigu), so that the tests can see how jsonl_out refuses
    (or writes) what no built-in module produces. kind = deep emits `count`
    items (1), each `depth` arrays nested around its index, the innermost
    array empty when `empty` is true; with `how = object` through
    troupe_emit_object, else with troupe_emit_begin.
*/
#include <troupe.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void pack_deep(msgpack_packer *pk, int64_t depth, bool empty, uint64_t index)
{
    for (int64_t d = 0; d < depth; d++)
        msgpack_pack_array(pk, empty && d == depth - 1 ? 0 : 1);
    if (!empty || depth == 0)
        msgpack_pack_uint64(pk, index);
}

/*  The same value as a msgpack_object. */
static int emit_deep_object(troupe_ctx_t *ctx, int64_t depth, bool empty,
                            uint64_t index)
{
    /* by hand: msgpack-c's unpacker could not make one past 32 levels */
    msgpack_object *chain = calloc((size_t)depth + 1, sizeof *chain);
    if (!chain) {
        troupe_fail(ctx, "out of memory");
        return TROUPE_ERROR;
    }
    chain[depth].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    chain[depth].via.u64 = index;
    for (int64_t d = depth - 1; d >= 0; d--) {
        chain[d].type = MSGPACK_OBJECT_ARRAY;
        chain[d].via.array.size = empty && d == depth - 1 ? 0 : 1;
        chain[d].via.array.ptr = &chain[d + 1];
    }
    int rc = troupe_emit_object(ctx, &chain[0]);
    free(chain);
    return rc;
}

static int emit_deep(troupe_ctx_t *ctx, uint64_t index)
{
    int64_t depth = troupe_arg_int(ctx, "depth", 30);
    bool empty = troupe_arg_bool(ctx, "empty", false);
    if (!strcmp(troupe_arg(ctx, "how", "begin"), "object"))
        return emit_deep_object(ctx, depth, empty, index);
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (!pk)
        return TROUPE_ERROR;
    pack_deep(pk, depth, empty, index);
    return troupe_emit_end(ctx);
}

static int awkward_produce(troupe_ctx_t *ctx, uint64_t index)
{
    const char *kind = troupe_arg(ctx, "kind", "bin");
    if (!strcmp(kind, "deep")) {
        if (index >= (uint64_t)troupe_arg_int(ctx, "count", 1))
            return TROUPE_DONE;
        return emit_deep(ctx, index);
    }
    if (index > 0)
        return TROUPE_DONE;
    if (!strcmp(kind, "bin"))
        return troupe_emit_bytes(ctx, "\x01\x02", 2);
    if (!strcmp(kind, "nan"))
        return troupe_emit_double(ctx, NAN);
    if (!strcmp(kind, "inf"))
        return troupe_emit_double(ctx, INFINITY);
    if (!strcmp(kind, "badutf8"))
        return troupe_emit_strn(ctx, "\xff\xfe", 2);
    if (!strcmp(kind, "bigu"))
        return troupe_emit_uint(ctx, UINT64_MAX);
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (!pk)
        return TROUPE_ERROR;
    if (!strcmp(kind, "ext"))
        msgpack_pack_ext_with_body(pk, "x", 1, 7);
    else { /* intkey: {1: "one"} inside an array */
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 1);
        msgpack_pack_int(pk, 1);
        msgpack_pack_str_with_body(pk, "one", 3);
    }
    return troupe_emit_end(ctx);
}

static const char *const awkward_args[] = { "kind", "depth", "empty", "how", "count",
                                             NULL };

TROUPE_MODULE(.name = "awkward", .summary = "one value JSON cannot hold, for the tests",
              .args = awkward_args, .produce = awkward_produce);

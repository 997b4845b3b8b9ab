/*  awkward: a test source that emits, once, one value of a kind JSON has no
    form for (kind = bin, ext, intkey, nan, inf, badutf8) or a uint64 above
    INT64_MAX (kind = bigu), so that the tests can see how jsonl_out refuses
    (or writes) what no built-in module produces.
*/
#include <troupe.h>

#include <math.h>
#include <string.h>

static int awkward_produce(troupe_ctx_t *ctx, uint64_t index)
{
    if (index > 0)
        return TROUPE_DONE;
    const char *kind = troupe_arg(ctx, "kind", "bin");
    if (!strcmp(kind, "bin"))
        return troupe_emit_bytes(ctx, "\x01\x02", 2);
    if (!strcmp(kind, "nan"))
        return troupe_emit_double(ctx, NAN);
    if (!strcmp(kind, "inf"))
        return troupe_emit_double(ctx, INFINITY);
    if (!strcmp(kind, "badutf8"))
        return troupe_emit_str(ctx, "\xff\xfe", 2);
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

static const char *const awkward_args[] = { "kind", NULL };

TROUPE_MODULE(.name = "awkward", .summary = "one value JSON cannot hold, for the tests",
              .args = awkward_args, .produce = awkward_produce);

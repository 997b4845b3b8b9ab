/*  badsnap: a test module, tally's count with a snapshot hook that packs
    what `packs` says: one (a good snapshot, the count), nothing, two (two
    values), deep (arrays nested past what msgpack-c reads back) or fail
    (the hook fails). tests/failures.sh checks that a bad snapshot is
    reported by name and that the run still ends. */
#include <troupe.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t n;
    const char *packs;
} badsnap_t;

static int badsnap_start(troupe_ctx_t *ctx)
{
    badsnap_t *b = calloc(1, sizeof *b);
    troupe_set_state(ctx, b);
    if (!b)
        return TROUPE_ERROR;
    b->packs = troupe_arg(ctx, "packs", "one");
    return TROUPE_OK;
}

static int badsnap_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    (void)value;
    ((badsnap_t *)troupe_state(ctx))->n++;
    return TROUPE_OK;
}

static int badsnap_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    badsnap_t *b = troupe_state(ctx);
    if (!strcmp(b->packs, "nothing"))
        return TROUPE_OK;
    if (!strcmp(b->packs, "fail")) {
        troupe_fail(ctx, "badsnap: asked to fail");
        return TROUPE_ERROR;
    }
    if (!strcmp(b->packs, "deep")) {
        for (int i = 0; i < 40; i++)
            msgpack_pack_array(pk, 1);
        return msgpack_pack_uint64(pk, b->n) < 0 ? TROUPE_ERROR : TROUPE_OK;
    }
    msgpack_pack_uint64(pk, b->n);
    if (!strcmp(b->packs, "two"))
        msgpack_pack_uint64(pk, b->n);
    return TROUPE_OK;
}

static int badsnap_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    badsnap_t *b = troupe_state(ctx);
    if (state->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return TROUPE_ERROR;
    b->n = state->via.u64;
    return TROUPE_OK;
}

static int badsnap_flush(troupe_ctx_t *ctx)
{
    return troupe_emit_uint(ctx, ((badsnap_t *)troupe_state(ctx))->n);
}

static void badsnap_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const badsnap_args[] = { "packs", NULL };

TROUPE_MODULE(.name = "badsnap", .summary = "counts its input, snapshots as told (for tests)",
              .args = badsnap_args, .flags = TROUPE_STATEFUL, .start = badsnap_start,
              .message = badsnap_message, .snapshot = badsnap_snapshot,
              .restore = badsnap_restore, .flush = badsnap_flush, .stop = badsnap_stop);

/*  wordlen: an actor module of your own, built out of tree.

    For each line of text it takes, it emits one [word, length] pair per
    word (a run of ASCII letters) of at least `min` letters (an argument,
    default 1): one input, zero or more outputs. An input that is not a
    string fails that item, with a message the run reports.

    Build:  cc -shared -fPIC -o wordlen.so wordlen.c $(pkg-config --cflags --libs troupe)
    Use:    module = ./wordlen.so        (in a pipeline config)
*/
#include <troupe.h>

#include <ctype.h>
#include <stdlib.h>

typedef struct {
    int64_t min;
} wordlen_t;

static int wordlen_start(troupe_ctx_t *ctx)
{
    wordlen_t *w = malloc(sizeof *w);
    if (!w) {
        troupe_fail(ctx, "out of memory");
        return TROUPE_ERROR;
    }
    troupe_set_state(ctx, w);
    w->min = troupe_arg_int(ctx, "min", 1);
    if (troupe_failed(ctx)) /* e.g. min = lots: the message names it */
        return TROUPE_ERROR;
    if (w->min < 1) {
        troupe_fail(ctx, "argument 'min': %lld is less than 1", (long long)w->min);
        return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static int emit_pair(troupe_ctx_t *ctx, const char *word, size_t len)
{
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (!pk)
        return TROUPE_ERROR;
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, word, len);
    msgpack_pack_uint64(pk, len);
    return troupe_emit_end(ctx) == 0 ? TROUPE_OK : TROUPE_ERROR;
}

static int wordlen_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    const wordlen_t *w = troupe_state(ctx);
    if (value->type != MSGPACK_OBJECT_STR) {
        char text[64]; /* enough to show what it was; troupe_format truncates */
        troupe_format(value, text, sizeof text);
        troupe_fail(ctx, "wordlen: not text: %s", text);
        return TROUPE_ERROR; /* the run names the item; on_error decides */
    }
    /* the string points into the received message: read it, don't keep it */
    const char *p = value->via.str.ptr, *end = p + value->via.str.size;
    while (p < end) {
        while (p < end && !isalpha((unsigned char)*p))
            p++;
        const char *word = p;
        while (p < end && isalpha((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - word);
        if (len >= (size_t)w->min && emit_pair(ctx, word, len) != TROUPE_OK)
            return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static void wordlen_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const wordlen_args[] = { "min", NULL };

TROUPE_MODULE(.name = "wordlen",
              .summary = "each word of a line, with its length",
              .args = wordlen_args,
              .start = wordlen_start,
              .message = wordlen_message,
              .stop = wordlen_stop);

/*  parity: a test module that publishes each integer under a topic of its
    own, "even" or "odd" (troupe_set_topic), as {"n": N, "parity": TOPIC}
    (troupe_emit_map), for tests/channels.sh: items' own topics reach the
    subscribers whose prefixes match them, in order. With `read = true` it
    is the other end: each map's "n" (troupe_get_int), or the item fails.
*/
#include <troupe.h>

static int field_n_message(troupe_ctx_t *ctx, const msgpack_object *value);

static int parity_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    if (troupe_arg_bool(ctx, "read", false))
        return field_n_message(ctx, value);
    int64_t n;
    if (!troupe_as_int(value, &n)) {
        troupe_fail(ctx, "parity: not an integer");
        return TROUPE_ERROR;
    }
    const char *topic = n % 2 ? "odd" : "even";
    if (troupe_set_topic(ctx, topic) < 0 || troupe_emit_map(ctx, 2) < 0)
        return TROUPE_ERROR;
    troupe_emit_cstr(ctx, "n");
    troupe_emit_int(ctx, n);
    troupe_emit_cstr(ctx, "parity");
    return troupe_emit_cstr(ctx, topic);
}

/*  its counterpart: the "n" of each map, or the item fails */
static int field_n_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t n;
    if (!troupe_get_int(value, "n", &n)) {
        troupe_fail(ctx, "field_n: no integer 'n'");
        return TROUPE_ERROR;
    }
    return troupe_emit_int(ctx, n);
}

static const char *const parity_args[] = { "read", NULL };

TROUPE_MODULE(.name = "parity", .summary = "each integer under the topic 'even' or 'odd'",
              .args = parity_args, .message = parity_message);

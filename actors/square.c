/*  square: each number squared. Integers stay integers (an overflow fails
    the item); doubles stay doubles; anything else fails the item.
*/
#include <troupe.h>

static int square_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t i, sq;
    if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER
        || value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (!troupe_as_int(value, &i) || __builtin_mul_overflow(i, i, &sq)) {
            troupe_fail(ctx, "square: the square of this integer overflows 64 bits");
            return TROUPE_ERROR;
        }
        return troupe_emit_int(ctx, sq);
    }
    double d;
    if (troupe_as_double(value, &d))
        return troupe_emit_double(ctx, d * d);
    troupe_fail(ctx, "square: not a number");
    return TROUPE_ERROR;
}

TROUPE_MODULE(.name = "square", .summary = "x -> x*x", .message = square_message);

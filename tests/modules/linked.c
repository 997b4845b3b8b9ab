/*  linked: a module built as one outside this tree is, linked with
    libtroupe (`pkg-config --libs troupe` gives -ltroupe), for
    tests/unit/test_module.c. Besides its descriptor it exports what its
    own references to two troupe_ functions resolved to, so the test can
    see which copy of the runtime the module is bound to.
*/
#include <troupe.h>

static int linked_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    return troupe_emit_object(ctx, value);
}

TROUPE_MODULE(.name = "linked", .summary = "passes its input through",
              .message = linked_message);

__attribute__((visibility("default"))) void *linked_emit_object(void);
__attribute__((visibility("default"))) void *linked_error(void);

void *linked_emit_object(void)
{
    return (void *)troupe_emit_object;
}

void *linked_error(void)
{
    return (void *)troupe_error;
}

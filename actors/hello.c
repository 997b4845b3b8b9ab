/*  hello: each instance says who it is, once: "MESSAGE N of M" with its
    instance number. A source for start/join demos.
*/
#include <troupe.h>

#include <stdio.h>

static int hello_produce(troupe_ctx_t *ctx, uint64_t index)
{
    static __thread bool said;
    (void)index;
    if (said)
        return TROUPE_DONE;
    said = true;
    char line[256];
    snprintf(line, sizeof line, "%s %u of %u",
             troupe_arg(ctx, "message", "hello from worker"), troupe_instance(ctx),
             troupe_instances(ctx));
    return troupe_emit_cstr(ctx, line);
}

static const char *const hello_args[] = { "message", NULL };

TROUPE_MODULE(.name = "hello", .summary = "each instance emits one greeting",
              .args = hello_args, .produce = hello_produce);

/*  troupe.h: the one header an actor module includes.

    A module is a shared object that exports one descriptor, `troupe_module`,
    built with TROUPE_MODULE (...). The runtime loads it with dlopen, checks its
    ABI version, and calls its hooks; every hook is optional (NULL: nothing to
    do). Values travel as msgpack: a handler receives a decoded
    msgpack_object and emits values with one call each.

    Ownership: nothing a hook receives outlives the call (copy what you keep).
    Errors: hooks return TROUPE_OK, TROUPE_DONE (a source has no more items)
    or TROUPE_ERROR after troupe_fail () has said why.
*/
#ifndef TROUPE_H_INCLUDED
#define TROUPE_H_INCLUDED

#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TROUPE_VERSION_MAJOR 0
#define TROUPE_VERSION_MINOR 1
#define TROUPE_VERSION_PATCH 0

/*  Bumped whenever troupe_module_t or a hook's signature changes; the runtime
    refuses a module built for another ABI. */
#define TROUPE_ABI_VERSION 1

enum {
    TROUPE_OK = 0,
    TROUPE_DONE = 1,  /* produce: the source has no item at this index or later */
    TROUPE_LATER = 2, /* produce: nothing ready yet (see troupe_wait_readable) */
    TROUPE_ERROR = -1 /* after troupe_fail (): the item (or start) failed */
};

/* Module flags. */
#define TROUPE_STATEFUL 0x1u /* keeps state across items: inputs are deduplicated */
#define TROUPE_ORDERED 0x2u  /* wants input in source order unless the config
                                says `ordered = false` (sinks such as print) */

typedef struct _troupe_ctx_t troupe_ctx_t;

/*  start: once, before any item; read arguments here, keep state with
    troupe_set_state. Return TROUPE_ERROR (after troupe_fail) to refuse. */
typedef int(troupe_start_fn)(troupe_ctx_t *ctx);
/*  message: once per input value; emit zero or more values. */
typedef int(troupe_message_fn)(troupe_ctx_t *ctx, const msgpack_object *value);
/*  produce: a source's hook. Emit the item numbered `index` (zero or more
    values) and return TROUPE_OK, or return TROUPE_DONE when there is none.
    Indexes reach one instance in increasing order; with several instances
    each sees its own share of them. */
typedef int(troupe_produce_fn)(troupe_ctx_t *ctx, uint64_t index);
/*  flush: after the last input; reducers emit their result here. */
typedef int(troupe_flush_fn)(troupe_ctx_t *ctx);
/*  stop: last call; free what start allocated. */
typedef void(troupe_stop_fn)(troupe_ctx_t *ctx);
/*  idle: the actor has handled all it was given and is about to wait for
    more. A sink that buffers its output writes it out here, so that a slow
    trickle of items is not held back. It may not emit. */
typedef void(troupe_idle_fn)(troupe_ctx_t *ctx);

typedef struct {
    uint32_t abi_version; /* TROUPE_ABI_VERSION */
    const char *name;
    const char *summary;    /* one line, for `troupe modules` and errors */
    const char *const *args; /* NULL-terminated argument names, NULL: any */
    uint32_t flags;
    troupe_start_fn *start;
    troupe_message_fn *message;
    troupe_produce_fn *produce;
    troupe_flush_fn *flush;
    troupe_stop_fn *stop;
    troupe_idle_fn *idle;
} troupe_module_t;

/*  Declares the module's descriptor; use once per module, at file scope:
        TROUPE_MODULE (.name = "square", .message = square_message);  */
#define TROUPE_MODULE(...)                                                     \
    __attribute__((visibility("default"))) const troupe_module_t troupe_module \
        = { .abi_version = TROUPE_ABI_VERSION, __VA_ARGS__ }

/* ---- emitting values (from message, produce or flush) ------------------ */
/*  Each returns 0, or -1 when called outside a hook or on a full batch
    buffer that could not grow. */
int troupe_emit_int(troupe_ctx_t *ctx, int64_t value);
int troupe_emit_uint(troupe_ctx_t *ctx, uint64_t value);
int troupe_emit_double(troupe_ctx_t *ctx, double value);
int troupe_emit_bool(troupe_ctx_t *ctx, bool value);
int troupe_emit_nil(troupe_ctx_t *ctx);
/*  A string of `size` bytes (UTF-8 expected, not checked); copied. */
int troupe_emit_str(troupe_ctx_t *ctx, const char *data, size_t size);
/*  A NUL-terminated string; copied. */
int troupe_emit_cstr(troupe_ctx_t *ctx, const char *string);
int troupe_emit_bytes(troupe_ctx_t *ctx, const void *data, size_t size);
/*  Any decoded value, e.g. an input passed through unchanged. */
int troupe_emit_object(troupe_ctx_t *ctx, const msgpack_object *value);
/*  For values the helpers above do not cover: pack exactly one msgpack value
    with the returned packer, then call troupe_emit_end. The packer belongs to
    the runtime. */
msgpack_packer *troupe_emit_begin(troupe_ctx_t *ctx);
int troupe_emit_end(troupe_ctx_t *ctx);

/* ---- sources that wait ------------------------------------------------------ */
/*  From produce, when the item needs input from `fd` that has not come yet:
    returns TROUPE_LATER, which produce returns in turn. The runtime sends
    what it has batched, goes on with its other work (acks, control,
    heartbeats) and calls produce again with the same index once fd is
    readable. A source must not block in produce. */
int troupe_wait_readable(troupe_ctx_t *ctx, int fd);

/* ---- failing an item ----------------------------------------------------- */
/*  Records why the current item (or start) failed; then return TROUPE_ERROR.
    The run reports the item id and this message; the actor's policy decides
    whether the run goes on. */
void troupe_fail(troupe_ctx_t *ctx, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- arguments (the actor's `args` section in the config) --------------- */
/*  The argument's text, or `fallback` when it is not set. */
const char *troupe_arg(troupe_ctx_t *ctx, const char *name, const char *fallback);
/*  A file argument: relative paths are taken from the config file's folder
    (as module paths are), "-" and absolute paths stay as they are. The
    string belongs to the runtime until the actor stops; NULL when unset
    and fallback is NULL. */
const char *troupe_arg_path(troupe_ctx_t *ctx, const char *name, const char *fallback);
/*  Parsed arguments: on a malformed value they record a failure naming the
    argument and return `fallback`; troupe_failed () then says so. */
int64_t troupe_arg_int(troupe_ctx_t *ctx, const char *name, int64_t fallback);
double troupe_arg_double(troupe_ctx_t *ctx, const char *name, double fallback);
bool troupe_arg_bool(troupe_ctx_t *ctx, const char *name, bool fallback);
/*  True once troupe_fail was called for the current hook. */
bool troupe_failed(troupe_ctx_t *ctx);

/* ---- who am I ------------------------------------------------------------ */
const char *troupe_actor_name(troupe_ctx_t *ctx);
const char *troupe_pipeline_name(troupe_ctx_t *ctx);
/*  This process's instance number, 0 .. troupe_instances () - 1. */
unsigned troupe_instance(troupe_ctx_t *ctx);
unsigned troupe_instances(troupe_ctx_t *ctx);
/*  Id of the item being handled: its source's sequence number. */
uint64_t troupe_item_id(troupe_ctx_t *ctx);

/* ---- state and logging ----------------------------------------------------- */
void troupe_set_state(troupe_ctx_t *ctx, void *state);
void *troupe_state(troupe_ctx_t *ctx);
/*  One line on stderr, prefixed with time, actor and instance. */
void troupe_log(troupe_ctx_t *ctx, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- values ---------------------------------------------------------------- */
/*  Writes `value` as text into buf (always NUL-terminated when size > 0):
    integers in decimal, doubles in shortest round-trip form, strings raw at
    the top level, containers JSON-like. Returns the length the full text
    needs, like snprintf. */
size_t troupe_format(const msgpack_object *value, char *buf, size_t size);
/*  Reads an integer value (int, uint that fits, or a double with no
    fraction). Returns false when the value is not one. */
bool troupe_as_int(const msgpack_object *value, int64_t *out);
/*  Reads any number as a double. Returns false when the value is not one. */
bool troupe_as_double(const msgpack_object *value, double *out);

#ifdef __cplusplus
}
#endif
#endif

/*  troupe.h: the one public header: the actor module API, and the
    embedding API (pools, futures, processes, queues) at its end. What is
    not here is not API; libtroupe exports exactly what is declared here
    with TROUPE_EXPORT.

    Names: troupe_<object>_<verb> for functions (troupe_pool_map), nouns
    for what returns a value (troupe_actor_name), troupe_*_t for types,
    TROUPE_* for macros. A string argument is `_cstr` when it is
    NUL-terminated (troupe_emit_cstr, troupe_value_cstr) and `_strn` when it
    is bytes and a length (troupe_emit_strn, troupe_value_strn), and a
    reader that hands back bytes and a length is `_as_strn`; plain `_str`
    said either and is retired. A renamed call keeps its old name,
    deprecated, for one release (the end of this file).

    The module API:

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

/*  The version of this troupe.h (what a program was built against; meson
    checks these agree with the project's version). troupe_version (),
    below, is the library's, at run time. */
#define TROUPE_VERSION_MAJOR 0
#define TROUPE_VERSION_MINOR 1
#define TROUPE_VERSION_PATCH 0
#define TROUPE_MAKE_VERSION(major, minor, patch)                               \
    ((major) * 10000 + (minor) * 100 + (patch))
#define TROUPE_VERSION                                                         \
    TROUPE_MAKE_VERSION(TROUPE_VERSION_MAJOR, TROUPE_VERSION_MINOR,           \
                        TROUPE_VERSION_PATCH)

/*  Marks every function libtroupe exports. The library is built with
    -fvisibility=hidden and a version script (runtime/libtroupe.map): what
    is not declared here with TROUPE_EXPORT is not exported, so a program's
    own names never collide with the library's internals. */
#if defined(__GNUC__) || defined(__clang__)
#define TROUPE_EXPORT __attribute__((visibility("default")))
#else
#define TROUPE_EXPORT
#endif

/*  The version of the libtroupe running, which may be newer than the
    troupe.h the program was built with: "MAJOR.MINOR.PATCH" (static).
    major, minor and patch, when not NULL, get its numbers; compare
    TROUPE_MAKE_VERSION (*major, *minor, *patch) with TROUPE_VERSION. */
TROUPE_EXPORT const char *troupe_version(int *major, int *minor, int *patch);

/*  The module ABI a module is built for, in its descriptor. Fields are only
    ever added at the end of troupe_module_t, each with the ABI that brought
    it: the runtime reads a field only from a module built for that ABI or
    later, so a module built against an older troupe.h still loads (ABI 1:
    everything up to idle; ABI 2: snapshot and restore). A module built for
    a newer ABI than the runtime's is refused. */
#define TROUPE_ABI_VERSION 2
#define TROUPE_ABI_MIN 1

enum {
    TROUPE_OK = 0,
    TROUPE_DONE = 1,  /* produce: the source has no item at this index or later */
    TROUPE_LATER = 2, /* produce: nothing ready yet (see troupe_wait_readable) */
    TROUPE_ERROR = -1 /* after troupe_fail (): the item (or start) failed */
};

/* Module flags. */
#define TROUPE_STATEFUL 0x1u /* keeps state across items: inputs are deduplicated,
                                each item reaches the same instance, and without
                                snapshot and restore hooks a death fails the run
                                (docs/RELIABILITY.md) */
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
/*  snapshot (ABI 2): a checkpoint is being taken. Pack the module's whole
    state as exactly one msgpack value with `pk` (nil when there is none),
    and make durable what the items so far have done: a sink that buffers
    writes its buffer out here. The runtime keeps the value with the set of
    items it covers, and acknowledges those items upstream only then.
    Return TROUPE_OK, or TROUPE_ERROR (after troupe_fail) to skip this
    checkpoint. It may not emit. */
typedef int(troupe_snapshot_fn)(troupe_ctx_t *ctx, msgpack_packer *pk);
/*  restore (ABI 2): in a restarted instance, after start and before any
    item: take back the state that snapshot packed (borrowed: copy what
    you keep). The items the checkpoint did not cover come again, so the
    instance ends exactly where one that never died would. Return
    TROUPE_OK, or TROUPE_ERROR (after troupe_fail), which fails the run. */
typedef int(troupe_restore_fn)(troupe_ctx_t *ctx, const msgpack_object *state);

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
    /* ABI 2 */
    troupe_snapshot_fn *snapshot;
    troupe_restore_fn *restore;
} troupe_module_t;

/*  Declares the module's descriptor; use once per module, at file scope:
        TROUPE_MODULE (.name = "square", .message = square_message);  */
#define TROUPE_MODULE(...)                                                     \
    __attribute__((visibility("default"))) const troupe_module_t troupe_module \
        = { .abi_version = TROUPE_ABI_VERSION, __VA_ARGS__ }

/* ---- emitting values (from message, produce or flush) ------------------ */
/*  Each returns 0, or -1 when called outside a hook or when the value
    cannot travel: the batch buffer could not grow for it (out of memory),
    or it nests arrays and maps more than 29 deep (the most a batch can
    carry: msgpack-c decodes 32 levels, and the batch takes 3). Then the
    value is dropped whole and the item fails, saying why, whether or not
    the module looks at what this returned. */
TROUPE_EXPORT int troupe_emit_int(troupe_ctx_t *ctx, int64_t value);
TROUPE_EXPORT int troupe_emit_uint(troupe_ctx_t *ctx, uint64_t value);
TROUPE_EXPORT int troupe_emit_double(troupe_ctx_t *ctx, double value);
TROUPE_EXPORT int troupe_emit_bool(troupe_ctx_t *ctx, bool value);
TROUPE_EXPORT int troupe_emit_nil(troupe_ctx_t *ctx);
/*  A string of `size` bytes (UTF-8 expected, not checked); copied. */
TROUPE_EXPORT int troupe_emit_strn(troupe_ctx_t *ctx, const char *data, size_t size);
/*  A NUL-terminated string; copied. */
TROUPE_EXPORT int troupe_emit_cstr(troupe_ctx_t *ctx, const char *string);
TROUPE_EXPORT int troupe_emit_bytes(troupe_ctx_t *ctx, const void *data, size_t size);
/*  Any decoded value, e.g. an input passed through unchanged. */
TROUPE_EXPORT int troupe_emit_object(troupe_ctx_t *ctx, const msgpack_object *value);
/*  On a keyed output (a channel of `type = keyed`): the next value emitted
    goes to the instance that owns `key` (`size` bytes), rather than to the
    owner of the key the channel names; a key set so routes as a string
    value of the same bytes would (`troupe_emit_key (ctx, "fox", 3)` then
    any value meets the value "fox"). Other outputs ignore it. Returns 0,
    or -1 outside a hook. */
TROUPE_EXPORT int troupe_emit_key(troupe_ctx_t *ctx, const void *key, size_t size);
/*  A map of `n` entries, or an array of `n` elements, built with the
    calls above: the next 2n emits (for a map: a key, then its value, n
    times) or n emits are its pieces, and the whole is one value. A piece
    may be a map or array in turn. A hook that returns before the last
    piece fails its item, saying so:

        troupe_emit_map (ctx, 2);
        troupe_emit_cstr (ctx, "word");  troupe_emit_strn (ctx, w, len);
        troupe_emit_cstr (ctx, "n");     troupe_emit_int (ctx, 1);
*/
TROUPE_EXPORT int troupe_emit_map(troupe_ctx_t *ctx, uint32_t n);
TROUPE_EXPORT int troupe_emit_array(troupe_ctx_t *ctx, uint32_t n);
/*  On broadcast outputs, what the current item emits goes under `topic`
    (one word, under 256 bytes) rather than the actor's `topic`: to the
    subscribers with a prefix it starts with (ZeroMQ's model, a topic per
    message). Each item starts with the actor's. Returns 0, or -1 outside
    a hook or for a topic with a space or comma. */
TROUPE_EXPORT int troupe_set_topic(troupe_ctx_t *ctx, const char *topic);
/*  For values the helpers above do not cover: pack exactly one msgpack value
    with the returned packer, then call troupe_emit_end. The packer belongs to
    the runtime. */
TROUPE_EXPORT msgpack_packer *troupe_emit_begin(troupe_ctx_t *ctx);
TROUPE_EXPORT int troupe_emit_end(troupe_ctx_t *ctx);

/* ---- sources that wait ------------------------------------------------------ */
/*  From produce, when the item needs input from `fd` that has not come yet:
    returns TROUPE_LATER, which produce returns in turn. The runtime sends
    what it has batched, goes on with its other work (acks, control,
    heartbeats) and calls produce again with the same index once fd is
    readable. A source must not block in produce. */
TROUPE_EXPORT int troupe_wait_readable(troupe_ctx_t *ctx, int fd);

/* ---- how much a source will make ------------------------------------------ */
/*  This instance of a source will emit about `items` items in all: what
    the progress bar of `troupe run` counts towards. Call it from start or
    produce, again when the estimate changes; 0 means unknown (the default).
    Each instance announces its own share; the run adds them up, and knows
    the total once every instance of every source has announced or ended. */
TROUPE_EXPORT void troupe_set_total(troupe_ctx_t *ctx, uint64_t items);
/*  How many of the indexes 0 .. count-1 reach this instance's produce hook
    (instances share the index space): the share to announce for a source
    that stops at index `count`. */
TROUPE_EXPORT uint64_t troupe_index_share(troupe_ctx_t *ctx, uint64_t count);

/* ---- failing an item ----------------------------------------------------- */
/*  Records why the current item (or start) failed; then return TROUPE_ERROR.
    The run reports the item id and this message; the actor's policy decides
    whether the run goes on. */
TROUPE_EXPORT void troupe_fail(troupe_ctx_t *ctx, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- arguments (the actor's `args` section in the config) --------------- */
/*  The argument's text, or `fallback` when it is not set. */
TROUPE_EXPORT const char *troupe_arg(troupe_ctx_t *ctx, const char *name,
                                    const char *fallback);
/*  A file argument: relative paths are taken from the config file's folder
    (as module paths are), "-" and absolute paths stay as they are. The
    string belongs to the runtime until the actor stops, and is the same
    one at every call for the same text (made once: call it as often as
    you like); NULL when unset and fallback is NULL. */
TROUPE_EXPORT const char *troupe_arg_path(troupe_ctx_t *ctx, const char *name,
                                         const char *fallback);
/*  Parsed arguments: on a malformed value they record a failure naming the
    argument and return `fallback`; troupe_failed () then says so. */
TROUPE_EXPORT int64_t troupe_arg_int(troupe_ctx_t *ctx, const char *name,
                                     int64_t fallback);
TROUPE_EXPORT double troupe_arg_double(troupe_ctx_t *ctx, const char *name,
                                       double fallback);
TROUPE_EXPORT bool troupe_arg_bool(troupe_ctx_t *ctx, const char *name, bool fallback);
/*  True once troupe_fail was called for the current hook. */
TROUPE_EXPORT bool troupe_failed(troupe_ctx_t *ctx);

/* ---- who am I ------------------------------------------------------------ */
TROUPE_EXPORT const char *troupe_actor_name(troupe_ctx_t *ctx);
TROUPE_EXPORT const char *troupe_pipeline_name(troupe_ctx_t *ctx);
/*  This process's instance number, 0 .. troupe_instances () - 1. */
TROUPE_EXPORT unsigned troupe_instance(troupe_ctx_t *ctx);
TROUPE_EXPORT unsigned troupe_instances(troupe_ctx_t *ctx);
/*  Id of the item being handled: its source's sequence number. */
TROUPE_EXPORT uint64_t troupe_item_id(troupe_ctx_t *ctx);

/* ---- state and logging ----------------------------------------------------- */
TROUPE_EXPORT void troupe_set_state(troupe_ctx_t *ctx, void *state);
TROUPE_EXPORT void *troupe_state(troupe_ctx_t *ctx);
/*  One line on stderr, as the run's own events are written: time,
    pipeline/actor#instance, level ("info" here, "warning" for troupe_warn),
    text. `troupe run -q` drops both; an error is an item's or start's
    failure (troupe_fail), which the run reports. */
TROUPE_EXPORT void troupe_log(troupe_ctx_t *ctx, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
TROUPE_EXPORT void troupe_warn(troupe_ctx_t *ctx, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- values ---------------------------------------------------------------- */
/*  Writes `value` as text into buf (always NUL-terminated when size > 0):
    integers in decimal, doubles in shortest round-trip form, strings raw at
    the top level, containers JSON-like. Returns the length the full text
    needs, like snprintf. */
TROUPE_EXPORT size_t troupe_format(const msgpack_object *value, char *buf, size_t size);
/*  Reads an integer value (int, uint that fits, or a double with no
    fraction). Returns false when the value is not one. */
TROUPE_EXPORT bool troupe_as_int(const msgpack_object *value, int64_t *out);
/*  Reads any number as a double. Returns false when the value is not one. */
TROUPE_EXPORT bool troupe_as_double(const msgpack_object *value, double *out);
TROUPE_EXPORT bool troupe_as_bool(const msgpack_object *value, bool *out);
/*  A string value's bytes (not NUL-terminated: they point into the value)
    and, when size is not NULL, their length; NULL when it is not a string. */
TROUPE_EXPORT const char *troupe_as_strn(const msgpack_object *value, size_t *size);
/*  Field `name` of a map value (a string key), or NULL when the value is
    not a map or has no such field; element `index` of an array value, or
    NULL when it is not an array or has no such element. NULL is taken
    for a value, so that they chain: troupe_get (troupe_at (v, 0), "id"). */
TROUPE_EXPORT const msgpack_object *troupe_get(const msgpack_object *value, const char *name);
TROUPE_EXPORT const msgpack_object *troupe_at(const msgpack_object *value, size_t index);
/*  A map's field read as a type: false (or NULL) when it is missing or
    of another type, as troupe_as_int and the others say. */
TROUPE_EXPORT bool troupe_get_int(const msgpack_object *value, const char *name,
                                  int64_t *out);
TROUPE_EXPORT bool troupe_get_double(const msgpack_object *value, const char *name,
                                     double *out);
TROUPE_EXPORT const char *troupe_get_strn(const msgpack_object *value, const char *name,
                                          size_t *size);
/*  A 64-bit hash of size bytes, well spread in every bit, eight bytes at a
    time: the one a keyed channel finds a string's home with, for a
    module's own tables (actors/counter.c's). The same on every machine of
    one troupe version; not for a table an attacker fills (it has no
    secret seed). */
TROUPE_EXPORT uint64_t troupe_hash(const void *data, size_t size);


/* ==== embedding: pools, futures, processes and queues from a C program ====

    A program of your own drives troupe with the calls below, no config file
    and no `troupe run`: the workers are real troupe actor processes (same
    modules, same supervision, same wire format). docs/EMBEDDING.md has the
    whole story and examples/c/ one program per Python tutorial.

    Errors: a call that fails returns NULL or -1 and leaves a message for
    the calling thread in troupe_error (); every call that can fail so
    sets it to "" when it succeeds. Destructors and readers that cannot
    fail (troupe_value_get, troupe_future_result, ...) leave it as it is,
    so it can still be read after a cleanup. Nothing here calls exit (),
    prints to stdout, installs a signal handler or touches the caller's zmq
    context: each pool and queue has its own. */

/*  The calling thread's last error message: "" when its last call that
    can fail succeeded. Valid until the thread's next troupe call. */
TROUPE_EXPORT const char *troupe_error(void);

/*  Call first in main () when the program starts processes with functions
    of its own (troupe_process_start) or runs a module it defines itself
    (troupe_pool_new_module). Such workers are this program started again,
    as Python's spawn does; in them troupe_init runs the worker and exits,
    never returning. In the program itself it returns at once. */
TROUPE_EXPORT void troupe_init(int argc, char **argv);

/* ---- values: an owned msgpack value -------------------------------------- */
typedef struct troupe_value troupe_value_t;

/*  Constructors copy what they are given; each returns NULL when out of
    memory. The caller owns the value and frees it with troupe_value_destroy. */
TROUPE_EXPORT troupe_value_t *troupe_value_nil(void);
TROUPE_EXPORT troupe_value_t *troupe_value_bool(bool v);
TROUPE_EXPORT troupe_value_t *troupe_value_int(int64_t v);
TROUPE_EXPORT troupe_value_t *troupe_value_double(double v);
TROUPE_EXPORT troupe_value_t *troupe_value_cstr(const char *string); /* NUL-terminated */
TROUPE_EXPORT troupe_value_t *troupe_value_strn(const char *data, size_t size);
TROUPE_EXPORT troupe_value_t *troupe_value_bytes(const void *data, size_t size);
/*  Arrays of the common C types. */
TROUPE_EXPORT troupe_value_t *troupe_value_ints(const int64_t *v, size_t n);
TROUPE_EXPORT troupe_value_t *troupe_value_doubles(const double *v, size_t n);
TROUPE_EXPORT troupe_value_t *troupe_value_cstrs(const char *const *v, size_t n);
/*  A deep copy of any decoded value (e.g. a result, to keep it). */
TROUPE_EXPORT troupe_value_t *troupe_value_object(const msgpack_object *value);
/*  Exactly one packed msgpack value; NULL (EINVAL) when data is not one. */
TROUPE_EXPORT troupe_value_t *troupe_value_packed(const void *data, size_t size);
/*  Builds any value with a packer: pack exactly one value, then call
    troupe_value_end, which returns the value (NULL when it is not one). */
TROUPE_EXPORT msgpack_packer *troupe_value_begin(void);
TROUPE_EXPORT troupe_value_t *troupe_value_end(msgpack_packer *pk);

/*  The decoded value, owned by v. */
TROUPE_EXPORT const msgpack_object *troupe_value_get(const troupe_value_t *v);
/*  The packed bytes, owned by v. */
TROUPE_EXPORT const void *troupe_value_data(const troupe_value_t *v, size_t *size);
/*  Readers: false when v is not of that kind (see troupe_as_int). */
TROUPE_EXPORT bool troupe_value_as_int(const troupe_value_t *v, int64_t *out);
TROUPE_EXPORT bool troupe_value_as_double(const troupe_value_t *v, double *out);
/*  A string's or binary's bytes (not NUL-terminated), owned by v; NULL
    when v is neither. */
TROUPE_EXPORT const char *troupe_value_as_strn(const troupe_value_t *v, size_t *size);
/*  An array's first n members as integers (or doubles); returns how many
    the array holds, or -1 when v is not an array of numbers. */
TROUPE_EXPORT long troupe_value_as_ints(const troupe_value_t *v, int64_t *out, size_t n);
TROUPE_EXPORT long troupe_value_as_doubles(const troupe_value_t *v, double *out,
                                           size_t n);
/*  As troupe_format. */
TROUPE_EXPORT size_t troupe_value_format(const troupe_value_t *v, char *buf, size_t size);
TROUPE_EXPORT void troupe_value_destroy(troupe_value_t **v_p);

/* ---- pools: Pool (map, imap_unordered) and futures ------------------------- */
typedef struct troupe_pool troupe_pool_t;
typedef struct troupe_future troupe_future_t;

/*  A pool's options. Fields are only ever added at the end, and `size`
    says how far the caller's struct goes: the library reads the fields
    that size covers and takes the default (0) for the rest, so a program
    built against an older troupe.h runs unchanged with a newer libtroupe
    (and one built against a newer troupe.h has the fields this library
    does not know ignored). Start from one of the macros below, which set
    size, then set what you need:
        troupe_pool_opts_t o = TROUPE_POOL_OPTS_INIT;
        o.chunksize = 1;
    or, in C, in one expression (as TROUPE_MODULE does):
        troupe_pool_new ("square", 4, &TROUPE_POOL_OPTS (.chunksize = 1));
    A NULL opts means every default. Options whose size is 0 (a struct not
    started from a macro) are refused: NULL, errno EINVAL. */
typedef struct {
    size_t size; /* sizeof (troupe_pool_opts_t) where the caller was built */
    /*  Items per message to a worker, at most; 0: automatic (one item
        per batch until a worker has measured what one costs, so the
        first items go one to each idle worker; then batches of about
        10 ms of work, as `troupe run` sizes them, and in a map at most a
        quarter per worker of its items still to send). 1 is Python's
        chunksize=1. */
    unsigned chunksize;
    /*  The module's arguments: "name", "value" pairs, NULL-terminated. */
    const char *const *args;
    unsigned retries;       /* extra tries of an item that fails (0) */
    unsigned max_restarts;  /* worker restarts allowed ... (0: 10) */
    double restart_period;  /* ... within this many seconds (0: 5) */
    /*  Seconds a worker may go neither answering nor using CPU (a hook
        blocked for good) before it is killed as hung (0: 10); a hook
        that computes is never hung, one that waits longer needs more. */
    double hang;
    int verbose;            /* 1: worker restarts and the summary on stderr */
    /*  The pool's name in process titles ("troupe: NAME/work#0") and
        messages; NULL: the program's name. */
    const char *name;
    /*  (After 0.1.0.) Batches a worker may be sent besides the one it works
        on. 0: automatic: none until an item's cost is measured, so the
        first items go one to each idle worker; then one, but only while
        a batch is measured to take at most 10 ms, so that an idle worker
        never waits longer than that behind another's unstarted work.
        -1: never (a worker gets work only once it is done). k > 0: up
        to k always (at most 64), for cheap items whose cost varies. */
    int prefetch;
    /*  (After 0.1.0.) Python's maxtasksperchild: a worker that has
        handled this many items is replaced by a fresh process (0:
        never). It finishes the batch it is on (batches are cut to at
        most this many items: with chunksize 1, exactly this many), waits
        until its results are taken, and hands back the items it was sent
        ahead and has not started; no item is lost or run twice, and a
        replacement counts against no max_restarts nor makes an item
        poison. For modules that leak or hold what they should not. */
    unsigned maxtasksperchild;
    /*  New fields go here, each with the version that brought it. */
} troupe_pool_opts_t;

#ifdef __cplusplus
#define TROUPE_POOL_OPTS_INIT { sizeof (troupe_pool_opts_t) }
#else
#define TROUPE_POOL_OPTS_INIT { .size = sizeof (troupe_pool_opts_t) }
/*  Options as a compound literal: TROUPE_POOL_OPTS (.chunksize = 1). */
#define TROUPE_POOL_OPTS(...)                                                  \
    ((troupe_pool_opts_t){ .size = sizeof (troupe_pool_opts_t), __VA_ARGS__ })
#endif

/*  Starts `workers` processes (0: one per core) running a module: a
    built-in name ("square") or the path of a module's .so. opts may be
    NULL (defaults). Returns once every worker is ready, or NULL. */
TROUPE_EXPORT troupe_pool_t *troupe_pool_new(const char *module, unsigned workers,
                                             const troupe_pool_opts_t *opts);
/*  The same for a module the program defines itself: a descriptor at file
    scope (static const troupe_module_t m = { .abi_version =
    TROUPE_ABI_VERSION, ... }). Needs troupe_init in main. */
TROUPE_EXPORT troupe_pool_t *troupe_pool_new_module(const troupe_module_t *module,
                                                    unsigned workers,
                                                    const troupe_pool_opts_t *opts);

/*  Each item through the module; results[i] gets item i's result (the one
    value it emitted; nil for none, an array for several), owned by the
    caller. Returns 0, or -1 when an item failed (troupe_error names it
    and says why; no result is returned then) or the pool did. */
TROUPE_EXPORT int troupe_pool_map(troupe_pool_t *pool, troupe_value_t *const *items,
                                  size_t n, troupe_value_t **results);
/*  The same for integers and doubles in, integers (doubles) out. */
TROUPE_EXPORT int troupe_pool_map_int(troupe_pool_t *pool, const int64_t *in,
                                      int64_t *out, size_t n);
TROUPE_EXPORT int troupe_pool_map_double(troupe_pool_t *pool, const double *in,
                                         double *out, size_t n);

/*  Called in the caller's thread, once per item, in the order results come
    back: `result` (owned by troupe, valid during the call) or `error` (the
    item failed) is NULL. Return non-zero to stop early. */
typedef int(troupe_result_fn)(void *arg, size_t index, const msgpack_object *result,
                              const char *error);
/*  Python's imap_unordered: every item through the module, each result
    handed to fn as soon as it is back. Returns 0 when every item was
    handed over (failed items included), -1 when the pool failed or fn
    stopped early. */
TROUPE_EXPORT int troupe_pool_imap_unordered(troupe_pool_t *pool,
                                             troupe_value_t *const *items, size_t n,
                                             troupe_result_fn *fn, void *arg);

/*  Python's pool.map_async(f, xs): starts the map and returns at once with
    its handle (the caller's: destroy it), or NULL. The items are
    borrowed: they must stay as they are until the map is done, cancelled
    or destroyed. Get the results with a timeout, as Python's
    .get(timeout=t) does:

        troupe_mapresult_t *r = troupe_pool_map_async (pool, items, n);
        if (troupe_mapresult_get (r, 5.0, results) < 0 && errno == ETIMEDOUT)
            ...not done in 5 s: get again, or give it up...
        troupe_mapresult_destroy (&r);

    The map goes on after a timeout, as Python's does, until it is done
    or the handle is cancelled or destroyed. */
typedef struct troupe_mapresult troupe_mapresult_t;
TROUPE_EXPORT troupe_mapresult_t *troupe_pool_map_async(troupe_pool_t *pool,
                                                        troupe_value_t *const *items,
                                                        size_t n);
/*  Waits until the map is done (timeout in seconds; < 0: forever): 0, or
    -1 on timeout (errno ETIMEDOUT). Python's .wait(t). */
TROUPE_EXPORT int troupe_mapresult_wait(troupe_mapresult_t *r, double timeout);
/*  True once it is done: every result is back, an item failed, or it was
    cancelled (Python's .ready()). */
TROUPE_EXPORT bool troupe_mapresult_ready(troupe_mapresult_t *r);
/*  Waits as troupe_mapresult_wait, then results[i] gets item i's result,
    the caller's from now on (as troupe_pool_map's): 0. -1 on timeout
    (ETIMEDOUT; nothing taken, the map goes on), when an item failed
    (troupe_error names the one of lowest index), the map was cancelled
    (ECANCELED), the pool failed, or an earlier get took the results. */
TROUPE_EXPORT int troupe_mapresult_get(troupe_mapresult_t *r, double timeout,
                                       troupe_value_t **results);
/*  Gives the map up, at once: as troupe_pool_cancel does for all the
    pool's work, but for this map alone: its items not yet handed to a
    worker never run, the results of those under way are dropped when
    they come, a get returns -1 with errno ECANCELED. The pool and the
    rest of its work go on. 0, or -1 for a NULL handle. */
TROUPE_EXPORT int troupe_mapresult_cancel(troupe_mapresult_t *r);
/*  Frees the handle; a map not done is cancelled first (its items are no
    longer read once this returns). Results a get took are the caller's. */
TROUPE_EXPORT void troupe_mapresult_destroy(troupe_mapresult_t **r_p);

/*  Python's pool.imap(f, xs): every item through the module, the results
    handed out in input order, each as soon as it and those before it are
    back. Returns the iterator (the caller's: destroy it), or NULL. The
    items are borrowed as map_async's are, and read only as the pool
    sends them; a result that comes before its turn is held until the
    ones before it are back, and no longer. */
typedef struct troupe_imap troupe_imap_t;
TROUPE_EXPORT troupe_imap_t *troupe_pool_imap(troupe_pool_t *pool,
                                              troupe_value_t *const *items, size_t n);
/*  The next item's result, waiting up to timeout seconds (< 0: forever):
    0, and *result is the caller's; TROUPE_DONE when every item was
    handed out (Python's StopIteration), *result NULL. -1 when:
    errno ETIMEDOUT: not back yet; nothing was taken, call again;
    errno EIO: this item failed (troupe_error names it and says why) and
    the iterator has moved past it, as Python's next () raises the
    item's exception and goes on; errno ECANCELED: cancelled (by
    troupe_pool_cancel); else the pool failed, and so does every later
    call. */
TROUPE_EXPORT int troupe_imap_next(troupe_imap_t *it, troupe_value_t **result,
                                   double timeout);
/*  Frees the iterator; the items it has not handed out are cancelled, as
    troupe_mapresult_destroy does. */
TROUPE_EXPORT void troupe_imap_destroy(troupe_imap_t **it_p);

/*  One item, now: returns its future (the caller's; destroy it), or NULL. */
TROUPE_EXPORT troupe_future_t *troupe_pool_submit(troupe_pool_t *pool,
                                                  const troupe_value_t *item);

/*  No more work: waits for what was submitted and for every process to
    exit. Returns 0, or -1 when the pool had failed (troupe_error says why).
    Futures stay readable. */
TROUPE_EXPORT int troupe_pool_close(troupe_pool_t *pool);
/*  Frees the pool; one not closed is terminated: its processes are killed
    and reaped, its pending futures fail. Futures stay readable. */
TROUPE_EXPORT void troupe_pool_destroy(troupe_pool_t **pool_p);
/*  Ends the work pending on the pool: every map, imap_unordered and
    future not done fails at once with "cancelled" (a map or imap returns
    -1 with errno ECANCELED); items not yet handed to a worker are never
    run, and the results of those a worker has started are dropped when
    they come. The pool stays usable: close waits for the started items,
    destroy ends them. Safe in a signal handler (it only counts the call
    and writes to an eventfd; the pool's thread does the rest a moment
    later) and from any thread; it never touches troupe_error. Only work
    submitted before the call is cancelled, never what comes after. Returns 0, or -1 with
    errno EINVAL for a NULL pool (so a handler may call it with a pool
    pointer it has cleared). The pool must not be destroyed while a
    handler may still call it: clear the pointer the handler reads first. */
TROUPE_EXPORT int troupe_pool_cancel(troupe_pool_t *pool);

/*  Waits until the future is done (timeout in seconds; < 0: forever).
    Returns 0 when done, -1 on timeout (errno ETIMEDOUT). */
TROUPE_EXPORT int troupe_future_wait(troupe_future_t *f, double timeout);
TROUPE_EXPORT bool troupe_future_done(const troupe_future_t *f);
/*  The result once done (owned by the future), or NULL when the item failed
    or is not done. */
TROUPE_EXPORT const msgpack_object *troupe_future_result(const troupe_future_t *f);
/*  Why the item failed (owned by the future), or NULL. A worker crash is
    not a failure (the item goes to another worker) unless the pool gives
    up on its workers: then every pending future fails with the reason. */
TROUPE_EXPORT const char *troupe_future_error(const troupe_future_t *f);
/*  Python's as_completed, one at a time: the index of a done future among
    fs[0 .. n-1] (the first, when several are), waiting up to timeout; -1
    on timeout. Take it out of fs before the next call. */
TROUPE_EXPORT int troupe_future_wait_any(troupe_future_t *const *fs, size_t n,
                                         double timeout);
/*  Waits for all of them; 0, or -1 on timeout. */
TROUPE_EXPORT int troupe_future_wait_all(troupe_future_t *const *fs, size_t n,
                                         double timeout);
TROUPE_EXPORT void troupe_future_destroy(troupe_future_t **f_p);

/* ---- processes: Python's Process(target=..., args=...) --------------------- */
typedef struct troupe_process troupe_process_t;
/*  A process's body: its return value is the exit status (0 .. 255). */
typedef int(troupe_process_fn)(const msgpack_object *args);

/*  Starts a process running fn(args) (args may be NULL: nil). fn must be a
    function of this program or of a library it has loaded; the process is
    this program started again, so main must call troupe_init first. The
    process is killed if the thread that started it ends. */
TROUPE_EXPORT troupe_process_t *troupe_process_start(troupe_process_fn *fn,
                                                     const troupe_value_t *args);
/*  Waits for it to exit (timeout in seconds; < 0: forever, which is
    Python's join (None): Python's join (-1) returns at once, as join (p, 0)
    does here). Returns 0 once it has, -1 on timeout (errno ETIMEDOUT). */
TROUPE_EXPORT int troupe_process_join(troupe_process_t *p, double timeout);
/*  Its exit status once joined, -N when signal N killed it, or
    TROUPE_RUNNING while it runs. */
#define TROUPE_RUNNING (-1000)
TROUPE_EXPORT int troupe_process_exitcode(const troupe_process_t *p);
TROUPE_EXPORT int troupe_process_pid(const troupe_process_t *p);
/*  Sends it SIGTERM, or SIGKILL (Python's kill ()); join it afterwards. */
TROUPE_EXPORT int troupe_process_terminate(troupe_process_t *p);
TROUPE_EXPORT int troupe_process_kill(troupe_process_t *p);
/*  Whether it still runs, as Python's is_alive (): one that has ended is
    reaped here, and troupe_process_exitcode then says how. */
TROUPE_EXPORT bool troupe_process_is_alive(troupe_process_t *p);
/*  Frees it; one still running is terminated, killed after a second, and
    reaped: no zombie is left. */
TROUPE_EXPORT void troupe_process_destroy(troupe_process_t **p_p);

/* ---- queues: Python's multiprocessing.Queue ----------------------------- */
typedef struct troupe_queue troupe_queue_t;

/*  A queue hosted by this process (a thread of its own serves it), for any
    number of processes to put to and get from. maxsize 0: unbounded. */
TROUPE_EXPORT troupe_queue_t *troupe_queue_new(size_t maxsize);
/*  Its address, a string to hand to other processes (e.g. in their args). */
TROUPE_EXPORT const char *troupe_queue_address(const troupe_queue_t *q);
/*  Opens the queue at `address` from another process. */
TROUPE_EXPORT troupe_queue_t *troupe_queue_open(const char *address);
/*  Puts a copy of v, waiting up to timeout seconds (< 0: forever) while the
    queue is full. 0 once the queue holds it, -1 on timeout or error. */
TROUPE_EXPORT int troupe_queue_put(troupe_queue_t *q, const troupe_value_t *v,
                                   double timeout);
TROUPE_EXPORT int troupe_queue_put_int(troupe_queue_t *q, int64_t v);
/*  The next value (the caller's), waiting up to timeout seconds (< 0:
    forever); NULL on timeout (errno ETIMEDOUT) or error. */
TROUPE_EXPORT troupe_value_t *troupe_queue_get(troupe_queue_t *q, double timeout);
/*  How many values it holds now (Python's qsize, exact when the host
    answers), whether it holds none, whether it holds maxsize (never, when
    unbounded): -1 on error. */
TROUPE_EXPORT long troupe_queue_qsize(troupe_queue_t *q);
TROUPE_EXPORT int troupe_queue_empty(troupe_queue_t *q);
TROUPE_EXPORT int troupe_queue_full(troupe_queue_t *q);
/*  Every queue is a JoinableQueue: each value put is undone until someone
    calls task_done for it (-1, EINVAL, when none is undone), and join
    waits up to timeout seconds (< 0: forever) until none is: 0, or -1 on
    timeout (errno ETIMEDOUT). */
TROUPE_EXPORT int troupe_queue_task_done(troupe_queue_t *q);
TROUPE_EXPORT int troupe_queue_join(troupe_queue_t *q, double timeout);
/*  Closes this handle; the host's destroy also ends the queue, and what
    it still held is dropped. */
TROUPE_EXPORT void troupe_queue_destroy(troupe_queue_t **q_p);

/* ---- shared memory: Python's Value, Array, Lock, RLock, Event, Semaphore ----
    Objects in memory that this process and every process it starts with
    troupe_process_start (and those start, in turn) share. Each has an
    address, a string to hand to another process (in its args, as a
    queue's), where troupe_*_open finds the same object. They are not for
    a pool's workers, which take values and return values.

    What Python's lose, these keep: a lock whose holder died (killed, or
    exited holding it) is not locked for ever; the next troupe_lock_acquire
    takes it and returns TROUPE_OWNER_DIED, so that the caller knows the
    state it guards may be half-changed. The memory of an object is not
    given back before the program ends: make them at the start, as Python
    programs do, not one per item. */
typedef struct troupe_lock troupe_lock_t;
typedef struct troupe_event troupe_event_t;
typedef struct troupe_semaphore troupe_semaphore_t;
typedef struct troupe_shared troupe_shared_t;

/*  troupe_lock_acquire's answer when it has the lock, but its last holder
    died holding it. */
#define TROUPE_OWNER_DIED 1

/*  Python's Lock, and RLock (the holder may take it again; it is free once
    released as many times). NULL on error (troupe_error). */
TROUPE_EXPORT troupe_lock_t *troupe_lock_new(void);
TROUPE_EXPORT troupe_lock_t *troupe_rlock_new(void);
/*  Takes it, waiting up to timeout seconds (< 0: forever; 0: only if
    free now). 0, TROUPE_OWNER_DIED, or -1 on timeout (errno ETIMEDOUT) or
    error. */
TROUPE_EXPORT int troupe_lock_acquire(troupe_lock_t *l, double timeout);
/*  Gives it back. -1 when this thread does not hold it (Python lets any
    process release a Lock; here only its holder may). */
TROUPE_EXPORT int troupe_lock_release(troupe_lock_t *l);

/*  Python's Event: a flag that processes wait for. */
TROUPE_EXPORT troupe_event_t *troupe_event_new(void);
TROUPE_EXPORT int troupe_event_set(troupe_event_t *e);
TROUPE_EXPORT int troupe_event_clear(troupe_event_t *e);
TROUPE_EXPORT bool troupe_event_is_set(troupe_event_t *e);
/*  Waits up to timeout seconds (< 0: forever) for the flag: true once it
    is set, false on timeout. */
TROUPE_EXPORT bool troupe_event_wait(troupe_event_t *e, double timeout);

/*  Python's Semaphore(value), and BoundedSemaphore(value) when bounded:
    its releases may not take it above value. */
TROUPE_EXPORT troupe_semaphore_t *troupe_semaphore_new(unsigned value, bool bounded);
/*  0, or -1 on timeout (errno ETIMEDOUT) or error; timeout as a lock's. */
TROUPE_EXPORT int troupe_semaphore_acquire(troupe_semaphore_t *s, double timeout);
/*  -1 when a bounded one is at its value already. */
TROUPE_EXPORT int troupe_semaphore_release(troupe_semaphore_t *s);
TROUPE_EXPORT int troupe_semaphore_value(troupe_semaphore_t *s);

/*  Python's Value and Array: size bytes, zeroed, with a lock of their own
    (Value's get_lock), which guards nothing by itself: take it around
    what must not interleave. troupe_shared_add adds to the index'th
    int64_t of the memory in one atomic step, no lock needed, and returns
    the new value: Value('i').value += 1 done right. */
TROUPE_EXPORT troupe_shared_t *troupe_shared_new(size_t size);
TROUPE_EXPORT void *troupe_shared_data(troupe_shared_t *s);
TROUPE_EXPORT size_t troupe_shared_size(const troupe_shared_t *s);
TROUPE_EXPORT troupe_lock_t *troupe_shared_lock(troupe_shared_t *s);
TROUPE_EXPORT int64_t troupe_shared_add(troupe_shared_t *s, size_t index, int64_t by);

/*  Addresses, and the objects at them in another process (NULL, with
    troupe_error saying why, for an address that is not one of this kind,
    or in a process that does not share the memory). */
TROUPE_EXPORT const char *troupe_lock_address(const troupe_lock_t *l);
TROUPE_EXPORT const char *troupe_event_address(const troupe_event_t *e);
TROUPE_EXPORT const char *troupe_semaphore_address(const troupe_semaphore_t *s);
TROUPE_EXPORT const char *troupe_shared_address(const troupe_shared_t *s);
TROUPE_EXPORT troupe_lock_t *troupe_lock_open(const char *address);
TROUPE_EXPORT troupe_event_t *troupe_event_open(const char *address);
TROUPE_EXPORT troupe_semaphore_t *troupe_semaphore_open(const char *address);
TROUPE_EXPORT troupe_shared_t *troupe_shared_open(const char *address);

/* ---- deprecated names ------------------------------------------------------
    Names that broke the _cstr/_strn rule (top of this file), each the call
    it was renamed to under its old name. They stay for one release, so
    that a program or module can move at its own pace (the compiler warns
    where one is used), and are gone in the release after. */
#if defined(__GNUC__) || defined(__clang__)
#define TROUPE_DEPRECATED(why) __attribute__((deprecated(why)))
#else
#define TROUPE_DEPRECATED(why)
#endif
TROUPE_EXPORT int troupe_emit_str(troupe_ctx_t *ctx, const char *data, size_t size)
    TROUPE_DEPRECATED("renamed troupe_emit_strn");
TROUPE_EXPORT troupe_value_t *troupe_value_str(const char *string)
    TROUPE_DEPRECATED("renamed troupe_value_cstr");
TROUPE_EXPORT troupe_value_t *troupe_value_strs(const char *const *v, size_t n)
    TROUPE_DEPRECATED("renamed troupe_value_cstrs");
TROUPE_EXPORT const char *troupe_value_as_str(const troupe_value_t *v, size_t *size)
    TROUPE_DEPRECATED("renamed troupe_value_as_strn");

#ifdef __cplusplus
}
#endif
#endif

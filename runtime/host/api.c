/*  api.c: the functions troupe.h promises modules (emit, fail, args, who).

    Emitted values are packed into the context's group buffer; the host
    copies the finished group into each output batch (items.c).
*/
#include "base/clock.h"
#include "base/copy.h"
#include "base/log.h"
#include "host/host.h"

#include "wire/ctl.h"
#include "wire/envelope.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

void host_group_reset(troupe_ctx_t *ctx)
{
    if (ctx->nouts == 1) /* a group left open: none is, but it must not stay */
        chan_out_part_abort(ctx->outs[0]);
    ctx->gbuf = &ctx->group_sb;
    ctx->group_sb.size = 0;
    ctx->group_n = 0;
    ctx->failed = false;
    ctx->emit_open = false;
    ctx->key_n = 0;
    ctx->next_key = 0;
    ctx->nest = 0;
    ctx->topic[0] = '\0';
}

bool host_group_close(troupe_ctx_t *ctx)
{
    if (ctx->emit_open) { /* emit_begin without emit_end: the half value is
                             not counted, nor sent */
        ctx->gbuf->size = ctx->emit_at;
        ctx->emit_open = false;
    }
    if (!ctx->nest)
        return true;
    uint32_t left = ctx->nest_left[ctx->nest - 1];
    ctx->gbuf->size = ctx->nest_at;
    ctx->nest = 0;
    if (!ctx->failed) /* else the module's own reason stands */
        snprintf(ctx->error, sizeof ctx->error, "a map or array emitted (troupe_emit_map, "
                 "troupe_emit_array) still needed %u piece%s when the hook returned",
                 left, left == 1 ? "" : "s");
    ctx->failed = true;
    return false;
}

int host_group_write(void *data, const char *buf, size_t len)
{
    troupe_ctx_t *ctx = data;
    if (sbuffer_append(ctx->gbuf, buf, len) == 0)
        return 0;
    ctx->group_oom = true; /* the packer's caller may not look at the answer */
    return -1;
}

/*  The packer for one more value, which starts at *at in the group; NULL
    when no value may be emitted now. */
static msgpack_packer *emit_packer(troupe_ctx_t *ctx, size_t *at)
{
    if (!ctx || !ctx->in_hook || ctx->emit_open)
        return NULL;
    /* the group's first value: into the batch itself, when it can */
    if (ctx->direct_ok && ctx->gbuf == &ctx->group_sb && ctx->group_sb.size == 0
        && !ctx->nest) {
        msgpack_sbuffer *sb = chan_out_direct_open(ctx->outs[0]);
        if (sb)
            ctx->gbuf = sb;
    }
    *at = ctx->gbuf->size;
    ctx->group_oom = false;
    return &ctx->group_pk;
}

/*  A fixmap, fixarray, array 16/32 or map 16/32. */
static bool is_container(uint8_t type)
{
    return (type >= 0x80 && type <= 0x9f) || (type >= 0xdc && type <= 0xdf);
}

/*  The value about to join the group takes the key troupe_emit_key set
    (or none, when values before it had one). 0, or -1 out of memory. */
static int note_key(troupe_ctx_t *ctx)
{
    uint32_t i = ctx->group_n;
    if (i >= ctx->keys_cap) {
        size_t cap = ctx->keys_cap ? ctx->keys_cap * 2 : 16;
        uint64_t *more = realloc(ctx->keys, cap * sizeof *more);
        if (!more)
            return -1;
        ctx->keys = more;
        ctx->keys_cap = cap;
    }
    while (ctx->key_n < i)
        ctx->keys[ctx->key_n++] = 0;
    ctx->keys[i] = ctx->next_key;
    ctx->key_n = i + 1;
    ctx->next_key = 0;
    return 0;
}

/*  The value packed from `at` on joins the group, counted only now that it
    is whole: a count without its bytes, or bytes no consumer can decode,
    would make the whole batch garbage. A value that cannot travel is taken
    back and fails its item instead. The depth is looked at only for a
    container with room for more levels than a batch carries. */
static int emit_finish(troupe_ctx_t *ctx, size_t at);

/*  A piece of the open container is in: a container whose last piece this
    was is one piece of the one around it, and the outermost, once whole,
    is one value of the group. */
static int piece_done(troupe_ctx_t *ctx)
{
    while (ctx->nest && --ctx->nest_left[ctx->nest - 1] == 0)
        ctx->nest--;
    return ctx->nest ? 0 : emit_finish(ctx, ctx->nest_at);
}

static int emit_finish(troupe_ctx_t *ctx, size_t at)
{
    if (ctx->nest) { /* a piece of a map or array */
        if (!ctx->group_oom && ctx->gbuf->size > at)
            return piece_done(ctx);
        at = ctx->nest_at; /* the whole container goes */
        ctx->nest = 0;
    }
    const uint8_t *v = (const uint8_t *)ctx->gbuf->data + at;
    size_t size = ctx->gbuf->size - at;
    if (ctx->group_oom)
        troupe_fail(ctx, "out of memory: the value emitted could not be packed");
    else if (size == 0) /* a msgpack-c packer never packs nothing */
        troupe_fail(ctx, "no value was packed between troupe_emit_begin and _end");
    else if (size > ENV_MAX_DEPTH && is_container(v[0]) && !env_depth_ok(v, size))
        troupe_fail(ctx, "a value nested more than %d deep (arrays and maps inside one "
                         "another) is more than a batch can carry",
                    ENV_MAX_DEPTH);
    else if (ctx->keyed_put) { /* to its home now; the group keeps nothing */
        char why[sizeof ctx->error];
        uint64_t set = ctx->next_key;
        ctx->next_key = 0;
        ctx->gbuf->size = at;
        if (chan_out_keyed_put(ctx->outs[0], (const char *)v, size, set, ctx->group_n, why,
                               sizeof why) == 0) {
            ctx->group_n++;
            return 0;
        }
        if (!ctx->failed)
            snprintf(ctx->error, sizeof ctx->error, "%s", why);
        ctx->failed = true;
        return -1;
    }
    else if ((ctx->next_key || ctx->key_n) && note_key(ctx) < 0)
        troupe_fail(ctx, "out of memory for the key of a value");
    else {
        ctx->group_n++;
        return 0;
    }
    ctx->gbuf->size = at;
    return -1;
}

static int emit_container(troupe_ctx_t *ctx, uint32_t n, bool map)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk || (map && n > UINT32_MAX / 2))
        return -1;
    if (ctx->nest == HOST_NEST_MAX) {
        troupe_fail(ctx, "more than %d maps and arrays emitted inside one another",
                    HOST_NEST_MAX);
        ctx->gbuf->size = ctx->nest_at;
        ctx->nest = 0;
        return -1;
    }
    if (map)
        msgpack_pack_map(pk, n);
    else
        msgpack_pack_array(pk, n);
    if (!ctx->nest)
        ctx->nest_at = at;
    if (n == 0) /* whole already */
        return ctx->nest ? piece_done(ctx) : emit_finish(ctx, at);
    ctx->nest_left[ctx->nest++] = map ? 2 * n : n;
    return 0;
}

int troupe_emit_map(troupe_ctx_t *ctx, uint32_t n)
{
    return emit_container(ctx, n, true);
}

int troupe_emit_array(troupe_ctx_t *ctx, uint32_t n)
{
    return emit_container(ctx, n, false);
}

int troupe_set_topic(troupe_ctx_t *ctx, const char *topic)
{
    if (!ctx || !ctx->in_hook || !topic || strpbrk(topic, " ,\t")
        || strlen(topic) >= sizeof ctx->topic)
        return -1;
    memcpy(ctx->topic, topic, strlen(topic) + 1);
    return 0;
}

int troupe_emit_key(troupe_ctx_t *ctx, const void *key, size_t size)
{
    if (!ctx || !ctx->in_hook || ctx->emit_open || (!key && size))
        return -1;
    ctx->next_key = chan_key_hash(key, size);
    return 0;
}

uint64_t troupe_hash(const void *data, size_t size)
{
    return data || !size ? chan_key_hash(data, size) : 0;
}

int troupe_emit_int(troupe_ctx_t *ctx, int64_t value)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_int64(pk, value);
    return emit_finish(ctx, at);
}

int troupe_emit_uint(troupe_ctx_t *ctx, uint64_t value)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_uint64(pk, value);
    return emit_finish(ctx, at);
}

int troupe_emit_double(troupe_ctx_t *ctx, double value)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_double(pk, value);
    return emit_finish(ctx, at);
}

int troupe_emit_bool(troupe_ctx_t *ctx, bool value)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    return emit_finish(ctx, at);
}

int troupe_emit_nil(troupe_ctx_t *ctx)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_nil(pk);
    return emit_finish(ctx, at);
}

/*  msgpack's strings and binaries say their length in 32 bits: a longer
    one, packed, would say a wrong one, and its batch could not be read. */
static bool too_long(troupe_ctx_t *ctx, size_t size, const char *what)
{
    if (size <= UINT32_MAX)
        return false;
    if (ctx && ctx->in_hook)
        troupe_fail(ctx, "a %s of %zu bytes is longer than msgpack can say (4 GiB)", what,
                    size);
    return true;
}

int troupe_emit_strn(troupe_ctx_t *ctx, const char *data, size_t size)
{
    if (too_long(ctx, size, "string"))
        return -1;
    /* a keyed output's string, its own key (a word to its counter): into
       its home's batch at once, not packed, then read again for its key */
    if (ctx && ctx->keyed_put && ctx->in_hook && !ctx->emit_open && !ctx->nest
        && (data || !size) && chan_out_keyed_put_str(ctx->outs[0], data, size, ctx->next_key) == 0) {
        ctx->next_key = 0;
        ctx->group_n++;
        return 0;
    }
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_str_with_body(pk, data, size);
    return emit_finish(ctx, at);
}

/*  The name before the _cstr/_strn rule (troupe.h): one more release. */
int troupe_emit_str(troupe_ctx_t *ctx, const char *data, size_t size)
{
    return troupe_emit_strn(ctx, data, size);
}

int host_emit_packed(troupe_ctx_t *ctx, const void *data, size_t size)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    host_group_write(ctx, data, size);
    return emit_finish(ctx, at);
}

int troupe_emit_cstr(troupe_ctx_t *ctx, const char *string)
{
    return troupe_emit_strn(ctx, string, strlen(string));
}

int troupe_emit_bytes(troupe_ctx_t *ctx, const void *data, size_t size)
{
    if (too_long(ctx, size, "binary"))
        return -1;
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_bin_with_body(pk, data, size);
    return emit_finish(ctx, at);
}

int troupe_emit_object(troupe_ctx_t *ctx, const msgpack_object *value)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (!pk)
        return -1;
    msgpack_pack_object(pk, *value);
    return emit_finish(ctx, at);
}

msgpack_packer *troupe_emit_begin(troupe_ctx_t *ctx)
{
    size_t at;
    msgpack_packer *pk = emit_packer(ctx, &at);
    if (pk) {
        ctx->emit_open = true;
        ctx->emit_at = at;
    }
    return pk;
}

int troupe_emit_end(troupe_ctx_t *ctx)
{
    if (!ctx || !ctx->emit_open)
        return -1;
    ctx->emit_open = false;
    return emit_finish(ctx, ctx->emit_at);
}

int troupe_wait_readable(troupe_ctx_t *ctx, int fd)
{
    if (!ctx || fd < 0)
        return TROUPE_ERROR;
    ctx->wait_fd = fd;
    return TROUPE_LATER;
}

void troupe_set_total(troupe_ctx_t *ctx, uint64_t items)
{
    if (ctx)
        ctx->stats.total = items; /* goes out with the next STATS */
}

/*  host_produce_batch (items.c) deals indexes out in blocks of `batch`: block
    b goes to instance b % instances. Of the indexes below count, this
    instance has its full blocks and, if the last block is partial and
    its own, the rest. */
uint64_t troupe_index_share(troupe_ctx_t *ctx, uint64_t count)
{
    if (!ctx || !ctx->batch || ctx->instances <= 1)
        return count;
    uint64_t b = ctx->batch, n = ctx->instances, i = ctx->instance;
    uint64_t full = count / b, rest = count % b;
    uint64_t mine = full / n + (i < full % n);
    return mine * b + (full % n == i ? rest : 0);
}

void troupe_fail(troupe_ctx_t *ctx, const char *format, ...)
{
    if (!ctx)
        return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(ctx->error, sizeof ctx->error, format, ap);
    va_end(ap);
    ctx->failed = true;
}

bool troupe_failed(troupe_ctx_t *ctx)
{
    return ctx && ctx->failed;
}

const char *troupe_arg(troupe_ctx_t *ctx, const char *name, const char *fallback)
{
    for (int i = 0; ctx && i < ctx->nargs; i++)
        if (strcmp(ctx->args[i].key, name) == 0)
            return ctx->args[i].value;
    return fallback;
}

/*  A path is made once per text and kept until the actor stops, so that a
    module may call this for every item without the actor's memory growing
    with each call. */
const char *troupe_arg_path(troupe_ctx_t *ctx, const char *name, const char *fallback)
{
    const char *text = troupe_arg(ctx, name, fallback);
    if (!text || text[0] == '/' || !strcmp(text, "-") || !ctx->base_dir)
        return text;
    size_t base = strlen(ctx->base_dir);
    for (int i = 0; i < ctx->npaths; i++) /* each is base_dir/ then a text */
        if (!strcmp(ctx->paths[i] + base + 1, text))
            return ctx->paths[i];
    size_t len = base + strlen(text) + 2;
    char *path = malloc(len);
    char **more = realloc(ctx->paths, (ctx->npaths + 1) * sizeof *more);
    if (!path || !more) {
        free(path);
        if (more)
            ctx->paths = more;
        return text;
    }
    snprintf(path, len, "%s/%s", ctx->base_dir, text);
    ctx->paths = more;
    ctx->paths[ctx->npaths++] = path;
    return path;
}

int64_t troupe_arg_int(troupe_ctx_t *ctx, const char *name, int64_t fallback)
{
    const char *text = troupe_arg(ctx, name, NULL);
    if (!text)
        return fallback;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 0);
    /* accept 1e6 style too: counts are often written that way */
    if (end == text || *end || errno) {
        double d = strtod(text, &end);
        if (end != text && !*end && d == floor(d) && fabs(d) < 9.2e18)
            return (int64_t)d;
        troupe_fail(ctx, "argument '%s': '%s' is not an integer", name, text);
        return fallback;
    }
    return v;
}

double troupe_arg_double(troupe_ctx_t *ctx, const char *name, double fallback)
{
    const char *text = troupe_arg(ctx, name, NULL);
    if (!text)
        return fallback;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno) {
        troupe_fail(ctx, "argument '%s': '%s' is not a number", name, text);
        return fallback;
    }
    return v;
}

bool troupe_arg_bool(troupe_ctx_t *ctx, const char *name, bool fallback)
{
    const char *text = troupe_arg(ctx, name, NULL);
    if (!text)
        return fallback;
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return true;
        if (strcasecmp(text, no[i]) == 0)
            return false;
    }
    troupe_fail(ctx, "argument '%s': '%s' is not a boolean (true/false)", name,
                text);
    return fallback;
}

const char *troupe_actor_name(troupe_ctx_t *ctx)
{
    return ctx->actor;
}

const char *troupe_pipeline_name(troupe_ctx_t *ctx)
{
    return ctx->pipeline;
}

unsigned troupe_instance(troupe_ctx_t *ctx)
{
    return ctx->instance;
}

unsigned troupe_instances(troupe_ctx_t *ctx)
{
    return ctx->instances;
}

uint64_t troupe_item_id(troupe_ctx_t *ctx)
{
    return ctx->item;
}

void troupe_set_state(troupe_ctx_t *ctx, void *state)
{
    ctx->state = state;
}

void *troupe_state(troupe_ctx_t *ctx)
{
    return ctx->state;
}

/*  A module's line, in the supervisor's format with the actor for the
    pipeline's name. When the supervisor draws a progress bar on the same
    terminal the line first erases it (\r, then clear to the end of the
    line), since this process cannot ask the supervisor to; the bar comes
    back at its next redraw, within a quarter of a second. (A node's
    instance has a stderr of its own, hence the check that it is a
    terminal too.) */
static void log_line(troupe_ctx_t *ctx, log_level_t level, const char *format,
                     va_list ap)
{
    if (!ctx || (ctx->log & CTL_LOG_QUIET))
        return;
    bool erase = (ctx->log & CTL_LOG_BAR) && isatty(STDERR_FILENO);
    char who[256], text[1024];
    snprintf(who, sizeof who, "%s/%s#%u", ctx->pipeline, ctx->actor, ctx->instance);
    log_vwrite(erase ? "\r\033[K" : NULL, who, level, text, sizeof text, format, ap);
}

void troupe_log(troupe_ctx_t *ctx, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    log_line(ctx, LOG_INFO, format, ap);
    va_end(ap);
}

void troupe_warn(troupe_ctx_t *ctx, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    log_line(ctx, LOG_WARNING, format, ap);
    va_end(ap);
}

/* ---- reading values ----------------------------------------------------- */

bool troupe_as_int(const msgpack_object *value, int64_t *out)
{
    switch (value->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (value->via.u64 > INT64_MAX)
            return false;
        *out = (int64_t)value->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = value->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (value->via.f64 != floor(value->via.f64)
            || fabs(value->via.f64) >= 9.2e18)
            return false;
        *out = (int64_t)value->via.f64;
        return true;
    default: return false;
    }
}

bool troupe_as_double(const msgpack_object *value, double *out)
{
    switch (value->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)value->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)value->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = value->via.f64; return true;
    default: return false;
    }
}

const msgpack_object *troupe_get(const msgpack_object *value, const char *name)
{
    if (!value || !name || value->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen(name);
    for (uint32_t i = 0; i < value->via.map.size; i++) {
        const msgpack_object *k = &value->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
            && memcmp(k->via.str.ptr, name, len) == 0)
            return &value->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *troupe_at(const msgpack_object *value, size_t index)
{
    if (!value || value->type != MSGPACK_OBJECT_ARRAY || index >= value->via.array.size)
        return NULL;
    return &value->via.array.ptr[index];
}

const char *troupe_as_strn(const msgpack_object *value, size_t *size)
{
    if (!value || value->type != MSGPACK_OBJECT_STR)
        return NULL;
    if (size)
        *size = value->via.str.size;
    return value->via.str.ptr;
}

bool troupe_as_bool(const msgpack_object *value, bool *out)
{
    if (!value || value->type != MSGPACK_OBJECT_BOOLEAN)
        return false;
    *out = value->via.boolean;
    return true;
}

bool troupe_get_int(const msgpack_object *value, const char *name, int64_t *out)
{
    const msgpack_object *f = troupe_get(value, name);
    return f && troupe_as_int(f, out);
}

bool troupe_get_double(const msgpack_object *value, const char *name, double *out)
{
    const msgpack_object *f = troupe_get(value, name);
    return f && troupe_as_double(f, out);
}

const char *troupe_get_strn(const msgpack_object *value, const char *name, size_t *size)
{
    return troupe_as_strn(troupe_get(value, name), size);
}

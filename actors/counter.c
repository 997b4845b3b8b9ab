/*  counter: an actor that owns counters, the message-passing answer to a
    shared Value guarded by a lock: workers send increments, only this actor
    touches the state, so no update is ever lost.

    Each value is an increment: an integer n adds n to the counter "value";
    a string adds 1 to the counter of that name; [name, n] adds n to name.
    When the input ends it emits the totals: a plain integer when only
    "value" was used, else a map of every counter (`emit = map`, the
    default) or one [name, total] per counter, by name (`emit = pairs`,
    what a keyed counter of several instances hands a sorted sink).

    Counters live in an open-addressing hash table that doubles when it is
    half full, so any number of names fit and the memory is in proportion
    to how many distinct ones came.
*/
#include <troupe.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name; /* NULL: a free slot */
    size_t len;
    uint64_t hash;
    int64_t value;
} entry_t;

typedef struct {
    entry_t *slots;
    size_t cap, n; /* cap: a power of two */
    bool pairs;    /* emit = pairs */
} counter_t;

static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool grow(counter_t *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < c->cap; i++) {
        entry_t *e = &c->slots[i];
        if (!e->name)
            continue;
        size_t j = e->hash & (cap - 1);
        while (slots[j].name)
            j = (j + 1) & (cap - 1);
        slots[j] = *e;
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return true;
}

/*  The counter of that name, made at 0 when new; NULL when out of memory. */
static entry_t *find(counter_t *c, const char *name, size_t len)
{
    if ((c->n + 1) * 2 > c->cap && !grow(c))
        return NULL;
    uint64_t h = hash_of(name, len);
    size_t j = h & (c->cap - 1);
    for (;; j = (j + 1) & (c->cap - 1)) {
        entry_t *e = &c->slots[j];
        if (!e->name)
            break;
        if (e->hash == h && e->len == len && !memcmp(e->name, name, len))
            return e;
    }
    entry_t *e = &c->slots[j];
    if (!(e->name = malloc(len + 1)))
        return NULL;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->len = len;
    e->hash = h;
    e->value = 0;
    c->n++;
    return e;
}

static int add(troupe_ctx_t *ctx, const char *name, size_t len, int64_t by)
{
    entry_t *e = find(troupe_state(ctx), name, len);
    if (!e) {
        troupe_fail(ctx, "counter: out of memory for a new counter");
        return TROUPE_ERROR;
    }
    if (__builtin_add_overflow(e->value, by, &e->value)) {
        troupe_fail(ctx, "counter: '%s' overflows 64 bits", e->name);
        return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static int counter_start(troupe_ctx_t *ctx)
{
    counter_t *c = calloc(1, sizeof *c);
    troupe_set_state(ctx, c);
    if (!c)
        return TROUPE_ERROR;
    const char *emit = troupe_arg(ctx, "emit", "map");
    if (strcmp(emit, "map") && strcmp(emit, "pairs")) {
        troupe_fail(ctx, "argument 'emit': '%s' is not map or pairs", emit);
        return TROUPE_ERROR;
    }
    c->pairs = !strcmp(emit, "pairs");
    return TROUPE_OK;
}

static int counter_message(troupe_ctx_t *ctx, const msgpack_object *v)
{
    int64_t n;
    if (troupe_as_int(v, &n))
        return add(ctx, "value", 5, n);
    if (v->type == MSGPACK_OBJECT_STR)
        return add(ctx, v->via.str.ptr, v->via.str.size, 1);
    if (v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2
        && v->via.array.ptr[0].type == MSGPACK_OBJECT_STR
        && troupe_as_int(&v->via.array.ptr[1], &n))
        return add(ctx, v->via.array.ptr[0].via.str.ptr,
                   v->via.array.ptr[0].via.str.size, n);
    troupe_fail(ctx, "counter: expected an integer, a name, or [name, n]");
    return TROUPE_ERROR;
}

static int by_name(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->name, y->name, n);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/*  The live counters, sorted by name (bytewise): the caller frees. */
static entry_t **sorted(const counter_t *c)
{
    entry_t **v = malloc((c->n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < c->cap; i++)
        if (c->slots[i].name)
            v[k++] = &c->slots[i];
    if (v)
        qsort(v, k, sizeof *v, by_name);
    return v;
}

static void pack_map(msgpack_packer *pk, entry_t *const *v, size_t n)
{
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(pk, v[i]->name, v[i]->len);
        msgpack_pack_int64(pk, v[i]->value);
    }
}

static int counter_flush(troupe_ctx_t *ctx)
{
    counter_t *c = troupe_state(ctx);
    entry_t **v = sorted(c);
    if (!v) {
        troupe_fail(ctx, "counter: out of memory");
        return TROUPE_ERROR;
    }
    int rc = TROUPE_OK;
    if (!c->pairs && (c->n == 0 || (c->n == 1 && !strcmp(v[0]->name, "value"))))
        rc = troupe_emit_int(ctx, c->n ? v[0]->value : 0);
    for (size_t i = 0; c->pairs && rc == TROUPE_OK && i < c->n; i++) {
        msgpack_packer *pk = troupe_emit_begin(ctx);
        if (!pk)
            rc = TROUPE_ERROR;
        else {
            msgpack_pack_array(pk, 2);
            msgpack_pack_str_with_body(pk, v[i]->name, v[i]->len);
            msgpack_pack_int64(pk, v[i]->value);
            rc = troupe_emit_end(ctx);
        }
    }
    if (!c->pairs && c->n && !(c->n == 1 && !strcmp(v[0]->name, "value"))) {
        msgpack_packer *pk = troupe_emit_begin(ctx);
        if (!pk)
            rc = TROUPE_ERROR;
        else {
            pack_map(pk, v, c->n);
            rc = troupe_emit_end(ctx);
        }
    }
    free(v);
    return rc;
}

/*  Every counter, {name: value}: a restarted counter resumes from them. */
static int counter_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    counter_t *c = troupe_state(ctx);
    msgpack_pack_map(pk, c->n);
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].name) {
            msgpack_pack_str_with_body(pk, c->slots[i].name, c->slots[i].len);
            msgpack_pack_int64(pk, c->slots[i].value);
        }
    return TROUPE_OK;
}

static int counter_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    counter_t *c = troupe_state(ctx);
    if (state->type != MSGPACK_OBJECT_MAP) {
        troupe_fail(ctx, "counter: the checkpoint is not a map of counters");
        return TROUPE_ERROR;
    }
    for (uint32_t i = 0; i < state->via.map.size; i++) {
        const msgpack_object *k = &state->via.map.ptr[i].key;
        int64_t v;
        entry_t *e = k->type == MSGPACK_OBJECT_STR ? find(c, k->via.str.ptr, k->via.str.size)
                                                   : NULL;
        if (!e || !troupe_as_int(&state->via.map.ptr[i].val, &v)) {
            troupe_fail(ctx, "counter: the checkpoint's counter %u is damaged", i);
            return TROUPE_ERROR;
        }
        e->value = v;
    }
    return TROUPE_OK;
}

static void counter_stop(troupe_ctx_t *ctx)
{
    counter_t *c = troupe_state(ctx);
    for (size_t i = 0; c && i < c->cap; i++)
        free(c->slots[i].name);
    if (c)
        free(c->slots);
    free(c);
}

static const char *const counter_args[] = { "emit", NULL };

TROUPE_MODULE(.name = "counter", .summary = "owns counters; emits their totals at the end",
              .args = counter_args, .flags = TROUPE_STATEFUL, .start = counter_start,
              .message = counter_message, .flush = counter_flush, .stop = counter_stop,
              .snapshot = counter_snapshot, .restore = counter_restore);

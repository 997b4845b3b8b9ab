/*  counter: an actor that owns counters, the message-passing answer to a
    shared Value guarded by a lock: workers send increments, only this actor
    touches the state, so no update is ever lost.

    Each value is an increment: an integer n adds n to the counter "value";
    a string adds 1 to the counter of that name; [name, n] adds n to name.
    When the input ends it emits the totals: a plain integer when only
    "value" was used, else a map of every counter (`emit = map`, the
    default) or one [name, total] per counter, by name (`emit = pairs`,
    what a keyed counter of several instances hands a sorted sink).

    Counters live in a dense array, in the order their names first came,
    found through an open-addressing index of 8-byte slots (a tag of the
    name's hash and the counter's place) that doubles when half full: any
    number of names fit (up to 2^32 - 1), the memory is in proportion to
    how many distinct ones came, and a lookup reads one small slot and
    then the one counter it names.
*/
#include <troupe.h>

#include <stdlib.h>
#include <string.h>

/*  A counter. Names of up to NAME_INLINE bytes (nearly every word) live
    in the counter itself, zero-padded, so that a match compares two words;
    longer ones are allocated. */
#define NAME_INLINE 16

typedef struct {
    int64_t value;
    union {
        char inl[NAME_INLINE];
        char *ptr;
    } name;
    uint32_t len;
} entry_t;

typedef struct {
    uint64_t *slots;   /* 0 free, else the hash's top half << 32 | place + 1 */
    size_t cap;        /* slots, a power of two */
    entry_t *ents;     /* the counters, dense */
    size_t n, ents_cap;
    bool pairs;        /* emit = pairs */
} counter_t;

static const char *name_of(const entry_t *e)
{
    return e->len <= NAME_INLINE ? e->name.inl : e->name.ptr;
}

static uint64_t slot_of(uint64_t h, size_t place)
{
    return (h & 0xffffffff00000000ull) | (uint64_t)(place + 1);
}

/*  The index at twice the slots, every counter placed again. */
static bool grow(counter_t *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t h = troupe_hash(name_of(&c->ents[i]), c->ents[i].len);
        size_t j = h & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = slot_of(h, i);
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return true;
}

static bool same_name(const entry_t *e, const char *pad, const char *name, size_t len)
{
    if (e->len != len)
        return false;
    if (len > NAME_INLINE)
        return !memcmp(e->name.ptr, name, len);
    uint64_t a[2], b[2];
    memcpy(a, e->name.inl, sizeof a);
    memcpy(b, pad, sizeof b);
    return a[0] == b[0] && a[1] == b[1];
}

/*  A new counter of that name at 0, at the end of the dense array. */
static entry_t *append(counter_t *c, const char *pad, const char *name, size_t len)
{
    if (c->n == c->ents_cap) {
        size_t cap = c->ents_cap ? c->ents_cap * 2 : 32;
        entry_t *more = realloc(c->ents, cap * sizeof *more);
        if (!more)
            return NULL;
        c->ents = more;
        c->ents_cap = cap;
    }
    entry_t *e = &c->ents[c->n];
    if (len <= NAME_INLINE)
        memcpy(e->name.inl, pad, NAME_INLINE);
    else if ((e->name.ptr = malloc(len)))
        memcpy(e->name.ptr, name, len);
    else
        return NULL;
    e->len = (uint32_t)len;
    e->value = 0;
    c->n++;
    return e;
}

/*  The counter of that name, made at 0 when new; NULL when out of memory. */
static entry_t *find(counter_t *c, const char *name, size_t len)
{
    if (len > UINT32_MAX || c->n >= UINT32_MAX - 1)
        return NULL;
    if ((c->n + 1) * 2 > c->cap && !grow(c))
        return NULL;
    char pad[NAME_INLINE] = { 0 };
    if (len <= NAME_INLINE)
        memcpy(pad, name, len);
    uint64_t h = troupe_hash(name, len), tag = h & 0xffffffff00000000ull;
    size_t j = h & (c->cap - 1);
    for (; c->slots[j]; j = (j + 1) & (c->cap - 1)) {
        uint64_t s = c->slots[j];
        if ((s & 0xffffffff00000000ull) != tag)
            continue;
        entry_t *e = &c->ents[(uint32_t)s - 1];
        if (same_name(e, pad, name, len))
            return e;
    }
    entry_t *e = append(c, pad, name, len);
    if (e)
        c->slots[j] = slot_of(h, c->n - 1);
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
        troupe_fail(ctx, "counter: '%.*s' overflows 64 bits", (int)e->len, name_of(e));
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
    int d = memcmp(name_of(x), name_of(y), n);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/*  The live counters, sorted by name (bytewise): the caller frees. */
static entry_t **sorted(const counter_t *c)
{
    entry_t **v = malloc((c->n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < c->n; i++)
        v[k++] = &c->ents[i];
    if (v)
        qsort(v, k, sizeof *v, by_name);
    return v;
}

static void pack_map(msgpack_packer *pk, entry_t *const *v, size_t n)
{
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(pk, name_of(v[i]), v[i]->len);
        msgpack_pack_int64(pk, v[i]->value);
    }
}

/*  Whether the one counter is "value": only integers came, so the total
    goes out as a plain integer. */
static bool only_value(const counter_t *c, entry_t *const *v)
{
    return c->n == 1 && v[0]->len == 5 && !memcmp(name_of(v[0]), "value", 5);
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
    if (!c->pairs && (c->n == 0 || only_value(c, v)))
        rc = troupe_emit_int(ctx, c->n ? v[0]->value : 0);
    for (size_t i = 0; c->pairs && rc == TROUPE_OK && i < c->n; i++) {
        msgpack_packer *pk = troupe_emit_begin(ctx);
        if (!pk)
            rc = TROUPE_ERROR;
        else {
            msgpack_pack_array(pk, 2);
            msgpack_pack_str_with_body(pk, name_of(v[i]), v[i]->len);
            msgpack_pack_int64(pk, v[i]->value);
            rc = troupe_emit_end(ctx);
        }
    }
    if (!c->pairs && c->n && !only_value(c, v)) {
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
    for (size_t i = 0; i < c->n; i++) {
        msgpack_pack_str_with_body(pk, name_of(&c->ents[i]), c->ents[i].len);
        msgpack_pack_int64(pk, c->ents[i].value);
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
    for (size_t i = 0; c && i < c->n; i++)
        if (c->ents[i].len > NAME_INLINE)
            free(c->ents[i].name.ptr);
    if (c) {
        free(c->slots);
        free(c->ents);
    }
    free(c);
}

static const char *const counter_args[] = { "emit", NULL };

TROUPE_MODULE(.name = "counter", .summary = "owns counters; emits their totals at the end",
              .args = counter_args, .flags = TROUPE_STATEFUL, .start = counter_start,
              .message = counter_message, .flush = counter_flush, .stop = counter_stop,
              .snapshot = counter_snapshot, .restore = counter_restore);

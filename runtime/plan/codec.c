/*  codec.c: a plan as msgpack, one way for everyone (plan.h says who).

    Every field is written under its name, from one table per struct, so
    the two ends never disagree on a position: a field added to a table
    travels at once, a reader skips names it does not know, and a field a
    writer left out keeps its default (plan_defaults, plan_actor_init). */
#define _GNU_SOURCE
#include "plan/plan.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { F_STR, F_INT, F_UINT, F_BOOL, F_DOUBLE, F_INTS, F_ARGS } ftype_t;

typedef struct {
    const char *name;
    ftype_t type;
    size_t off;
    size_t count_off; /* F_INTS, F_ARGS: where the count is */
    int64_t lo, hi;   /* F_INT, F_UINT: the values allowed */
} field_t;

#define STR(s, f) { #f, F_STR, offsetof(s, f), 0, 0, 0 }
#define INT(s, f, lo, hi) { #f, F_INT, offsetof(s, f), 0, lo, hi }
#define UINT(s, f, hi) { #f, F_UINT, offsetof(s, f), 0, 0, hi }
#define BOOL(s, f) { #f, F_BOOL, offsetof(s, f), 0, 0, 0 }
#define DOUBLE(s, f) { #f, F_DOUBLE, offsetof(s, f), 0, 0, 0 }
#define INTS(s, f, n) { #f, F_INTS, offsetof(s, f), offsetof(s, n), 0, 0 }
#define ARGS(s, f, n) { #f, F_ARGS, offsetof(s, f), offsetof(s, n), 0, 0 }
#define END { NULL, F_STR, 0, 0, 0, 0 }

static const field_t plan_fields[] = {
    STR(plan_t, name), STR(plan_t, file), STR(plan_t, dir), STR(plan_t, rundir),
    UINT(plan_t, batch, UINT32_MAX), UINT(plan_t, window, UINT32_MAX),
    UINT(plan_t, credit, UINT32_MAX), STR(plan_t, tcp_host),
    UINT(plan_t, port_lo, 65535), UINT(plan_t, port_hi, 65535),
    UINT(plan_t, names, UINT32_MAX), END,
};

static const field_t chan_fields[] = {
    STR(plan_chan_t, name), INT(plan_chan_t, mode, CHAN_PIPE, CHAN_KEYED), STR(plan_chan_t, key),
    INT(plan_chan_t, line, 0, INT32_MAX), INT(plan_chan_t, nproducers, 0, INT32_MAX),
    INT(plan_chan_t, nconsumers, 0, INT32_MAX), END,
};

static const field_t actor_fields[] = {
    STR(plan_actor_t, name), STR(plan_actor_t, module), STR(plan_actor_t, module_path),
    INT(plan_actor_t, line, 0, INT32_MAX), INT(plan_actor_t, module_line, 0, INT32_MAX),
    UINT(plan_actor_t, instances, 1024),
    INTS(plan_actor_t, inputs, ninputs), INTS(plan_actor_t, outputs, noutputs),
    STR(plan_actor_t, topic), STR(plan_actor_t, subscribe),
    INT(plan_actor_t, ordered, -1, 1),
    BOOL(plan_actor_t, source), BOOL(plan_actor_t, flushes), BOOL(plan_actor_t, stateful),
    BOOL(plan_actor_t, checkpoints), BOOL(plan_actor_t, lossy),
    INT(plan_actor_t, on_error, ON_ERROR_FAIL, ON_ERROR_SKIP),
    UINT(plan_actor_t, retries, UINT32_MAX),
    INT(plan_actor_t, restart, RESTART_PERMANENT, RESTART_TEMPORARY),
    UINT(plan_actor_t, max_restarts, UINT32_MAX), DOUBLE(plan_actor_t, restart_period),
    INT(plan_actor_t, place, PLACE_DEFAULT, PLACE_ANY),
    ARGS(plan_actor_t, args, nargs), BOOL(plan_actor_t, external), STR(plan_actor_t, exe),
    UINT(plan_actor_t, retire_after, UINT32_MAX), END,
};

/* ==== writing ==================================================================== */

static void pack_str(msgpack_packer *pk, const char *s)
{
    if (s)
        msgpack_pack_str_with_body(pk, s, strlen(s));
    else
        msgpack_pack_nil(pk);
}

static void pack_field(msgpack_packer *pk, const field_t *f, const char *base)
{
    const void *at = base + f->off;
    int count = f->count_off ? *(const int *)(base + f->count_off) : 0;
    switch (f->type) {
    case F_STR: pack_str(pk, *(char *const *)at); break;
    case F_INT: msgpack_pack_int64(pk, *(const int *)at); break;
    case F_UINT: msgpack_pack_uint64(pk, *(const unsigned *)at); break;
    case F_BOOL: *(const bool *)at ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case F_DOUBLE: msgpack_pack_double(pk, *(const double *)at); break;
    case F_INTS: {
        const int *v = *(int *const *)at;
        msgpack_pack_array(pk, (uint32_t)count);
        for (int i = 0; i < count; i++)
            msgpack_pack_int(pk, v[i]);
        break;
    }
    case F_ARGS: {
        const plan_arg_t *args = *(plan_arg_t *const *)at;
        msgpack_pack_map(pk, (uint32_t)count);
        for (int i = 0; i < count; i++) {
            pack_str(pk, args[i].key);
            pack_str(pk, args[i].value);
        }
        break;
    }
    }
}

/*  The fields of `table` as a map; `extra` more pairs follow (the caller's). */
static void pack_fields(msgpack_packer *pk, const field_t *table, const void *obj,
                        uint32_t extra)
{
    uint32_t n = 0;
    while (table[n].name)
        n++;
    msgpack_pack_map(pk, n + extra);
    for (const field_t *f = table; f->name; f++) {
        pack_str(pk, f->name);
        pack_field(pk, f, obj);
    }
}

void plan_pack_actor(msgpack_packer *pk, const plan_actor_t *a)
{
    pack_fields(pk, actor_fields, a, 0);
}

void plan_pack_pipeline(msgpack_packer *pk, const plan_t *p)
{
    pack_fields(pk, plan_fields, p, 0);
}

void plan_pack(msgpack_packer *pk, const plan_t *p)
{
    pack_fields(pk, plan_fields, p, 2);
    pack_str(pk, "chans");
    msgpack_pack_array(pk, (uint32_t)p->nchans);
    for (int i = 0; i < p->nchans; i++)
        pack_fields(pk, chan_fields, &p->chans[i], 0);
    pack_str(pk, "actors");
    msgpack_pack_array(pk, (uint32_t)p->nactors);
    for (int i = 0; i < p->nactors; i++)
        plan_pack_actor(pk, &p->actors[i]);
}

/* ==== reading ==================================================================== */

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name)
           && memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

static bool read_int(const msgpack_object *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX)
        *out = (int64_t)v->via.u64;
    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = v->via.i64;
    else
        return false;
    return *out >= lo && *out <= hi;
}

static bool read_str(const msgpack_object *v, char **out)
{
    free(*out);
    *out = NULL;
    if (v->type == MSGPACK_OBJECT_NIL)
        return true;
    if (v->type != MSGPACK_OBJECT_STR || memchr(v->via.str.ptr, 0, v->via.str.size))
        return false;
    return (*out = strndup(v->via.str.ptr, v->via.str.size)) != NULL;
}

static bool read_ints(const msgpack_object *v, int **out, int *n)
{
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return false;
    free(*out);
    *n = 0;
    if (!(*out = calloc(v->via.array.size + 1, sizeof **out)))
        return false;
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        int64_t x;
        if (!read_int(&v->via.array.ptr[i], INT32_MIN, INT32_MAX, &x))
            return false;
        (*out)[(*n)++] = (int)x;
    }
    return true;
}

static bool read_args(const msgpack_object *v, plan_arg_t **out, int *n)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return false;
    if (!(*out = calloc(v->via.map.size + 1, sizeof **out)))
        return false;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        plan_arg_t *a = &(*out)[(*n)++];
        if (!read_str(&v->via.map.ptr[i].key, &a->key)
            || !read_str(&v->via.map.ptr[i].val, &a->value) || !a->key || !a->value)
            return false;
    }
    return true;
}

static bool read_field(const field_t *f, const msgpack_object *v, char *base)
{
    void *at = base + f->off;
    int64_t x;
    switch (f->type) {
    case F_STR: return read_str(v, (char **)at);
    case F_INT:
        return read_int(v, f->lo, f->hi, &x) && ((*(int *)at = (int)x), true);
    case F_UINT:
        return read_int(v, f->lo, f->hi, &x) && ((*(unsigned *)at = (unsigned)x), true);
    case F_BOOL:
        return v->type == MSGPACK_OBJECT_BOOLEAN && ((*(bool *)at = v->via.boolean), true);
    case F_DOUBLE:
        if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
            return (*(double *)at = v->via.f64), true;
        return false;
    case F_INTS: return read_ints(v, (int **)at, (int *)(base + f->count_off));
    case F_ARGS: {
        plan_arg_t **args = (plan_arg_t **)at;
        int *n = (int *)(base + f->count_off);
        if (*args) /* read once: a second one would leak the first */
            return false;
        return read_args(v, args, n);
    }
    }
    return false;
}

/*  The map's pairs whose names are in `table` into obj; others are left to
    `rest` (NULL: skipped). False on a wrong type or a value out of range. */
static bool read_fields(const msgpack_object *o, const field_t *table, void *obj,
                        bool (*rest)(void *arg, const msgpack_object *k,
                                     const msgpack_object *v),
                        void *arg)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        const field_t *f = table;
        while (f->name && !key_is(k, f->name))
            f++;
        if (f->name ? !read_field(f, v, obj) : rest && !rest(arg, k, v))
            return false;
    }
    return true;
}

static bool actor_valid(const plan_actor_t *a, int nchans)
{
    for (int k = 0; k < a->ninputs; k++)
        if (a->inputs[k] < 0 || a->inputs[k] >= nchans)
            return false;
    for (int k = 0; k < a->noutputs; k++)
        if (a->outputs[k] < 0 || a->outputs[k] >= nchans)
            return false;
    return a->name && a->topic && a->subscribe && a->instances >= 1;
}

bool plan_unpack_actor(const msgpack_object *o, plan_actor_t *a, int nchans)
{
    return read_fields(o, actor_fields, a, NULL, NULL) && actor_valid(a, nchans);
}

bool plan_unpack_pipeline(const msgpack_object *o, plan_t *p)
{
    return read_fields(o, plan_fields, p, NULL, NULL) && p->name && p->batch;
}

/*  "chans" and "actors", read once the pipeline's fields are. */
typedef struct {
    const msgpack_object *chans, *actors;
} lists_t;

static bool take_list(void *arg, const msgpack_object *k, const msgpack_object *v)
{
    lists_t *l = arg;
    if (key_is(k, "chans"))
        l->chans = v;
    else if (key_is(k, "actors"))
        l->actors = v;
    return true;
}

static bool read_lists(plan_t *p, const lists_t *l)
{
    if (!l->chans || !l->actors || l->chans->type != MSGPACK_OBJECT_ARRAY
        || l->actors->type != MSGPACK_OBJECT_ARRAY || !l->actors->via.array.size)
        return false;
    uint32_t nc = l->chans->via.array.size, na = l->actors->via.array.size;
    if (!(p->chans = calloc(nc + 1, sizeof *p->chans))
        || !(p->actors = calloc(na + 1, sizeof *p->actors)))
        return false;
    for (uint32_t i = 0; i < nc; i++) {
        plan_chan_t *c = &p->chans[p->nchans++];
        if (!read_fields(&l->chans->via.array.ptr[i], chan_fields, c, NULL, NULL) || !c->name)
            return false;
    }
    for (uint32_t i = 0; i < na; i++) {
        plan_actor_t *a = &p->actors[p->nactors++];
        plan_actor_init(a, NULL);
        if (!plan_unpack_actor(&l->actors->via.array.ptr[i], a, p->nchans))
            return false;
    }
    return true;
}

plan_t *plan_unpack(const msgpack_object *o)
{
    plan_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    plan_defaults(p);
    lists_t lists = { NULL, NULL };
    if (!read_fields(o, plan_fields, p, take_list, &lists) || !p->name || !p->dir
        || !p->batch || !read_lists(p, &lists)) {
        plan_destroy(&p);
        return NULL;
    }
    return p;
}

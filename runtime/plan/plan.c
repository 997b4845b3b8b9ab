/*  plan.c: the plan's defaults, its destructor and look-ups, and the plan
    as one msgpack value. config.c makes plans from config files; the
    embedding API (pool.c) makes them in code and hands them packed to a
    supervisor process (`troupe-actor --supervise`), which unpacks them.
*/
#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

void plan_defaults(plan_t *self)
{
    self->batch = 4096;
    self->window = 16;
    self->credit = 2;
}

void plan_actor_init(plan_actor_t *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->instances = 1;
    a->ordered = -1;
    a->topic = strdup("");
    a->subscribe = strdup("");
    a->max_restarts = 10;
    a->restart_period = 5.0;
}

void plan_destroy(plan_t **self_p)
{
    plan_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->nactors; i++) {
        plan_actor_t *a = &self->actors[i];
        free(a->name);
        free(a->module);
        free(a->module_path);
        free(a->inputs);
        free(a->outputs);
        free(a->topic);
        free(a->subscribe);
        free(a->exe);
        for (int j = 0; j < a->nargs; j++) {
            free(a->args[j].key);
            free(a->args[j].value);
        }
        free(a->args);
    }
    for (int i = 0; i < self->nchans; i++)
        free(self->chans[i].name);
    free(self->actors);
    free(self->chans);
    free(self->name);
    free(self->file);
    free(self->dir);
    free(self->rundir);
    free(self->tcp_host);
    free(self);
    *self_p = NULL;
}

int plan_find_actor(const plan_t *self, const char *name)
{
    for (int i = 0; i < self->nactors; i++)
        if (strcmp(self->actors[i].name, name) == 0)
            return i;
    return -1;
}

int plan_find_chan(const plan_t *self, const char *name)
{
    for (int i = 0; i < self->nchans; i++)
        if (strcmp(self->chans[i].name, name) == 0)
            return i;
    return -1;
}

bool plan_actor_exact(const plan_actor_t *a)
{
    return !a->external && a->ninputs > 0 && (a->stateful || a->noutputs == 0);
}

bool plan_actor_checkpoints(const plan_actor_t *a)
{
    return plan_actor_exact(a) && !a->lossy && (a->checkpoints || !a->stateful);
}

int plan_chan_home(const plan_t *self, int chan)
{
    if (self->chans[chan].mode != CHAN_PIPE)
        return -1;
    int reader = -1;
    for (int a = 0; a < self->nactors; a++)
        for (int k = 0; k < self->actors[a].ninputs; k++)
            if (self->actors[a].inputs[k] == chan) {
                if (reader >= 0 && reader != a)
                    return -1; /* several readers share it: load-balanced */
                reader = a;
            }
    return reader >= 0 && plan_actor_exact(&self->actors[reader]) ? reader : -1;
}

/* ==== packing ================================================================ */

/*  Fields go in a fixed order, as arrays: both ends are this file. */

static void pack_str(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_ints(msgpack_packer *pk, const int *v, int n)
{
    msgpack_pack_array(pk, (uint32_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_int(pk, v[i]);
}

void plan_pack(msgpack_packer *pk, const plan_t *p)
{
    msgpack_pack_array(pk, 10);
    pack_str(pk, p->name);
    pack_str(pk, p->file);
    pack_str(pk, p->dir);
    pack_str(pk, p->rundir);
    msgpack_pack_uint32(pk, p->batch);
    msgpack_pack_uint32(pk, p->window);
    msgpack_pack_uint32(pk, p->credit);
    msgpack_pack_array(pk, (uint32_t)p->nchans);
    for (int i = 0; i < p->nchans; i++) {
        const plan_chan_t *c = &p->chans[i];
        msgpack_pack_array(pk, 5);
        pack_str(pk, c->name);
        msgpack_pack_int(pk, c->mode);
        msgpack_pack_int(pk, c->line);
        msgpack_pack_int(pk, c->nproducers);
        msgpack_pack_int(pk, c->nconsumers);
    }
    msgpack_pack_array(pk, (uint32_t)p->nactors);
    for (int i = 0; i < p->nactors; i++) {
        const plan_actor_t *a = &p->actors[i];
        msgpack_pack_array(pk, 23);
        pack_str(pk, a->name);
        pack_str(pk, a->module);
        pack_str(pk, a->module_path);
        msgpack_pack_int(pk, a->line);
        msgpack_pack_int(pk, a->module_line);
        msgpack_pack_uint32(pk, a->instances);
        pack_ints(pk, a->inputs, a->ninputs);
        pack_ints(pk, a->outputs, a->noutputs);
        pack_str(pk, a->topic);
        pack_str(pk, a->subscribe);
        msgpack_pack_int(pk, a->ordered);
        a->source ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        a->flushes ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        msgpack_pack_int(pk, a->on_error);
        msgpack_pack_uint32(pk, a->retries);
        msgpack_pack_int(pk, a->restart);
        msgpack_pack_uint32(pk, a->max_restarts);
        msgpack_pack_double(pk, a->restart_period);
        msgpack_pack_array(pk, (uint32_t)a->nargs * 2);
        for (int j = 0; j < a->nargs; j++) {
            pack_str(pk, a->args[j].key);
            pack_str(pk, a->args[j].value);
        }
        msgpack_pack_int(pk, (a->stateful ? 1 : 0) | (a->checkpoints ? 2 : 0)
                                 | (a->lossy ? 4 : 0));
        a->external ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        pack_str(pk, a->exe);
        msgpack_pack_int(pk, a->place);
    }
    pack_str(pk, p->tcp_host);
}

/*  Readers that leave *ok false on a wrong type. */
typedef struct {
    const msgpack_object *v;
    uint32_t n, i;
    bool ok;
} rd_t;

static const msgpack_object *next(rd_t *r)
{
    if (r->i >= r->n) {
        r->ok = false;
        return NULL;
    }
    return &r->v[r->i++];
}

static bool rd_open(rd_t *r, const msgpack_object *o, uint32_t n)
{
    r->ok = o && o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == n;
    r->v = r->ok ? o->via.array.ptr : NULL;
    r->n = r->ok ? n : 0;
    r->i = 0;
    return r->ok;
}

static char *rd_str(rd_t *r)
{
    const msgpack_object *o = next(r);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return NULL;
    if (o->type != MSGPACK_OBJECT_STR) {
        r->ok = false;
        return NULL;
    }
    return strndup(o->via.str.ptr, o->via.str.size);
}

static int64_t rd_int(rd_t *r)
{
    const msgpack_object *o = next(r);
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX)
        return (int64_t)o->via.u64;
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN)
        return o->via.i64;
    r->ok = false;
    return 0;
}

static bool rd_bool(rd_t *r)
{
    const msgpack_object *o = next(r);
    if (o && o->type == MSGPACK_OBJECT_BOOLEAN)
        return o->via.boolean;
    r->ok = false;
    return false;
}

static double rd_double(rd_t *r)
{
    const msgpack_object *o = next(r);
    if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32))
        return o->via.f64;
    r->ok = false;
    return 0;
}

static int *rd_ints(rd_t *r, int *n)
{
    const msgpack_object *o = next(r);
    *n = 0;
    if (!o || o->type != MSGPACK_OBJECT_ARRAY) {
        r->ok = false;
        return NULL;
    }
    int *v = calloc(o->via.array.size + 1, sizeof *v);
    rd_t in;
    if (!v || !rd_open(&in, o, o->via.array.size)) {
        free(v);
        r->ok = false;
        return NULL;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++)
        v[i] = (int)rd_int(&in);
    *n = (int)o->via.array.size;
    r->ok &= in.ok;
    return v;
}

/*  The channels, each [name, mode, line, nproducers, nconsumers], into
    p->chans (room made by the caller). false when one is not that. */
static bool unpack_chans(plan_t *p, const msgpack_object *chans)
{
    for (uint32_t i = 0; i < chans->via.array.size; i++) {
        rd_t c;
        plan_chan_t *ch = &p->chans[p->nchans++];
        if (!rd_open(&c, &chans->via.array.ptr[i], 5))
            return false;
        ch->name = rd_str(&c);
        ch->mode = (plan_chan_mode_t)rd_int(&c);
        ch->line = (int)rd_int(&c);
        ch->nproducers = (int)rd_int(&c);
        ch->nconsumers = (int)rd_int(&c);
        if (!(c.ok && ch->name))
            return false;
    }
    return true;
}

/*  An actor's arguments, the next field of c: [KEY, VALUE, ...]. */
static void unpack_args(rd_t *c, plan_actor_t *a)
{
    const msgpack_object *args = next(c);
    if (!args || args->type != MSGPACK_OBJECT_ARRAY || args->via.array.size % 2 != 0) {
        c->ok = false;
        return;
    }
    rd_t ar;
    rd_open(&ar, args, args->via.array.size);
    a->args = calloc(args->via.array.size / 2 + 1, sizeof *a->args);
    for (uint32_t j = 0; a->args && j < args->via.array.size / 2; j++) {
        a->args[j].key = rd_str(&ar);
        a->args[j].value = rd_str(&ar);
        a->nargs++;
    }
    c->ok &= ar.ok && a->args;
}

/*  Whether every channel index of the actor names one of p's channels. */
static bool chans_known(const plan_t *p, const plan_actor_t *a)
{
    for (int k = 0; k < a->ninputs; k++)
        if (a->inputs[k] < 0 || a->inputs[k] >= p->nchans)
            return false;
    for (int k = 0; k < a->noutputs; k++)
        if (a->outputs[k] < 0 || a->outputs[k] >= p->nchans)
            return false;
    return true;
}

/*  One actor, the 23 fields plan_pack writes, into a. false when o is not
    one. */
static bool unpack_actor(const plan_t *p, plan_actor_t *a, const msgpack_object *o)
{
    rd_t c;
    if (!rd_open(&c, o, 23))
        return false;
    a->name = rd_str(&c);
    a->module = rd_str(&c);
    a->module_path = rd_str(&c);
    a->line = (int)rd_int(&c);
    a->module_line = (int)rd_int(&c);
    a->instances = (unsigned)rd_int(&c);
    a->inputs = rd_ints(&c, &a->ninputs);
    a->outputs = rd_ints(&c, &a->noutputs);
    a->topic = rd_str(&c);
    a->subscribe = rd_str(&c);
    a->ordered = (int)rd_int(&c);
    a->source = rd_bool(&c);
    a->flushes = rd_bool(&c);
    a->on_error = (plan_on_error_t)rd_int(&c);
    a->retries = (unsigned)rd_int(&c);
    a->restart = (plan_restart_t)rd_int(&c);
    a->max_restarts = (unsigned)rd_int(&c);
    a->restart_period = rd_double(&c);
    unpack_args(&c, a);
    int64_t state = rd_int(&c);
    a->stateful = state & 1;
    a->checkpoints = state & 2;
    a->lossy = state & 4;
    a->external = rd_bool(&c);
    a->exe = rd_str(&c);
    a->place = (plan_place_t)rd_int(&c);
    return c.ok && chans_known(p, a) && a->name && a->topic && a->subscribe
           && a->instances >= 1 && a->instances <= 1024;
}

plan_t *plan_unpack(const msgpack_object *o)
{
    rd_t r;
    plan_t *p = calloc(1, sizeof *p);
    if (!p || !rd_open(&r, o, 10)) {
        free(p);
        return NULL;
    }
    p->name = rd_str(&r);
    p->file = rd_str(&r);
    p->dir = rd_str(&r);
    p->rundir = rd_str(&r);
    p->batch = (unsigned)rd_int(&r);
    p->window = (unsigned)rd_int(&r);
    p->credit = (unsigned)rd_int(&r);
    const msgpack_object *chans = next(&r), *actors = next(&r);
    if (r.ok && chans->type == MSGPACK_OBJECT_ARRAY && actors->type == MSGPACK_OBJECT_ARRAY) {
        p->chans = calloc(chans->via.array.size + 1, sizeof *p->chans);
        p->actors = calloc(actors->via.array.size + 1, sizeof *p->actors);
        r.ok = p->chans && p->actors && unpack_chans(p, chans);
    }
    else
        r.ok = false;
    for (uint32_t i = 0; r.ok && i < actors->via.array.size; i++)
        r.ok = unpack_actor(p, &p->actors[p->nactors++], &actors->via.array.ptr[i]);
    if (r.ok)
        p->tcp_host = rd_str(&r);
    if (!r.ok || !p->name || !p->dir || !p->batch || !p->nactors) {
        plan_destroy(&p);
        return NULL;
    }
    return p;
}

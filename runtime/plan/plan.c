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
    self->credit = 1024;
}

void plan_actor_init(plan_actor_t *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->name = name ? strdup(name) : NULL;
    a->instances = 1;
    a->ordered = -1;
    a->topic = strdup("");
    a->subscribe = strdup("");
    a->max_restarts = 10;
    a->restart_period = 5.0;
}

void plan_actor_clear(plan_actor_t *a)
{
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
    memset(a, 0, sizeof *a);
}

void plan_destroy(plan_t **self_p)
{
    plan_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->nactors; i++)
        plan_actor_clear(&self->actors[i]);
    for (int i = 0; i < self->nchans; i++) {
        free(self->chans[i].name);
        free(self->chans[i].key);
    }
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

int plan_chan_reader(const plan_t *self, int chan)
{
    int reader = -1;
    for (int a = 0; a < self->nactors; a++)
        for (int k = 0; k < self->actors[a].ninputs; k++)
            if (self->actors[a].inputs[k] == chan) {
                if (reader >= 0 && reader != a)
                    return -1;
                reader = a;
            }
    return reader;
}

/*  Whether an ordered actor reads `chan`, or what is made from it: the
    actors reached are marked in seen (one flag an actor), so that a
    cycle ends. */
static bool feeds_order(const plan_t *self, int chan, bool *seen)
{
    for (int a = 0; a < self->nactors; a++) {
        const plan_actor_t *x = &self->actors[a];
        for (int k = 0; k < x->ninputs; k++) {
            if (x->inputs[k] != chan || seen[a])
                continue;
            seen[a] = true;
            if (x->ordered > 0)
                return true;
            for (int o = 0; o < x->noutputs; o++)
                if (feeds_order(self, x->outputs[o], seen))
                    return true;
        }
    }
    return false;
}

bool plan_chan_feeds_order(const plan_t *self, int chan)
{
    bool *seen = calloc((size_t)self->nactors + 1, sizeof *seen);
    bool yes = seen && feeds_order(self, chan, seen);
    free(seen);
    return yes;
}

int plan_chan_home(const plan_t *self, int chan)
{
    if (self->chans[chan].mode != CHAN_PIPE)
        return -1;
    /* several readers share it: load-balanced */
    int reader = plan_chan_reader(self, chan);
    return reader >= 0 && plan_actor_exact(&self->actors[reader]) ? reader : -1;
}

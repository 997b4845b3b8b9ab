/*  names.c: the salt of copies' names (plan.h, plan_name_copies).

    Every copy an item can become is followed through the pipeline, from
    every actor that makes items (any actor may: sources in produce, every
    actor in flush): into each output, renamed where the producer has
    several; to each reader actor of the channel, and on a broadcast to
    each of its instances, renamed per instance; and on through every
    actor after it. Each arrival at an actor is recorded with its name and
    the copy it is (a hash of its origin and the branches it took, which
    does not depend on the salt). Two arrivals at one actor with one name
    and different copies would be taken as one item there: the salt is
    changed until there are none. Two arrivals of the same copy by
    different routes are not a problem: a pipe read by several actors gives
    an item to one of them. The plan is acyclic (config.c), so the walk
    ends; it stops counting at WALK_MAX arrivals, past which the names are
    left as the first salt makes them (a pipeline with that many branches
    is not one anyone has written).
*/
#include "plan/plan.h"
#include "wire/envelope.h"

#include <stdio.h>
#include <stdlib.h>

#define WALK_MAX (1u << 18)
#define SALTS 64

typedef struct {
    int actor;
    uint32_t name;
    uint64_t copy;
} arrival_t;

typedef struct {
    const plan_t *p;
    uint32_t salt;
    arrival_t *at; /* grown as the walk needs, up to WALK_MAX */
    size_t n, cap;
    bool over;     /* stopped at WALK_MAX, or out of memory */
    bool nomem;
} walk_t;

static uint64_t copy_mix(uint64_t copy, uint64_t chan, uint64_t branch)
{
    uint64_t x = copy ^ (chan * 0x9e3779b97f4a7c15ull) ^ (branch + 0x632be59bd9b4e019ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void emit(walk_t *w, int actor, uint32_t name, uint64_t copy);

static void arrive(walk_t *w, int actor, uint32_t name, uint64_t copy)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        arrival_t *more = cap <= WALK_MAX ? realloc(w->at, cap * sizeof *more) : NULL;
        if (!more) {
            w->over = true;
            w->nomem = cap <= WALK_MAX;
            return;
        }
        w->at = more;
        w->cap = cap;
    }
    w->at[w->n++] = (arrival_t){ actor, name, copy };
    emit(w, actor, name, copy);
}

static void emit(walk_t *w, int actor, uint32_t name, uint64_t copy)
{
    const plan_t *p = w->p;
    const plan_actor_t *a = &p->actors[actor];
    for (int o = 0; o < a->noutputs && !w->over; o++) {
        int c = a->outputs[o];
        bool fan = a->noutputs > 1;
        uint32_t cname = fan ? env_branch_origin(w->salt, name, (uint32_t)c, ENV_BRANCH_OUT)
                             : name;
        uint64_t ccopy = fan ? copy_mix(copy, (uint64_t)c, ENV_BRANCH_OUT) : copy;
        /* every reading instance's copy is its own: all of the item on a
           broadcast, the values whose keys it owns on a keyed channel */
        bool bc = p->chans[c].mode != CHAN_PIPE;
        for (int r = 0; r < p->nactors && !w->over; r++)
            for (int k = 0; k < p->actors[r].ninputs; k++) {
                if (p->actors[r].inputs[k] != c)
                    continue;
                for (unsigned i = 0; bc && i < p->actors[r].instances && !w->over; i++)
                    arrive(w, r, env_branch_origin(w->salt, cname, (uint32_t)c, i),
                           copy_mix(ccopy, (uint64_t)c, i));
                if (!bc)
                    arrive(w, r, cname, ccopy);
            }
    }
}

static int by_actor_name(const void *x, const void *y)
{
    const arrival_t *a = x, *b = y;
    if (a->actor != b->actor)
        return a->actor < b->actor ? -1 : 1;
    if (a->name != b->name)
        return a->name < b->name ? -1 : 1;
    return a->copy < b->copy ? -1 : a->copy > b->copy;
}

/*  True when, with w->salt, two different copies reach one actor under
    one name. */
static bool names_collide(walk_t *w)
{
    w->n = 0;
    w->over = w->nomem = false;
    for (int x = 0; x < w->p->nactors && !w->over; x++)
        emit(w, x, (uint32_t)x, copy_mix(0, (uint64_t)x, 0));
    if (w->n > 1)
        qsort(w->at, w->n, sizeof *w->at, by_actor_name);
    for (size_t i = 1; i < w->n; i++)
        if (w->at[i].actor == w->at[i - 1].actor && w->at[i].name == w->at[i - 1].name
            && w->at[i].copy != w->at[i - 1].copy)
            return true;
    return false;
}

int plan_name_copies(plan_t *self, char *err, size_t errlen)
{
    walk_t w = { .p = self };
    for (w.salt = 0; w.salt < SALTS; w.salt++)
        if (!names_collide(&w) || w.over) {
            free(w.at);
            if (w.nomem) {
                snprintf(err, errlen, "out of memory to name the copies of items");
                return -1;
            }
            self->names = w.over ? 0 : w.salt;
            return 0;
        }
    free(w.at);
    snprintf(err, errlen, "no salt of %d gives every copy of an item a name of its own",
             SALTS);
    return -1;
}

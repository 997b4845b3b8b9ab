/*  placement.c: where each instance runs, the head or one of its nodes
    (cluster/head.h keeps the nodes). Decisions only: the supervisor
    starts, stops and moves the processes. */
#include "supervisor/supervise.h"

#include <math.h>
#include <string.h>

/*  Workers go to nodes; sources and sinks stay home unless the config
    says otherwise (place = any). */
static bool node_worker(const plan_actor_t *a)
{
    if (a->place != PLACE_DEFAULT)
        return a->place == PLACE_ANY;
    return a->ninputs > 0 && a->noutputs > 0;
}

/*  Worker instances a place runs: [0] the head, [1+k] node k. */
static void count_load(sup_t *s, unsigned *load)
{
    memset(load, 0, (MAX_NODES + 1) * sizeof *load);
    for (int i = 0; i < s->ninsts; i++) {
        const inst_t *o = &s->insts[i];
        if (o->placed && instance_alive(o) && !o->moving
            && node_worker(&s->plan->actors[o->actor]))
            load[o->node + 1]++;
    }
}

static unsigned cores_at(sup_t *s, int node)
{
    return node < 0 ? s->head_cores : head_node(s->head, node)->cores;
}

/*  Instances per core; a head of no cores (one outside its allocation's
    nodes, troupe run --slurm under salloc) is always the busiest. */
static double per_core(unsigned load, unsigned cores)
{
    return cores ? (double)load / cores : load ? HUGE_VAL : 0;
}

/*  The head or a live node, whichever has the fewest worker instances per
    announced core once it has this one (the head first on a tie). */
void place(sup_t *s, inst_t *in)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    int prefer = in->prefer;
    in->prefer = -1;
    in->node = -1;
    in->placed = false; /* not counted while it is being placed */
    if (s->head && !a->external && !a->exe && node_worker(a)) {
        const head_node_t *p = head_node(s->head, prefer);
        if (p && p->alive && !p->draining)
            in->node = prefer; /* moves to a node that joined late */
        else {
            unsigned load[MAX_NODES + 1];
            count_load(s, load);
            double best = per_core(load[0] + 1, s->head_cores);
            for (int k = 0; k < head_nnodes(s->head); k++) {
                const head_node_t *nd = head_node(s->head, k);
                double score = (double)(load[k + 1] + 1) / nd->cores;
                if (nd->alive && !nd->draining && score < best) {
                    best = score;
                    in->node = k;
                }
            }
        }
    }
    in->placed = true;
}

/*  A node that joined after the start takes its share from then on: the
    busiest places (by instances per core) each give up a running worker
    instance, killed on purpose and started again on the new node, until
    it would not lighten them. What the instance held is sent again, as
    after any death, so the output stays exact. Actors that keep state
    (they flush at the end) or restore an order are left where they are:
    moving them would lose their state. */
static bool movable(sup_t *s, const inst_t *o, int k)
{
    const plan_actor_t *a = &s->plan->actors[o->actor];
    return o->placed && o->state == I_RUNNING && !o->moving && o->node != k
           && node_worker(a) && !a->flushes && a->ordered <= 0 && !a->exe
           && a->restart != RESTART_TEMPORARY;
}

int place_moves(sup_t *s, int k, inst_t **victims, int max)
{
    unsigned load[MAX_NODES + 1];
    count_load(s, load);
    int n = 0;
    while (n < max) {
        double worst = per_core(load[k + 1] + 1, cores_at(s, k));
        inst_t *victim = NULL;
        for (int i = 0; i < s->ninsts; i++) {
            inst_t *o = &s->insts[i];
            double there = movable(s, o, k) ? per_core(load[o->node + 1], cores_at(s, o->node))
                                            : 0;
            if (there > worst) {
                worst = there;
                victim = o;
            }
        }
        if (!victim)
            break;
        load[victim->node + 1]--;
        load[k + 1]++;
        victim->moving = true;
        victim->prefer = k;
        victims[n++] = victim;
    }
    return n;
}

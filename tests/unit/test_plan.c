/*  test_plan: the plan codec (runtime/plan/codec.c). A plan comes back
    whole, every field; names it does not know are skipped; a field left
    out keeps its default; a wrong type, a value out of range or a channel
    index with no channel is refused. */
#include "check.h"
#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

static plan_t *sample(void)
{
    plan_t *p = calloc(1, sizeof *p);
    plan_defaults(p);
    p->name = strdup("sample");
    p->file = strdup("/x/sample.zpl");
    p->dir = strdup("/x");
    p->tcp_host = strdup("10.0.0.1");
    p->port_lo = 7000;
    p->port_hi = 7099;
    p->batch = 77;
    p->nchans = 1;
    p->chans = calloc(1, sizeof *p->chans);
    p->chans[0] = (plan_chan_t){ strdup("c"), CHAN_BROADCAST, 9, 1, 1 };
    p->nactors = 2;
    p->actors = calloc(2, sizeof *p->actors);
    plan_actor_init(&p->actors[0], "src");
    plan_actor_init(&p->actors[1], "sink");
    plan_actor_t *a = &p->actors[1];
    a->module = strdup("print");
    a->module_path = strdup("/lib/print.so");
    a->instances = 3;
    a->inputs = calloc(1, sizeof *a->inputs);
    a->ninputs = 1;
    a->ordered = 1;
    a->stateful = a->checkpoints = true;
    a->lossy = false;
    a->on_error = ON_ERROR_SKIP;
    a->retries = 4;
    a->restart = RESTART_TEMPORARY;
    a->restart_period = 2.5;
    a->place = PLACE_ANY;
    a->nargs = 1;
    a->args = calloc(1, sizeof *a->args);
    a->args[0].key = strdup("format");
    a->args[0].value = strdup("%d");
    p->actors[0].outputs = calloc(1, sizeof(int));
    p->actors[0].noutputs = 1;
    p->actors[0].source = true;
    return p;
}

static plan_t *round_trip(const plan_t *p, msgpack_zone *zone, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    plan_pack(&pk, p);
    msgpack_object o;
    if (msgpack_unpack(sb->data, sb->size, NULL, zone, &o) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    return plan_unpack(&o);
}

/*  A map from a packed literal (msgpack bytes built by hand below). */
static bool unpack_actor_bytes(const char *bytes, size_t n, plan_actor_t *a)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    bool ok = msgpack_unpack(bytes, n, NULL, &zone, &o) == MSGPACK_UNPACK_SUCCESS
              && plan_unpack_actor(&o, a, 1);
    msgpack_zone_destroy(&zone);
    return ok;
}

int main(void)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);

    plan_t *p = sample();
    plan_t *q = round_trip(p, &zone, &sb);
    CHECK(q != NULL);
    if (q) {
        CHECK_STR(q->name, "sample");
        CHECK_STR(q->file, "/x/sample.zpl");
        CHECK_STR(q->tcp_host, "10.0.0.1");
        CHECK(q->port_lo == 7000 && q->port_hi == 7099); /* dropped before */
        CHECK(q->batch == 77 && q->window == p->window && q->credit == p->credit);
        CHECK(q->rundir == NULL);
        CHECK(q->nchans == 1 && q->chans[0].mode == CHAN_BROADCAST && q->chans[0].line == 9);
        CHECK(q->nactors == 2);
        const plan_actor_t *a = &q->actors[1];
        CHECK_STR(a->name, "sink");
        CHECK_STR(a->module_path, "/lib/print.so");
        CHECK(a->instances == 3 && a->ninputs == 1 && a->inputs[0] == 0);
        CHECK(a->ordered == 1 && a->stateful && a->checkpoints && !a->lossy);
        CHECK(a->on_error == ON_ERROR_SKIP && a->retries == 4);
        CHECK(a->restart == RESTART_TEMPORARY && a->restart_period == 2.5);
        CHECK(a->place == PLACE_ANY);
        CHECK(a->nargs == 1 && !strcmp(a->args[0].key, "format")
              && !strcmp(a->args[0].value, "%d"));
        CHECK(q->actors[0].source && q->actors[0].noutputs == 1);
        plan_destroy(&q);
    }

    /* an output naming a channel that is not there */
    p->actors[0].outputs[0] = 5;
    CHECK(round_trip(p, &zone, &sb) == NULL);
    p->actors[0].outputs[0] = 0;
    plan_destroy(&p);

    /* {"name": "x", "instances": 2, "future": 1}: an unknown name skipped,
       the rest at their defaults */
    plan_actor_t a;
    plan_actor_init(&a, NULL);
    static const char known[] = "\x83\xa4name\xa1x\xa9instances\x02\xa6" "future\x01";
    CHECK(unpack_actor_bytes(known, sizeof known - 1, &a));
    CHECK_STR(a.name, "x");
    CHECK(a.instances == 2 && a.max_restarts == 10 && a.ordered == -1);
    plan_actor_clear(&a);

    /* {"name": "x", "instances": "2"}: a wrong type */
    plan_actor_init(&a, NULL);
    static const char typed[] = "\x82\xa4name\xa1x\xa9instances\xa1" "2";
    CHECK(!unpack_actor_bytes(typed, sizeof typed - 1, &a));
    plan_actor_clear(&a);

    /* {"name": "x", "on_error": 7}: out of range */
    plan_actor_init(&a, NULL);
    static const char range[] = "\x82\xa4name\xa1x\xa8on_error\x07";
    CHECK(!unpack_actor_bytes(range, sizeof range - 1, &a));
    plan_actor_clear(&a);

    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&zone);
    CHECK_DONE();
}

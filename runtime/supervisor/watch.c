/*  watch.c: a run shown while it runs. The supervisor publishes a snapshot
    of every instance's counters a few times a second on a PUB socket in
    the run directory (ipc://RUNDIR/stats), and, on a head, to each
    `troupe top --head` that asked for them over the node link. A file
    beside it (RUNDIR/info) names the pipeline and the supervisor's pid, so
    that `troupe top NAME` finds the run.

    The figures are the ones the actors already send in their heartbeat
    (STATS, every 250 ms), so the data path pays nothing for a watcher: no
    actor knows whether anyone looks. A PUB drops what a slow or absent
    subscriber cannot take (a high-water mark of a few snapshots), so a
    stuck `troupe top` cannot hold the supervisor up either.

    The snapshot is one msgpack map (docs/PROTOCOL.md, "Stats"):
      {v, pipeline, pid, state, elapsed, total, done, actors: [...],
       rows: [{actor, instance, node, pid, state, in, out, failed,
               restarts, held, unacked, rate, cpu}...]}
*/
#include "supervisor/watch.h"

#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"
#include "supervisor/progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WATCH_EVERY_MS 250
#define WATCHER_LEASE_MS 3000 /* a remote top says WATCH every second */

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_key_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    pack_str(pk, k);
    msgpack_pack_uint64(pk, v);
}

static void pack_key_str(msgpack_packer *pk, const char *k, const char *v)
{
    pack_str(pk, k);
    pack_str(pk, v);
}

static uint64_t items_of(sup_t *s, const inst_t *in)
{
    /* an actor's work is what it takes in; a source's what it makes */
    int k = s->plan->actors[in->actor].ninputs ? 0 : 1;
    return in->past[k] + in->stats[k];
}

/*  Rates over the last second or so, from samples taken at each tick:
    heartbeats are not in step with ticks, so one tick's difference would
    jump between nothing and two heartbeats' worth. */
static void sample(sup_t *s, inst_t *in, uint64_t now)
{
    unsigned cap = sizeof in->samples / sizeof in->samples[0];
    if (in->nsamples == cap) {
        memmove(in->samples, in->samples + 1, (cap - 1) * sizeof in->samples[0]);
        in->nsamples--;
    }
    in->samples[in->nsamples].t_ms = now;
    in->samples[in->nsamples].items = items_of(s, in);
    in->samples[in->nsamples].cpu_ns = in->cpu_past + in->cpu_ns;
    in->nsamples++;
    const typeof(in->samples[0]) *a = &in->samples[0], *b = &in->samples[in->nsamples - 1];
    if (in->nsamples < 2 || b->t_ms <= a->t_ms) {
        in->rate = in->cpu_pct = 0;
        return;
    }
    double dt = (double)(b->t_ms - a->t_ms) / 1000.0;
    in->rate = b->items >= a->items ? (double)(b->items - a->items) / dt : 0;
    in->cpu_pct = b->cpu_ns >= a->cpu_ns ? (double)(b->cpu_ns - a->cpu_ns) / 1e7 / dt : 0;
}

static const char *inst_state(const inst_t *in)
{
    switch (in->state) {
    case I_SPAWNED:
    case I_CONFIGURED: return "starting";
    case I_READY: return "ready";
    case I_RUNNING: return in->held || in->unacked || in->rate > 0 ? "busy" : "idle";
    case I_DONE: return "done";
    case I_EXITED: return in->finished ? "done" : "dead";
    case I_WAITING: return "restarting";
    case I_GONE: return "gone";
    }
    return "?";
}

static const char *run_state(sup_t *s, bool final)
{
    if (final)
        return s->exit_code == 0 ? "done" : "failed";
    if (s->killing)
        return "stopping";
    if (s->draining)
        return "draining";
    return s->started ? "running" : "starting";
}

void watch_pack(sup_t *s, msgpack_sbuffer *sb, bool final)
{
    const plan_t *p = s->plan;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    uint64_t total, done;
    progress_tally(s, &done, &total);
    msgpack_pack_map(&pk, 9);
    pack_key_uint(&pk, "v", 1);
    pack_key_str(&pk, "pipeline", p->name);
    pack_key_uint(&pk, "pid", (uint64_t)getpid());
    pack_key_str(&pk, "state", run_state(s, final));
    pack_str(&pk, "elapsed");
    msgpack_pack_double(&pk, (double)(now_ms() - s->t_start) / 1000.0);
    pack_key_uint(&pk, "total", total);
    pack_key_uint(&pk, "done", done);
    pack_str(&pk, "actors");
    msgpack_pack_array(&pk, (size_t)p->nactors);
    for (int a = 0; a < p->nactors; a++) {
        msgpack_pack_map(&pk, 4);
        pack_key_str(&pk, "name", p->actors[a].name);
        pack_key_str(&pk, "module", p->actors[a].module ? p->actors[a].module : "");
        pack_key_uint(&pk, "instances", p->actors[a].instances);
        pack_key_uint(&pk, "restarts", s->restarts ? s->restarts[a].total : 0);
    }
    pack_str(&pk, "rows");
    msgpack_pack_array(&pk, (size_t)s->ninsts);
    for (int i = 0; i < s->ninsts; i++) {
        const inst_t *in = &s->insts[i];
        msgpack_pack_map(&pk, 13);
        pack_key_uint(&pk, "actor", (uint64_t)in->actor);
        pack_key_uint(&pk, "instance", in->instance);
        pack_key_str(&pk, "node", in->node >= 0 ? head_node(s->head, in->node)->name : s->hostname);
        /* an external actor is played by the program whose pool this is,
           which started this supervisor */
        pid_t pid = s->plan->actors[in->actor].external ? getppid() : in->pid;
        pack_key_uint(&pk, "pid", pid > 0 ? (uint64_t)pid : 0);
        pack_key_str(&pk, "state", inst_state(in));
        pack_key_uint(&pk, "in", in->past[0] + in->stats[0]);
        pack_key_uint(&pk, "out", in->past[1] + in->stats[1]);
        pack_key_uint(&pk, "failed", in->past[4] + in->stats[4]);
        pack_key_uint(&pk, "restarts", in->restarts);
        pack_key_uint(&pk, "held", in->held);
        pack_key_uint(&pk, "unacked", in->unacked);
        pack_str(&pk, "rate");
        msgpack_pack_double(&pk, in->rate);
        pack_str(&pk, "cpu");
        msgpack_pack_double(&pk, in->cpu_pct);
    }
}

int watch_open(sup_t *s)
{
    gethostname(s->hostname, sizeof s->hostname - 1);
    char *dot = strchr(s->hostname, '.');
    if (dot)
        *dot = '\0';
    if (!s->hostname[0])
        snprintf(s->hostname, sizeof s->hostname, "localhost");
    s->statsock = zmq_socket(s->zctx, ZMQ_PUB);
    if (!s->statsock)
        return -1;
    int zero = 0, hwm = 4;
    zmq_setsockopt(s->statsock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s->statsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    char ep[PATH_MAX + 16];
    snprintf(ep, sizeof ep, "ipc://%s/stats", s->rundir);
    if (zmq_bind(s->statsock, ep) != 0) {
        say_warn(s, "cannot bind %s (troupe top will not see this run): %s", ep,
                 zmq_strerror(errno));
        zmq_close(s->statsock);
        s->statsock = NULL;
        return -1;
    }
    /* written last and whole (rename), so that a reader never sees half */
    char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/info", s->rundir);
    snprintf(tmp, sizeof tmp, "%s/.info", s->rundir);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "pipeline %s\npid %d\n", s->plan->name, (int)getpid());
        if (fclose(f) == 0)
            rename(tmp, path);
        else
            unlink(tmp);
    }
    return 0;
}

static void publish(sup_t *s, bool final)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    watch_pack(s, &sb, final);
    if (s->statsock)
        zmq_send(s->statsock, sb.data, sb.size, ZMQ_DONTWAIT);
    if (s->head && s->nwatchers) {
        uint64_t now = now_ms();
        for (int w = 0; w < s->nwatchers; w++) {
            watcher_t *x = &s->watchers[w];
            if (now - x->last_seen > WATCHER_LEASE_MS
                || head_send_bin(s->head, x->id, x->idlen, NODE_SNAPSHOT, sb.data,
                                     sb.size)
                       < 0) {
                s->watchers[w--] = s->watchers[--s->nwatchers]; /* gone */
                continue;
            }
        }
    }
    msgpack_sbuffer_destroy(&sb);
}

void watch_tick(sup_t *s)
{
    uint64_t now = now_ms();
    if (now < s->next_watch)
        return;
    s->next_watch = now + WATCH_EVERY_MS;
    for (int i = 0; i < s->ninsts; i++)
        sample(s, &s->insts[i], now);
    if (s->statsock || s->nwatchers)
        publish(s, false);
}

void watch_watcher(sup_t *s, const void *id, size_t idlen)
{
    for (int w = 0; w < s->nwatchers; w++)
        if (s->watchers[w].idlen == idlen && !memcmp(s->watchers[w].id, id, idlen)) {
            s->watchers[w].last_seen = now_ms();
            return;
        }
    if (s->nwatchers == MAX_WATCHERS || idlen > sizeof s->watchers[0].id)
        return; /* enough: the next one will be refused by silence */
    watcher_t *x = &s->watchers[s->nwatchers++];
    memcpy(x->id, id, idlen);
    x->idlen = idlen;
    x->last_seen = now_ms();
    if (s->opts->verbose > 0)
        say_info(s, "a troupe top is watching over the node link");
}

void watch_close(sup_t *s)
{
    if (s->statsock || s->nwatchers)
        publish(s, true); /* the end, for whoever is watching */
    if (s->statsock) {
        int linger = 100; /* long enough for that last snapshot to leave */
        zmq_setsockopt(s->statsock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(s->statsock);
        s->statsock = NULL;
    }
    if (s->rundir[0]) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/info", s->rundir);
        unlink(path);
        snprintf(path, sizeof path, "%s/stats", s->rundir);
        unlink(path);
    }
}

/*  supervisor.c: the process that runs a pipeline.

    It makes a private run directory (0700) for the ipc endpoints, binds the
    control ROUTER there, and fork+execs one `troupe actor` per instance.
    Start-up has two phases so that nobody connects before its peer has
    bound (a connect that comes first waits out a reconnect interval):
    every actor takes its CONFIG and binds its outputs (READY), then all get
    START and connect their inputs. Completion is decided here: an actor is
    told its input has ended once every actor upstream of it is DONE, which
    an actor only says when every batch it sent has been acknowledged.

    Signals arrive on a signalfd polled beside the control socket, so the
    loop never runs anything in a signal handler. A run on tcp gets a CURVE
    key pair of its own and an allowlist folder in the run directory
    (setup_curve, auth.c).
*/
#include "supervisor/supervise.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/rundir.h"
#include "base/spawn.h"

#include "host/actor.h"
#include "wire/auth.h"
#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"
#include "supervisor/progress.h"
#include "supervisor/watch.h"
#include "plan/wiring.h"
#include "host/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* ==== run directory ============================================================ */

static int make_rundir(sup_t *s)
{
    if (s->plan->rundir) { /* the embedding caller's */
        snprintf(s->rundir, sizeof s->rundir, "%s", s->plan->rundir);
        snprintf(s->control, sizeof s->control, "ipc://%s/ctl", s->rundir);
        return 0;
    }
    s->own_rundir = true;
    if (rundir_make("troupe", s->rundir, sizeof s->rundir) < 0) {
        say(s, "cannot make a run directory in %s: %s", s->rundir, strerror(errno));
        s->rundir[0] = '\0';
        return -1;
    }
    snprintf(s->control, sizeof s->control, "ipc://%s/ctl", s->rundir);
    return 0;
}

/*  A tcp run's data sockets are all CURVE, with one key pair for the run:
    every producer is a server with it, every consumer a client with it,
    and the allowlist every producer's zauth reads holds its public key
    alone. So only the run's own actors are admitted: anyone else on the
    machine who finds a port gets no handshake (without CURVE or with
    another key) and no batch. The pair is made here, at each run, and
    reaches the actors in CONFIG (wiring.c says why that is safe on one
    machine); nodes on other machines will bring pairs of their own and
    the allowlist will list theirs. */
static int setup_curve(sup_t *s)
{
    char err[512];
    if (auth_keys_new(&s->keys, err, sizeof err) < 0) {
        say(s, "%s", err);
        return -1;
    }
    snprintf(s->allow_dir, sizeof s->allow_dir, "%s/allow", s->rundir);
    s->allow[0] = s->keys.public_txt;
    if (auth_allow_write(s->allow_dir, s->allow, 1, err, sizeof err) < 0) {
        s->allow_dir[0] = '\0';
        say(s, "%s", err);
        return -1;
    }
    s->curve = (wiring_curve_t){ .public_txt = s->keys.public_txt,
                                 .secret_txt = s->keys.secret_txt,
                                 .allow = s->allow,
                                 .nallow = 1,
                                 .allow_dir = s->allow_dir };
    s->has_curve = true;
    if (s->opts->verbose > 1)
        say_info(s, "CURVE on every data socket: run key %s, allowlist %s",
            s->keys.public_txt, s->allow_dir);
    return 0;
}

static void remove_rundir(sup_t *s)
{
    if (!s->rundir[0])
        return;
    if (s->allow_dir[0])
        auth_allow_remove(s->allow_dir, 1);
    /* the ipc socket files: ctl and one per output of each instance */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ctl", s->rundir);
    unlink(path);
    for (int i = 0; i < s->ninsts; i++) {
        const plan_actor_t *a = &s->plan->actors[s->insts[i].actor];
        for (int o = 0; o < a->noutputs; o++) {
            wiring_socket_path(s->rundir, s->insts[i].actor, s->insts[i].instance,
                               a->outputs[o], path, sizeof path);
            unlink(path);
        }
        if (s->insts[i].out_fd >= 0) { /* a sink's output file (commit.c) */
            snprintf(path, sizeof path, "%s/out-%d-%u", s->rundir, s->insts[i].actor,
                     s->insts[i].instance);
            unlink(path);
        }
        if (s->insts[i].ckpt_fd >= 0) { /* its checkpoints (commit.c) */
            snprintf(path, sizeof path, "%s/ckpt-%d-%u", s->rundir, s->insts[i].actor,
                     s->insts[i].instance);
            unlink(path);
        }
    }
    if (!s->own_rundir) { /* the caller's: it removes it too, whoever is first */
        rmdir(s->rundir);
        s->rundir[0] = '\0';
        return;
    }
    if (rmdir(s->rundir) != 0)
        say_warn(s, "could not remove run directory %s: %s", s->rundir, strerror(errno));
    s->rundir[0] = '\0';
}

/* ==== signals ======================================================================== */

void read_signals(sup_t *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD)
            continue; /* reaped below, every turn */
        int code = 128 + sig;
        if (s->opts->embedded) { /* the caller ends its pool: no drain */
            say_info(s, "terminated by the calling program");
            fail_run(s, code);
            kill_all(s, SIGKILL);
            s->caller_waits = false; /* it needs no reason: it ended us */
            continue;
        }
        bool cancelled = sig == SIGTERM && s->opts->term_kills;
        if (cancelled && !s->draining && !s->killing)
            say_warn(s, "%s: the job is cancelled: killing every actor", strsignal(sig));
        if (s->draining || s->killing || cancelled) {
            /* a second signal, or a batch system's: no more patience.
               Through fail_run, as every end: an instance waiting for its
               restart (its node lost a moment before) is given up there,
               where setting `killing` alone left it waiting for a start
               that never comes, and the run for it, for ever (a head
               cancelled by scancel was still there a minute on) */
            fail_run(s, code);
            s->kill_deadline = now_ms();
            kill_all(s, SIGKILL);
            continue;
        }
        say_warn(s, "%s: stopping the sources and draining (again to kill now)",
            strsignal(sig));
        s->exit_code = code;
        drain_run(s, code);
    }
}

/* ==== summary ======================================================================== */

static void summary(sup_t *s)
{
    const plan_t *p = s->plan;
    double secs = (double)(now_ms() - s->t_start) / 1000.0;
    FILE *js = NULL;
    if (s->opts->stats && !(js = fopen(s->opts->stats, "w")))
        say_warn(s, "cannot write stats to %s: %s", s->opts->stats, strerror(errno));
    if (js)
        fprintf(js, "{\"pipeline\": \"%s\", \"exit\": %d, \"seconds\": %.6f, "
                "\"run_seconds\": %.6f, \"failed_items\": %llu, \"actors\": [",
                p->name, s->exit_code, secs,
                s->t_run && s->t_end > s->t_run ? (double)(s->t_end - s->t_run) / 1000.0 : 0.0,
                (unsigned long long)s->failed_items);
    if (s->opts->verbose > 0)
        fprintf(stderr, "%-16s %5s %12s %12s %8s %9s %8s %9s %12s\n", "actor", "inst",
                "items in", "items out", "failed", "malformed", "restarts", "busy s",
                "items/s");
    for (int a = 0; a < p->nactors; a++) {
        uint64_t tot[7] = { 0 };
        for (unsigned i = 0; i < p->actors[a].instances; i++)
            for (int k = 0; k < 7; k++)
                tot[k] += s->insts[s->first_inst[a] + i].stats[k]
                          + s->insts[s->first_inst[a] + i].past[k];
        unsigned restarts = s->restarts ? s->restarts[a].total : 0;
        long maxrss = 0;
        for (unsigned i = 0; i < p->actors[a].instances; i++)
            if (s->insts[s->first_inst[a] + i].maxrss_kb > maxrss)
                maxrss = s->insts[s->first_inst[a] + i].maxrss_kb;
        uint64_t items = p->actors[a].ninputs ? tot[0] : tot[1];
        double rate = secs > 0 ? (double)items / secs : 0;
        if (s->opts->verbose > 0)
            fprintf(stderr, "%-16s %5u %12llu %12llu %8llu %9llu %8u %9.3f %12.0f\n",
                    p->actors[a].name, p->actors[a].instances,
                    (unsigned long long)tot[0], (unsigned long long)tot[1],
                    (unsigned long long)tot[4], (unsigned long long)tot[5], restarts,
                    (double)tot[6] / 1e9, rate);
        const uint64_t *on = &s->node_items[a * (MAX_NODES + 1)];
        if (s->opts->verbose > 0 && s->head) { /* where its items went */
            fprintf(stderr, "%-16s   items on head %llu", "",
                    (unsigned long long)on[0]);
            for (int k = 0; k < head_nnodes(s->head); k++)
                fprintf(stderr, ", %s %llu", head_node(s->head, k)->name,
                        (unsigned long long)on[k + 1]);
            fprintf(stderr, "\n");
        }
        if (js)
            fprintf(js, "%s{\"name\": \"%s\", \"instances\": %u, \"items_in\": %llu, "
                    "\"items_out\": %llu, \"batches_in\": %llu, \"batches_out\": %llu, "
                    "\"failed\": %llu, \"malformed\": %llu, \"restarts\": %u, "
                    "\"busy_seconds\": %.6f, \"max_rss_kb\": %ld",
                    a ? ", " : "", p->actors[a].name, p->actors[a].instances,
                    (unsigned long long)tot[0], (unsigned long long)tot[1],
                    (unsigned long long)tot[2], (unsigned long long)tot[3],
                    (unsigned long long)tot[4], (unsigned long long)tot[5], restarts,
                    (double)tot[6] / 1e9, maxrss);
        if (js && s->head) {
            fprintf(js, ", \"nodes\": {\"head\": %llu", (unsigned long long)on[0]);
            for (int k = 0; k < head_nnodes(s->head); k++)
                fprintf(js, ", \"%s\": %llu", head_node(s->head, k)->name,
                        (unsigned long long)on[k + 1]);
            fprintf(js, "}");
        }
        if (js)
            fprintf(js, "}");
    }
    if (s->opts->verbose > 0)
        fprintf(stderr, "%s: %s in %.3f s\n", p->name,
                s->exit_code == 0 ? "done" : "failed", secs);
    if (js) {
        fprintf(js, "], \"supervisor_max_rss_kb\": %ld}\n", host_peak_rss_kb());
        fclose(js);
    }
}

/* ==== the loop ======================================================================== */

static void release_drained(sup_t *s);

static void check_time(sup_t *s)
{
    uint64_t now = now_ms();
    if (s->killing && now >= s->kill_deadline) {
        kill_all(s, SIGKILL);
        s->kill_deadline = now + 1000;
    }
    if (s->draining && !s->killing && now >= s->drain_deadline) {
        say_warn(s, "drain took longer than %.1f s: killing", s->opts->grace);
        fail_run(s, s->exit_code);
    }
    head_tick(s->head);
    if (s->killing)
        return;
    release_drained(s);
    for (int i = 0; i < s->ninsts; i++) {
        inst_t *in = &s->insts[i];
        if (in->state == I_WAITING) {
            if (now >= in->respawn_at) {
                in->incarnation++;
                if (spawn(s, in) < 0)
                    fail_run(s, 1);
            }
            continue;
        }
        if (!instance_alive(in) || in->state == I_DONE)
            continue;
        uint64_t limit = in->state == I_RUNNING ? (uint64_t)(s->opts->hang * 1000)
                                                : 30000;
        if (now - in->last_seen > limit && s->plan->actors[in->actor].external) {
            say(s, "the calling program (actor '%s') stopped answering",
                actor_name(s, in));
            fail_run(s, 1);
            return;
        }
        /* silent and not computing: a hook that computes is busy, not
           hung, however long it takes (docs/RELIABILITY.md, "Hangs") */
        uint64_t active = inst_active_at(in, now, limit);
        if (now - active > limit) {
            say_warn(s, "actor '%s' #%u (pid %d) %s for %.1f s%s: killing it",
                actor_name(s, in), in->instance, (int)in->pid,
                in->state == I_RUNNING ? "sent no heartbeat" : "did not start",
                (double)(now - in->last_seen) / 1000.0,
                in->node < 0 ? " and used no CPU" : "");
            signal_instance(s, in, SIGKILL); /* reaped as a death: restarted or fatal */
            in->hung = true;
            in->last_seen = now;
        }
    }
}

/* ==== the head's nodes (cluster/head.h) ========================================== */

static void head_say(void *arg, log_level_t level, const char *text)
{
    sup_t *s = arg;
    if (level == LOG_ERROR)
        say(s, "%s", text);
    else if (level == LOG_WARNING)
        say_warn(s, "%s", text);
    else
        say_info(s, "%s", text);
}

/*  A node that joined after the start takes its share from then on
    (placement.c chooses which instances move). Each one moved retires
    (CTL_RETIRE_NOW), as from a draining node: it hands on what it took,
    nothing runs twice, and its last counters count where it ran (killed,
    what it did since its last heartbeat was missing from the per-place
    counts: 19,375,216 of 20M items shown). Its successor starts on node
    k (in->prefer). */
static void head_joined(void *arg, int k)
{
    sup_t *s = arg;
    if (!s->started)
        return;
    inst_t **victims = malloc((size_t)s->ninsts * sizeof *victims);
    int n = victims ? place_moves(s, k, victims, s->ninsts) : 0;
    for (int i = 0; i < n; i++)
        send_kind(s, victims[i], CTL_RETIRE_NOW);
    free(victims);
}

/*  Each of its live instances died with it and starts again elsewhere:
    one event, the node's, that counts against no actor's restart
    intensity and makes no item poison (a node that is lost stays lost, so
    there are at most as many as there are nodes). */
static void head_lost(void *arg, int k, const char *why)
{
    sup_t *s = arg;
    int n = 0;
    for (int i = 0; i < s->ninsts; i++)
        n += s->insts[i].node == k && instance_alive(&s->insts[i]);
    if (s->opts->verbose >= 0 || n)
        say_warn(s, "node '%s' lost: %s; %d instance(s) ran there",
                 head_node(s->head, k)->name, why, n);
    for (int i = 0; i < s->ninsts; i++) {
        inst_t *in = &s->insts[i];
        if (in->node == k && instance_alive(in)) {
            in->node_lost = true;
            instance_exited(s, in, SIGKILL); /* as a waitpid status: killed */
        }
    }
}

/*  Node k leaves (troupe node got SIGTERM): nothing new goes there
    (placement.c); each worker that takes input and keeps no state hands
    on what it took and retires (CTL_RETIRE_NOW: its successor starts
    elsewhere at once, nothing run twice); any other instance there dies
    as with its node (a stateful one resumes from its checkpoint). None
    counts as a crash. Once none is left there, release_drained lets the
    node go. */
static void head_drain(void *arg, int k)
{
    sup_t *s = arg;
    int n = 0;
    for (int i = 0; i < s->ninsts; i++) {
        inst_t *in = &s->insts[i];
        if (in->node != k || !instance_alive(in))
            continue;
        const plan_actor_t *a = &s->plan->actors[in->actor];
        n++;
        if (in->state == I_RUNNING && a->ninputs > 0 && !a->stateful && !a->external)
            send_kind(s, in, CTL_RETIRE_NOW);
        else {
            in->node_lost = true;
            signal_instance(s, in, SIGKILL);
        }
    }
    say_warn(s, "node '%s' leaves (it was asked to): its %d instance(s) hand on their "
             "work and start elsewhere", head_node(s->head, k)->name, n);
}

/*  A draining node none of whose instances is left: BYE. */
static void release_drained(sup_t *s)
{
    for (int k = 0; s->head && k < head_nnodes(s->head); k++) {
        const head_node_t *nd = head_node(s->head, k);
        if (!nd->alive || !nd->draining)
            continue;
        bool busy = false;
        for (int i = 0; i < s->ninsts && !busy; i++)
            busy = s->insts[i].node == k && instance_alive(&s->insts[i]);
        if (!busy) {
            if (s->opts->verbose >= 0)
                say_info(s, "node '%s' has left: its work moved, no restart counted",
                         nd->name);
            head_release(s->head, k);
        }
    }
}

/*  An instance of node k's, or NULL: a node speaks only for its own. */
static inst_t *node_inst(sup_t *s, int k, const char *rid, size_t ridlen)
{
    inst_t *in = inst_by_rid(s, rid, ridlen);
    return in && in->node == k ? in : NULL;
}

static void head_relayed(void *arg, int k, const char *rid, size_t ridlen, const void *frame,
                         size_t len)
{
    sup_t *s = arg;
    inst_t *in = node_inst(s, k, rid, ridlen);
    if (in)
        on_frame(s, in, &s->relay_zone, frame, len);
}

static void head_exited(void *arg, int k, const char *rid, size_t ridlen, pid_t pid,
                        int status)
{
    sup_t *s = arg;
    inst_t *in = node_inst(s, k, rid, ridlen);
    if (!in || !instance_alive(in))
        return;
    if (pid > 0 && in->pid <= 0)
        in->pid = pid;
    instance_exited(s, in, status);
}

static void head_watcher(void *arg, const void *id, size_t idlen)
{
    watch_watcher(arg, id, idlen);
}

/*  The nodes a launcher starts (troupe run --slurm) are told the address
    the listen socket is bound at. */
static int launch_nodes(sup_t *s)
{
    char ep[256], why[1024];
    if (head_endpoint(s->head, ep, sizeof ep) < 0) {
        say(s, "cannot read the listen socket's address: %s", zmq_strerror(errno));
        return -1;
    }
    if (s->opts->verbose > 0)
        say_info(s, "nodes join at %s", ep);
    if (s->opts->launcher->start(s->opts->launcher->arg, ep, why, sizeof why) < 0) {
        say(s, "%s", why);
        return -1;
    }
    return 0;
}

static int open_head(sup_t *s)
{
    long cores = s->opts->head_cores > 0 ? s->opts->head_cores
               : s->opts->head_cores < 0 ? 0
                                         : sysconf(_SC_NPROCESSORS_ONLN);
    s->head_cores = cores > 0 ? (unsigned)cores : s->opts->head_cores < 0 ? 0 : 1;
    head_opts_t o = { .listen = s->opts->listen,
                      .keys = s->opts->listen_keys,
                      .allow_dir = s->opts->allow_dir,
                      .zctx = s->zctx,
                      /* the link's own bound, as the node's for the head:
                         not --hang, which long items may need long */
                      .silent_ms = s->opts->node_timeout > 0
                                       ? (uint64_t)(s->opts->node_timeout * 1000)
                                       : NODE_HEAD_LOST_MS,
                      .verbose = s->opts->verbose };
    head_events_t ev = { .arg = s,
                         .say = head_say,
                         .joined = head_joined,
                         .lost = head_lost,
                         .relayed = head_relayed,
                         .exited = head_exited,
                         .drain = head_drain,
                         .watcher = head_watcher };
    char why[600];
    if (!(s->head = head_open(&o, &ev, why, sizeof why))) {
        say(s, "%s", why);
        return -1;
    }
    return s->opts->launcher ? launch_nodes(s) : 0;
}

/*  The launcher's word on the nodes that joined: -1 fails the run. */
static int launched_joined(sup_t *s)
{
    const supervisor_launcher_t *l = s->opts->launcher;
    const char *names[MAX_NODES];
    int n = 0;
    for (int k = 0; k < head_nnodes(s->head) && n < MAX_NODES; k++)
        if (head_node(s->head, k)->alive)
            names[n++] = head_node(s->head, k)->name;
    char why[2048];
    if (l->joined(l->arg, names, n, why, sizeof why) == 0)
        return 0;
    say(s, "%s", why);
    return -1;
}

/*  Before the start: until opts->nodes nodes have joined, or opts->wait
    seconds. Nodes that come later are used for restarts. */
static void wait_for_nodes(sup_t *s)
{
    uint64_t deadline = now_ms() + (uint64_t)(s->opts->wait * 1000);
    /* a launcher's node whose process ended will never come */
    while (head_alive(s->head) + s->nodes_never < (int)s->opts->nodes
           && now_ms() < deadline && !s->killing) {
        zmq_pollitem_t items[3] = { { .fd = s->sigfd, .events = ZMQ_POLLIN } };
        int nhead = head_poll_items(s->head, items + 1);
        if (zmq_poll(items, 1 + nhead, 100) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            read_signals(s);
        head_read(s->head, items + 1, nhead);
        head_tick(s->head);
        reap(s);
    }
    if (s->killing)
        return;
    if (s->opts->launcher && launched_joined(s) < 0) {
        fail_run(s, 1);
        return;
    }
    int n = head_alive(s->head);
    if (n < (int)s->opts->nodes)
        say_warn(s, "%d of %u node(s) joined within %.0f s: running with %s", n,
                 s->opts->nodes, s->opts->wait, n ? "those" : "the head alone");
    else if (s->opts->verbose > 0)
        say_info(s, "%d node(s) joined: starting", n);
}

/*  The per-actor and per-instance tables, every instance not started yet. */
static int alloc_state(sup_t *s)
{
    const plan_t *p = s->plan;
    for (int a = 0; a < p->nactors; a++)
        s->ninsts += (int)p->actors[a].instances;
    s->insts = calloc(s->ninsts, sizeof *s->insts);
    s->first_inst = calloc(p->nactors, sizeof *s->first_inst);
    s->actor_done = calloc(p->nactors, sizeof *s->actor_done);
    s->input_ended = calloc(p->nactors, sizeof *s->input_ended);
    s->restarts = calloc(p->nactors, sizeof *s->restarts);
    s->node_items = calloc((size_t)p->nactors * (MAX_NODES + 1), sizeof *s->node_items);
    s->skipped = calloc(p->nactors, sizeof *s->skipped);
    if (!s->insts || !s->first_inst || !s->actor_done || !s->input_ended
        || !s->restarts || !s->node_items || !s->skipped)
        return -1;
    for (int a = 0; a < p->nactors; a++)
        if (!(s->restarts[a].times = calloc(p->actors[a].max_restarts + 1,
                                            sizeof(uint64_t))))
            return -1;
    int k = 0;
    for (int a = 0; a < p->nactors; a++) {
        s->first_inst[a] = k;
        for (unsigned i = 0; i < p->actors[a].instances; i++, k++) {
            s->insts[k].actor = a;
            s->insts[k].instance = i;
            s->insts[k].prefer = -1;
            s->insts[k].node = -1;
            s->insts[k].out_fd = -1;
            s->insts[k].ckpt_fd = -1;
        }
    }
    return 0;
}

/*  The control ROUTER in the run directory, where every instance says
    hello. */
static int open_control(sup_t *s)
{
    s->zctx = zmq_ctx_new();
    s->ctl = s->zctx ? zmq_socket(s->zctx, ZMQ_ROUTER) : NULL;
    if (!s->ctl)
        return -1;
    int zero = 0, one = 1;
    zmq_setsockopt(s->ctl, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s->ctl, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_bind(s->ctl, s->control) != 0) {
        say(s, "cannot bind %s: %s", s->control, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/*  Signals come on a signalfd, read in the loop. */
static int watch_signals(sup_t *s)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    if (s->opts->embedded) {
        /* Ctrl-C is the calling program's to handle; if it dies of it,
           this process dies with it (PR_SET_PDEATHSIG) and the actors
           with this one */
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
    }
    else {
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
    }
    sigprocmask(SIG_BLOCK, &mask, &s->oldmask);
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigfd < 0) {
        say(s, "cannot watch signals: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setup(sup_t *s)
{
    char why[PATH_MAX * 3];
    if (paths_actor_exe(s->exe, sizeof s->exe, why, sizeof why) < 0) {
        say(s, "cannot find troupe-actor: %s", why);
        return -1;
    }
    if (alloc_state(s) < 0 || make_rundir(s) < 0 || poison_open(s) < 0
        || (s->plan->tcp_host && setup_curve(s) < 0) || open_control(s) < 0
        || (s->opts->listen && open_head(s) < 0) || watch_signals(s) < 0)
        return -1;
    if (!s->zygote && !getenv("TROUPE_NO_ZYGOTE"))
        s->zygote = zygote_start(s->exe, &s->oldmask);
    watch_open(s);
    return 0;
}

/*  Every instance, once the nodes asked for have joined. */
static void start_all(sup_t *s)
{
    if (s->head)
        wait_for_nodes(s);
    for (int i = 0; s->killing && i < s->ninsts; i++)
        s->insts[i].state = I_EXITED; /* stopped while waiting for nodes */
    for (int i = 0; !s->killing && i < s->ninsts; i++)
        spawn_ahead(s, &s->insts[i]);
    for (int i = 0; !s->killing && i < s->ninsts; i++)
        if (spawn(s, &s->insts[i]) < 0) {
            for (int j = i; j < s->ninsts; j++)
                s->insts[j].state = I_EXITED;
            fail_run(s, 1);
            break;
        }
    /* stopped half way (a failed spawn, or the run ending): a process the
       zygote made for one not spawned is that instance's, and ends with
       the rest */
    bool late = false;
    for (int i = 0; i < s->ninsts; i++)
        if (s->insts[i].asked) {
            s->insts[i].state = I_EXITED;
            spawn_unasked(s, &s->insts[i]);
            late = true;
        }
    if (late)
        kill_all(s, SIGTERM);
}

/*  No instance can be started again: each has finished (a death after
    DONE is not restarted) or is gone for good, or the run is ending. */
static bool none_to_spawn(const sup_t *s)
{
    if (s->killing)
        return true;
    for (int i = 0; i < s->ninsts; i++)
        if (!s->insts[i].finished && s->insts[i].state != I_GONE)
            return false;
    return true;
}

/*  Until every instance has exited: control messages, signals, nodes,
    deaths, timers. */
static void loop(sup_t *s)
{
    for (;;) {
        zmq_pollitem_t items[4] = {
            { .socket = s->ctl, .events = ZMQ_POLLIN },
            { .fd = s->sigfd, .events = ZMQ_POLLIN },
        };
        int nhead = head_poll_items(s->head, items + 2);
        if (zmq_poll(items, 2 + nhead, 100) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            read_control(s);
        if (items[1].revents & ZMQ_POLLIN)
            read_signals(s);
        head_read(s->head, items + 2, nhead);
        reap(s);
        if (s->commit_broken && !s->killing)
            fail_run(s, 1); /* stdout is gone: nothing more can be written */
        if (all_exited(s))
            break;
        if (s->zygote && none_to_spawn(s))
            zygote_release(s->zygote);
        check_time(s);
        watch_tick(s);
        progress_tick(s);
    }
}

/*  A pool's supervisor whose run failed stays, with its control socket
    open, until the caller has the reason and ends it (SIGTERM), so that
    the caller never sees this process gone before it has the ABORT: the
    exit status alone says nothing. An ABORT that went nowhere (the caller
    was not connected yet) is sent again on the caller's HELLO. Bounded,
    in case the caller never comes. */
#define CALLER_WAIT_MS 30000
static void wait_for_caller(sup_t *s)
{
    uint64_t deadline = now_ms() + CALLER_WAIT_MS;
    while (s->caller_waits && now_ms() < deadline) {
        zmq_pollitem_t items[2] = {
            { .socket = s->ctl, .events = ZMQ_POLLIN },
            { .fd = s->sigfd, .events = ZMQ_POLLIN },
        };
        if (zmq_poll(items, 2, 100) < 0 && errno != EINTR)
            return;
        if (items[0].revents & ZMQ_POLLIN)
            read_control(s);
        if (items[1].revents & ZMQ_POLLIN)
            read_signals(s);
        reap(s);
    }
}

/*  The exit code, unless decided already, and what the run says at its
    end. */
static void conclude(sup_t *s)
{
    const plan_t *plan = s->plan;
    progress_end(s);
    if (s->exit_code < 0) {
        bool all_done = true;
        for (int a = 0; a < plan->nactors; a++)
            all_done &= s->actor_done[a];
        s->exit_code = all_done ? 0 : 1;
    }
    watch_close(s);
    /* skipped items are not an error, but never silent either: one line
       each actor, whatever -v says (only -q drops it) */
    for (int a = 0; s->opts->verbose >= 0 && a < plan->nactors; a++)
        if (s->skipped[a])
            say_warn(s, "actor '%s': %llu item%s failed and %s skipped (on_error = skip)%s",
                plan->actors[a].name, (unsigned long long)s->skipped[a],
                s->skipped[a] == 1 ? "" : "s", s->skipped[a] == 1 ? "was" : "were",
                s->opts->verbose > 0 ? "" : "; -v names each");
    summary(s);
}

/*  Whatever setup made, however far it got. */
static void teardown(sup_t *s)
{
    /* the zygote first: it is a child that exits only once told to, so a
       wait for every child would wait for ever with it alive */
    zygote_stop(&s->zygote);
    if (s->insts && !all_exited(s)) { /* setup failed half way */
        kill_all(s, SIGKILL);
        for (int i = 0; i < s->ninsts; i++)
            if (s->insts[i].pid > 0 && s->insts[i].node < 0)
                while (waitpid(s->insts[i].pid, NULL, 0) < 0 && errno == EINTR)
                    ;
    }
    if (s->statsock) /* setup failed after watch_open */
        watch_close(s);
    head_close(&s->head); /* BYE to its nodes */
    if (s->opts->launcher)
        s->opts->launcher->stop(s->opts->launcher->arg);
    msgpack_zone_destroy(&s->relay_zone);
    if (s->ctl)
        zmq_close(s->ctl);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    poison_close(s); /* its file is in the run directory */
    remove_rundir(s);
    auth_keys_clear(&s->keys);
    if (s->sigfd >= 0) {
        close(s->sigfd);
        sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
    }
    for (int i = 0; s->insts && i < s->ninsts; i++) {
        const plan_actor_t *a = &s->plan->actors[s->insts[i].actor];
        for (int o = 0; s->insts[i].bound && o < a->noutputs; o++)
            free(s->insts[i].bound[o]);
        free(s->insts[i].bound);
        commit_close(&s->insts[i]);
    }
    free(s->insts);
    free(s->first_inst);
    free(s->actor_done);
    free(s->input_ended);
    free(s->node_items);
    free(s->skipped);
    for (int a = 0; s->restarts && a < s->plan->nactors; a++)
        free(s->restarts[a].times);
    free(s->restarts);
}

int supervisor_run(const plan_t *plan, const supervisor_opts_t *opts,
                   zygote_t *zygote)
{
    sup_t sup;
    memset(&sup, 0, sizeof sup);
    sup_t *s = &sup;
    s->zygote = zygote;
    s->plan = plan;
    s->opts = opts;
    s->sigfd = -1;
    s->exit_code = -1;
    s->direct_sink = -2; /* not decided yet (commit.c) */
    msgpack_zone_init(&s->relay_zone, 2048);
    s->t_start = now_ms();
    signal(SIGPIPE, SIG_IGN);
    if (setup(s) < 0)
        s->exit_code = 1;
    else {
        progress_start(s);
        start_all(s);
        loop(s);
        wait_for_caller(s);
        conclude(s);
    }
    teardown(s);
    return s->exit_code < 0 ? 1 : s->exit_code;
}

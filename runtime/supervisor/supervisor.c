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
#include "base/module.h"
#include "supervisor/supervise.h"
#include "base/rundir.h"

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

#ifndef TROUPE_LIBEXEC_DIR
#define TROUPE_LIBEXEC_DIR "/usr/local/libexec/troupe"
#endif
#ifndef TROUPE_LIBEXEC_REL
#define TROUPE_LIBEXEC_REL "libexec/troupe"
#endif

/*  One line per event on stderr: time, level, the pipeline, the message
    (which names the actor and instance it is about). The last error is
    kept: it is what an external actor is told when the run fails. */
static void vsay(sup_t *s, const char *level, const char *fmt, va_list ap)
{
    char text[sizeof s->last_said];
    vsnprintf(text, sizeof text, fmt, ap);
    if (!strcmp(level, "error"))
        memcpy(s->last_said, text, sizeof text);
    if ((s->opts->embedded && s->opts->verbose <= 0)
        || (!strcmp(level, "warning") && s->opts->verbose < 0)  /* -q */
        || (!strcmp(level, "info") && s->opts->verbose <= 0))   /* without -v */
        return;
    char stamp[24];
    progress_clear(s); /* the line goes where the bar was, the bar below it */
    fprintf(stderr, "%s troupe: %s: %s: %s\n", log_stamp(stamp), s->plan->name, level,
            text);
    progress_restore(s);
}

void say(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, "error", fmt, ap);
    va_end(ap);
}

void say_warn(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, "warning", fmt, ap);
    va_end(ap);
}

void say_info(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, "info", fmt, ap);
    va_end(ap);
}

const char *actor_name(sup_t *s, inst_t *in)
{
    return s->plan->actors[in->actor].name;
}

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

/* ==== processes ================================================================= */

/*  An instance's routing id (new for each incarnation) and process title. */
static void name_instance(sup_t *s, inst_t *in, char *title, size_t len)
{
    snprintf(in->rid, sizeof in->rid, "%d.%u.%u", in->actor, in->instance,
             in->incarnation);
    snprintf(title, len, "troupe: %s/%s#%u", s->plan->name, actor_name(s, in),
             in->instance);
}

void spawned(inst_t *in, pid_t pid)
{
    in->pid = pid;
    in->hung = false;
    in->state = I_SPAWNED;
    in->last_seen = in->spawned_at = now_ms();
}

static int spawn_program(sup_t *s, inst_t *in, const char *exe, const char *title);
static void abort_external(sup_t *s);

/*  Forks and execs one actor process. The supervisor has no threads, but
    the child still makes only async-signal-safe calls until exec. */
static int fork_exec(sup_t *s, inst_t *in, const char *exe, char **argv, char **envp)
{
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        say(s, "cannot fork for actor '%s': %s", actor_name(s, in), strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execve(exe, argv, envp);
        _exit(127);
    }
    spawned(in, pid);
    return 0;
}

static int spawn(sup_t *s, inst_t *in)
{
    char title[256];
    name_instance(s, in, title, sizeof title);
    const plan_actor_t *a = &s->plan->actors[in->actor];
    if (a->external) { /* the caller connects by itself */
        spawned(in, 0);
        return 0;
    }
    place(s, in);
    if (in->node >= 0)
        return spawn_on_node(s, in, title);
    if (a->exe)
        return spawn_program(s, in, a->exe, title);
    if (s->zygote) {
        pid_t pid = zygote_spawn(s->zygote, s->control, in->rid, title);
        if (pid > 0) {
            spawned(in, pid);
            return 0;
        }
        zygote_stop(&s->zygote); /* from now on: fork+exec */
    }
    /* troupe-actor writes the title over its whole argv area */
    char *argv[] = { "troupe-actor", s->control, in->rid, title, NULL };
    extern char **environ;
    return fork_exec(s, in, s->exe, argv, environ);
}


/*  An actor of a module the embedding program defines runs in that program,
    started again with TROUPE_WORKER set (troupe_init hands it over). */
static int spawn_program(sup_t *s, inst_t *in, const char *exe, const char *title)
{
    extern char **environ;
    int n = 0;
    while (environ[n])
        n++;
    char **envp = calloc((size_t)n + 2, sizeof *envp);
    if (!envp)
        return -1;
    memcpy(envp, environ, (size_t)n * sizeof *envp);
    envp[n] = "TROUPE_WORKER=1";
    char *argv[] = { (char *)exe, s->control, in->rid, (char *)title, NULL };
    int rc = fork_exec(s, in, exe, argv, envp);
    free(envp);
    return rc;
}

static void send_kind_text(sup_t *s, inst_t *in, int kind, const char *text);
static void drain_run(sup_t *s, int code);

static void kill_all(sup_t *s, int sig)
{
    for (int i = 0; i < s->ninsts; i++)
        if (instance_alive(&s->insts[i]))
            signal_instance(s, &s->insts[i], sig);
}

/*  Ends the run with `code`: the first reason wins. Every actor gets
    SIGTERM now and SIGKILL after a grace period. */
static void fail_run(sup_t *s, int code)
{
    if (s->exit_code < 0)
        s->exit_code = code;
    if (!s->killing) {
        s->killing = true;
        s->kill_deadline = now_ms() + 2000;
        /* actors that listen are told to stop, so that sinks commit what
           they wrote (a final checkpoint) and modules' stop hooks run;
           the rest get SIGTERM; anything left at the deadline, SIGKILL */
        for (int i = 0; i < s->ninsts; i++) {
            inst_t *in = &s->insts[i];
            if (!instance_alive(in) || s->plan->actors[in->actor].external)
                continue; /* the calling program is told why: abort_external */
            if (in->state == I_SPAWNED)
                signal_instance(s, in, SIGTERM);
            else
                send_kind_text(s, in, CTL_STOP, NULL);
        }
        for (int i = 0; i < s->ninsts; i++)
            if (s->insts[i].state == I_WAITING)
                s->insts[i].state = I_EXITED; /* no successor now */
        abort_external(s);
    }
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(buf, len, "could not start (exec failed)");
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

static void send_text_all(sup_t *s, int kind, const char *text);

/*  Erlang/OTP's restart intensity: more than max_restarts within
    restart_period seconds and the actor is beyond help. Returns 0 to
    restart, or -1 to give up. */
static long restart_delay(sup_t *s, int actor)
{
    const plan_actor_t *a = &s->plan->actors[actor];
    restarts_t *r = &s->restarts[actor];
    uint64_t now = now_ms(), period = (uint64_t)(a->restart_period * 1000);
    unsigned keep = 0;
    for (unsigned i = 0; i < r->n; i++)
        if (now - r->times[i] < period)
            r->times[keep++] = r->times[i];
    r->n = keep;
    if (r->n >= a->max_restarts)
        return -1;
    r->times[r->n++] = now;
    r->total++;
    return 0;
}

/*  Backoff for one instance: none after a death that came long after its
    start, then 10, 20, 40 ... 1000 ms while it keeps dying young, so that
    a module that crashes on start cannot spin the CPU. */
static long backoff(inst_t *in)
{
    if (now_ms() - in->spawned_at > 250)
        in->streak = 0;
    long delay = in->streak == 0 ? 0 : 10L << (in->streak - 1 < 7 ? in->streak - 1 : 7);
    in->streak++;
    return delay > 1000 ? 1000 : delay;
}

bool instance_alive(const inst_t *in)
{
    return in->state != I_EXITED && in->state != I_GONE && in->state != I_WAITING;
}

/*  An instance died before finishing. Restart it, or end the run. */
static void on_death(sup_t *s, inst_t *in, int status)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    char why[160];
    describe_exit(status, why, sizeof why);
    if (s->killing)
        return;
    if (in->finished) { /* its work was done and acknowledged: nothing lost */
        if (s->opts->verbose > 0)
            say_info(s, "actor '%s' #%u (pid %d) %s after finishing", a->name,
                in->instance, (int)in->pid, why);
        return;
    }
    if (!s->started) {
        /* a worker that is the caller's own program, gone before it said
           hello: most likely main() did not hand it over first */
        const char *hint = a->exe && in->last_seen == in->spawned_at
                               ? " before it connected: does the program's main() call "
                                 "troupe_init() first?"
                               : "";
        say(s, "actor '%s' #%u (pid %d) %s%s", a->name, in->instance, (int)in->pid, why,
            hint);
        fail_run(s, 1);
        return;
    }
    poison_death(s, in, status, why);
    if (a->stateful && !a->checkpoints && !a->lossy && !a->external
        && a->restart != RESTART_TEMPORARY) {
        /* its successor would start from nothing, and the run would end
           with a wrong answer and exit 0: the worst a runtime can do */
        say(s, "actor '%s' #%u (pid %d) %s: it keeps state (TROUPE_STATEFUL) and its "
            "module '%s' has no snapshot and restore hooks, so the state is lost and the "
            "result would be wrong: the run fails (restart = permanent_lossy restarts it "
            "empty instead)", a->name, in->instance, (int)in->pid, why, a->module);
        fail_run(s, 1);
        return;
    }
    char name[128];
    snprintf(name, sizeof name, "%s#%u", a->name, in->instance);
    for (int k = 0; k < 7; k++) {
        in->past[k] += in->stats[k];
        in->stats[k] = 0;
    }
    in->cpu_past += in->cpu_ns;
    in->cpu_ns = in->held = in->unacked = 0;
    if (a->restart == RESTART_TEMPORARY) {
        in->state = I_GONE;
        if (s->opts->verbose >= 0)
            say_warn(s, "actor '%s' #%u (pid %d) %s (temporary: not restarted)", a->name,
                in->instance, (int)in->pid, why);
        send_text_all(s, CTL_PEER_GONE, name);
        bool any = false;
        for (unsigned i = 0; i < a->instances; i++) {
            const inst_t *o = &s->insts[s->first_inst[in->actor] + i];
            any |= instance_alive(o) || o->finished;
        }
        if (!any) {
            say(s, "actor '%s': no instance left (restart = temporary)", a->name);
            fail_run(s, 1);
        }
        return;
    }
    if (in->moving) { /* no crash: no restart counted, no backoff */
        in->moving = false;
        if (s->opts->verbose > 0)
            say_info(s, "actor '%s' #%u moves to a node that joined", a->name, in->instance);
        in->state = I_WAITING;
        in->respawn_at = now_ms();
        send_text_all(s, CTL_PEER_LOST, name);
        return;
    }
    long delay = restart_delay(s, in->actor);
    if (delay >= 0)
        delay = backoff(in);
    if (delay < 0) {
        say(s, "actor '%s' #%u (pid %d) %s; it was restarted %u times within "
            "%.1f s (max_restarts): giving up", a->name, in->instance, (int)in->pid,
            why, a->max_restarts, a->restart_period);
        fail_run(s, 1);
        return;
    }
    if (s->opts->verbose >= 0) /* a crash is worth a line, unless -q */
        say_warn(s, "actor '%s' #%u (pid %d) %s: restarting", a->name, in->instance,
            (int)in->pid, why);
    in->restarts++;
    in->state = I_WAITING;
    in->respawn_at = now_ms() + (uint64_t)delay;
    /* its producers send what it held to the others now, not when its
       successor says hello */
    send_text_all(s, CTL_PEER_LOST, name);
}

/*  An instance's process ended with `status` (waitpid's, here or on its
    node). */
void instance_exited(sup_t *s, inst_t *in, int status)
{
    in->status = status;
    in->state = I_EXITED;
    commit_exited(s, in);
    if (!(in->finished && WIFEXITED(status) && WEXITSTATUS(status) == 0))
        on_death(s, in, status);
}

static void reap(sup_t *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (int i = 0; i < s->ninsts; i++) {
            inst_t *in = &s->insts[i];
            /* a node's pid is a number on another machine */
            if (in->node >= 0 || in->pid != pid || !instance_alive(in))
                continue;
            instance_exited(s, in, status);
            break;
        }
    }
}

/* ==== control messages ============================================================ */


static void send_kind_text(sup_t *s, inst_t *in, int kind, const char *text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ctl_pack_kind_text(&sb, kind, text);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
}
static void send_kind(sup_t *s, inst_t *in, int kind)
{
    send_kind_text(s, in, kind, NULL);
}

static void send_text(sup_t *s, inst_t *in, int kind, const char *text)
{
    send_kind_text(s, in, kind, text);
}

static void send_text_all(sup_t *s, int kind, const char *text)
{
    for (int i = 0; i < s->ninsts; i++)
        if (s->insts[i].state == I_RUNNING)
            send_text(s, &s->insts[i], kind, text);
}

static void send_abort(sup_t *s, inst_t *in)
{
    send_text(s, in, CTL_ABORT, s->last_said[0] ? s->last_said : "the run failed");
}

/*  The run failed: an actor the caller plays is told why (it has no
    process to signal) and counts as gone. A pool's caller learns the
    reason from this message alone, so the pool's supervisor stays until
    the caller ends it (wait_for_caller): were it to exit first, the caller
    could see the exit before the message and know only the status. */
static void abort_external(sup_t *s)
{
    for (int i = 0; i < s->ninsts; i++) {
        inst_t *in = &s->insts[i];
        if (!s->plan->actors[in->actor].external || !instance_alive(in))
            continue;
        send_abort(s, in);
        in->state = I_EXITED;
        s->caller_waits = s->opts->embedded;
    }
}

/*  A restarted producer: its consumers say hello to the new process. */
static const char *bound_endpoint(sup_t *s, int actor, unsigned instance, int chan);

static void announce_back(sup_t *s, inst_t *in)
{
    const plan_t *p = s->plan;
    const plan_actor_t *a = &p->actors[in->actor];
    for (int o = 0; o < a->noutputs; o++) {
        char key[64];
        const char *ep = bound_endpoint(s, in->actor, in->instance, a->outputs[o]);
        wiring_producer_key(in->actor, in->instance, a->outputs[o], key, sizeof key);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int(&pk, CTL_PEER_BACK);
        ctl_pack_str(&pk, ep ? ep : "");
        ctl_pack_str(&pk, key);
        for (int b = 0; b < p->nactors; b++)
            for (int k = 0; k < p->actors[b].ninputs; k++)
                if (p->actors[b].inputs[k] == a->outputs[o])
                    for (unsigned i = 0; i < p->actors[b].instances; i++) {
                        inst_t *c = &s->insts[s->first_inst[b] + i];
                        if (c->state == I_RUNNING)
                            inst_send(s, c, &sb);
                    }
        msgpack_sbuffer_destroy(&sb);
    }
}

/*  The endpoint a producer instance reported for an output channel. */
static const char *bound_endpoint(sup_t *s, int actor, unsigned instance, int chan)
{
    const plan_actor_t *a = &s->plan->actors[actor];
    const inst_t *in = &s->insts[s->first_inst[actor] + instance];
    for (int o = 0; in->bound && o < a->noutputs; o++)
        if (a->outputs[o] == chan)
            return in->bound[o];
    return NULL;
}

static const char *bound_cb(void *arg, int actor, unsigned instance, int chan)
{
    return bound_endpoint(arg, actor, instance, chan);
}

/*  A producer's public key: the run's, on one machine. */
static const char *server_key_cb(void *arg, int actor, unsigned instance)
{
    sup_t *s = arg;
    (void)actor;
    (void)instance;
    return s->has_curve ? s->keys.public_txt : NULL;
}

/*  [START, inputs]: connect to these producers, and run. */
static void send_start(sup_t *s, inst_t *in)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_START);
    wiring_pack_inputs(&pk, s->plan, in->actor, bound_cb, server_key_cb, s);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  [READY, [endpoint per output]]: where the instance bound its outputs. */
static void take_bound(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    const msgpack_object *list = root->via.array.size > 1 ? &root->via.array.ptr[1] : NULL;
    if (!in->bound && a->noutputs)
        in->bound = calloc((size_t)a->noutputs, sizeof *in->bound);
    for (int o = 0; in->bound && o < a->noutputs; o++) {
        const msgpack_object *e = list && list->type == MSGPACK_OBJECT_ARRAY
                                          && (uint32_t)o < list->via.array.size
                                      ? &list->via.array.ptr[o]
                                      : NULL;
        free(in->bound[o]);
        in->bound[o] = e && e->type == MSGPACK_OBJECT_STR
                           ? strndup(e->via.str.ptr, e->via.str.size)
                           : NULL;
        if (s->opts->verbose > 1)
            say_info(s, "actor '%s' #%u: output '%s' bound at %s", a->name, in->instance,
                s->plan->chans[a->outputs[o]].name,
                in->bound[o] ? in->bound[o] : "(unknown)");
    }
}

static void send_config(sup_t *s, inst_t *in)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_CONFIG);
    wiring_ckpt_t ck;
    char paths[2][PATH_MAX + 64];
    if (commit_config(s, in, &ck, paths) < 0) {
        msgpack_sbuffer_destroy(&sb);
        fail_run(s, 1);
        return;
    }
    msgpack_sbuffer poison;
    msgpack_sbuffer_init(&poison);
    poison_config(s, in, &ck, &poison);
    wiring_pack_config(&pk, s->plan, s->rundir, in->actor, in->instance, in->incarnation,
                       in->node >= 0 ? s->nodes[in->node].host : NULL,
                       s->has_curve ? &s->curve : NULL,
                       (s->opts->verbose < 0 ? CTL_LOG_QUIET : 0)
                           | (progress_bar(s) ? CTL_LOG_BAR : 0),
                       &ck);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&poison);
    in->state = I_CONFIGURED;
}

/*  Whether nothing more can come out of actor a. DONE says so. So does,
    before a says it, every upstream actor being finished in this sense,
    provided a makes nothing at the end (no flush hook) and holds nothing
    back (not ordered): an acknowledgement only comes once what a batch
    made is handled downstream, so when a's producers are done, a has
    handled all it got and everything it made has been taken. This lets
    the end of the input reach a chain of transforms at once instead of
    one stage per round trip. */
static bool finished_upstream(sup_t *s, int a, int depth)
{
    const plan_t *p = s->plan;
    const plan_actor_t *x = &p->actors[a];
    if (s->actor_done[a])
        return true;
    if (x->source || x->flushes || x->ordered > 0 || depth > p->nactors)
        return false;
    for (int k = 0; k < x->ninputs; k++)
        for (int b = 0; b < p->nactors; b++)
            for (int o = 0; o < p->actors[b].noutputs; o++)
                if (p->actors[b].outputs[o] == x->inputs[k]
                    && !finished_upstream(s, b, depth + 1))
                    return false;
    return true;
}

/*  An actor's input has ended when nothing more can come from any actor
    writing its input channels; tell each such actor once. */
static void cascade(sup_t *s)
{
    const plan_t *p = s->plan;
    for (int b = 0; b < p->nactors; b++) {
        if (s->input_ended[b] || p->actors[b].ninputs == 0)
            continue;
        bool ended = true;
        for (int k = 0; k < p->actors[b].ninputs && ended; k++)
            for (int a = 0; a < p->nactors && ended; a++)
                for (int o = 0; o < p->actors[a].noutputs; o++)
                    if (p->actors[a].outputs[o] == p->actors[b].inputs[k]
                        && !finished_upstream(s, a, 0))
                        ended = false;
        if (!ended)
            continue;
        s->input_ended[b] = true;
        for (unsigned i = 0; i < p->actors[b].instances; i++)
            send_kind(s, &s->insts[s->first_inst[b] + i], CTL_INPUT_END);
    }
}

static void take_stats(sup_t *s, inst_t *in, const msgpack_object *root)
{
    /* Frames that were no batch, ack or hello, on sockets only this run's
       own actors reach (a 0700 run directory; CURVE on tcp): a producer
       or a module with a bug. What such a frame carried can neither be
       used nor sent again, so the run cannot end whole, and without its
       acknowledgement the producer would wait for ever: it fails, saying
       where, rather than hang. */
    if (root->via.array.size > 6
        && root->via.array.ptr[6].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && root->via.array.ptr[6].via.u64 > in->stats[5] && !s->killing) {
        say(s, "actor '%s' #%u received %llu malformed frame(s) from the run's own "
            "actors (a bug in a module or in troupe): items are lost, so the run "
            "fails", actor_name(s, in), in->instance,
            (unsigned long long)root->via.array.ptr[6].via.u64);
        in->stats[5] = root->via.array.ptr[6].via.u64;
        fail_run(s, 1);
    }
    /* the items it handled since its last report count for where it runs */
    uint32_t k = s->plan->actors[in->actor].ninputs ? 1 : 2;
    if (k < root->via.array.size
        && root->via.array.ptr[k].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && root->via.array.ptr[k].via.u64 > in->stats[k - 1])
        s->node_items[in->actor * (MAX_NODES + 1) + in->node + 1] +=
            root->via.array.ptr[k].via.u64 - in->stats[k - 1];
    for (uint32_t i = 1; i < root->via.array.size && i <= 7; i++)
        if (root->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            in->stats[i - 1] = root->via.array.ptr[i].via.u64;
    if (root->via.array.size > 8
        && root->via.array.ptr[8].type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && (long)root->via.array.ptr[8].via.u64 > in->maxrss_kb)
        in->maxrss_kb = (long)root->via.array.ptr[8].via.u64;
    uint64_t *live[] = { &in->cpu_ns, &in->held, &in->unacked, &in->total };
    for (uint32_t i = 9; i < root->via.array.size && i < 13; i++)
        if (root->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            *live[i - 9] = root->via.array.ptr[i].via.u64;
}

static void text_of(const msgpack_object *o, char *buf, size_t len)
{
    if (o->type == MSGPACK_OBJECT_STR)
        snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(buf, len, "(no message)");
}

static void on_message(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const plan_t *p = s->plan;
    const plan_actor_t *a = &p->actors[in->actor];
    int kind = (int)root->via.array.ptr[0].via.u64;
    in->last_seen = now_ms();
    char text[600];
    switch (kind) {
    case CTL_HELLO:
        if (in->node >= 0 && root->via.array.size > 1 /* its pid there */
            && root->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            in->pid = (pid_t)root->via.array.ptr[1].via.u64;
        if (in->state == I_SPAWNED && !s->killing)
            send_config(s, in);
        else if (a->external && s->caller_waits)
            send_abort(s, in); /* the first went nowhere: it was not connected */
        break;
    case CTL_READY:
        if (in->state != I_CONFIGURED)
            break;
        take_bound(s, in, root);
        in->state = I_READY;
        if (s->started) { /* a restarted instance joins the running pipeline */
            in->state = I_RUNNING;
            send_start(s, in);
            if (s->input_ended[in->actor])
                send_kind(s, in, CTL_INPUT_END);
            announce_back(s, in);
            break;
        }
        if (++s->nready == s->ninsts && !s->started) {
            s->started = true;
            s->t_run = now_ms();
            if (s->opts->verbose > 1)
                say_info(s, "all %d actor processes ready in %llu ms; starting", s->ninsts,
                    (unsigned long long)(s->t_run - s->t_start));
            for (int i = 0; i < s->ninsts; i++) {
                s->insts[i].state = I_RUNNING;
                send_start(s, &s->insts[i]);
            }
        }
        break;
    case CTL_ERROR:
        text_of(root->via.array.size > 1 ? &root->via.array.ptr[1] : root, text,
                sizeof text);
        say(s, "actor '%s' #%u: %s", a->name, in->instance, text);
        fail_run(s, s->started ? 1 : 2);
        break;
    case CTL_STATS: take_stats(s, in, root); break;
    case CTL_CHECKPOINT: commit_checkpoint(s, in, root); break;
    case CTL_COMMIT: commit_output(s, in, root); break;
    case CTL_FAIL: {
        uint64_t item = root->via.array.size > 1
                                && root->via.array.ptr[1].type
                                       == MSGPACK_OBJECT_POSITIVE_INTEGER
                            ? root->via.array.ptr[1].via.u64
                            : 0;
        text_of(root->via.array.size > 2 ? &root->via.array.ptr[2] : root, text,
                sizeof text);
        s->failed_items++;
        if (a->on_error == ON_ERROR_SKIP) {
            s->skipped[in->actor]++;
            if (s->opts->verbose > 0)
                say_info(s, "actor '%s' #%u: item %llu failed (skipped): %s", a->name,
                    in->instance, (unsigned long long)item, text);
        }
        else if (!s->killing) {
            say(s, "actor '%s' #%u: item %llu failed: %s", a->name, in->instance,
                (unsigned long long)item, text);
            drain_run(s, 1);
        }
        break;
    }
    case CTL_DONE: {
        take_stats(s, in, root);
        if (in->state != I_RUNNING)
            break;
        in->state = I_DONE;
        in->finished = true;
        send_kind(s, in, CTL_STOP);
        if (a->external)
            in->state = I_EXITED; /* no process to reap */
        bool all = true;
        for (unsigned i = 0; i < a->instances; i++) {
            const inst_t *o = &s->insts[s->first_inst[in->actor] + i];
            all &= o->finished || o->state == I_GONE;
        }
        if (all && !s->actor_done[in->actor]) {
            s->actor_done[in->actor] = true;
            s->t_end = now_ms();
            if (s->opts->verbose > 1)
                say_info(s, "actor '%s' done at %llu ms", a->name,
                    (unsigned long long)(now_ms() - s->t_start));
            cascade(s);
        }
        break;
    }
    default: break;
    }
}

inst_t *inst_by_rid(sup_t *s, const char *rid, size_t len)
{
    for (int i = 0; i < s->ninsts; i++)
        if (strlen(s->insts[i].rid) == len && memcmp(s->insts[i].rid, rid, len) == 0)
            return &s->insts[i];
    return NULL;
}

/*  One control message from an instance, wherever it runs. */
void on_frame(sup_t *s, inst_t *in, msgpack_zone *zone, const void *data,
                     size_t len)
{
    msgpack_object root;
    msgpack_zone_clear(zone);
    if (msgpack_unpack(data, len, &(size_t){ 0 }, zone, &root) == MSGPACK_UNPACK_SUCCESS
        && root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size >= 1
        && root.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        on_message(s, in, &root);
}

static void read_control(sup_t *s)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    for (int n = 0; n < 1000; n++) {
        char rid[64];
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rlen = ctl_recv_routed(s->ctl, rid, sizeof rid, &msg);
        if (rlen == -1) {
            zmq_msg_close(&msg);
            break;
        }
        inst_t *in = rlen >= 0 ? inst_by_rid(s, rid, (size_t)rlen) : NULL;
        if (in && in->node < 0) /* a node's instance speaks through its node */
            on_frame(s, in, &zone, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
    msgpack_zone_destroy(&zone);
}

/* ==== signals ======================================================================== */

/*  Stops the sources and lets what is in flight reach the sinks, for at
    most --grace seconds; then the run ends, with `code` unless a reason
    came first. A failed item ends a run this way: what the items before
    it made is still written out. */
static void drain_run(sup_t *s, int code)
{
    if (s->exit_code < 0)
        s->exit_code = code;
    if (s->draining || s->killing)
        return;
    s->draining = true;
    s->drain_deadline = now_ms() + (uint64_t)(s->opts->grace * 1000);
    if (!s->started) {
        fail_run(s, code);
        return;
    }
    for (int i = 0; i < s->ninsts; i++)
        if (s->plan->actors[s->insts[i].actor].ninputs == 0
            && s->insts[i].state == I_RUNNING)
            send_kind(s, &s->insts[i], CTL_DRAIN);
}

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
        if (s->draining || s->killing) {
            /* a second signal: no more patience */
            if (s->exit_code < 0)
                s->exit_code = code;
            s->killing = true;
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
        if (s->opts->verbose > 0 && s->nodesock) { /* where its items went */
            fprintf(stderr, "%-16s   items on head %llu", "",
                    (unsigned long long)on[0]);
            for (int k = 0; k < s->nnodes; k++)
                fprintf(stderr, ", %s %llu", s->nodes[k].name,
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
        if (js && s->nodesock) {
            fprintf(js, ", \"nodes\": {\"head\": %llu", (unsigned long long)on[0]);
            for (int k = 0; k < s->nnodes; k++)
                fprintf(js, ", \"%s\": %llu", s->nodes[k].name,
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

static bool all_exited(sup_t *s)
{
    for (int i = 0; i < s->ninsts; i++)
        if (s->insts[i].state != I_EXITED && s->insts[i].state != I_GONE)
            return false;
    return true;
}

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
    check_nodes(s);
    if (s->killing)
        return;
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
        if (now - in->last_seen > limit) {
            say_warn(s, "actor '%s' #%u (pid %d) %s for %.1f s: killing it",
                actor_name(s, in), in->instance, (int)in->pid,
                in->state == I_RUNNING ? "sent no heartbeat" : "did not start",
                (double)(now - in->last_seen) / 1000.0);
            signal_instance(s, in, SIGKILL); /* reaped as a death: restarted or fatal */
            in->hung = true;
            in->last_seen = now;
        }
    }
}

/*  troupe-actor sits beside the running executable in a build tree, and in
    the libexec folder once installed. */
static int find_actor_exe(char *exe, size_t len)
{
    const char *env = getenv("TROUPE_ACTOR");
    if (env && access(env, X_OK) == 0) {
        snprintf(exe, len, "%s", env);
        return 0;
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(exe, len, "%s/troupe-actor", self);
            if (access(exe, X_OK) == 0)
                return 0;
        }
    }
    if (module_installed_path(TROUPE_LIBEXEC_REL "/troupe-actor", exe, len) == 0
        && access(exe, X_OK) == 0)
        return 0; /* this installation's own, wherever its prefix is now */
    snprintf(exe, len, "%s/troupe-actor", TROUPE_LIBEXEC_DIR);
    return access(exe, X_OK) == 0 ? 0 : -1;
}

int supervisor_actor_exe(char *exe, size_t len)
{
    return find_actor_exe(exe, len);
}

zygote_t *supervisor_prestart(void)
{
    if (getenv("TROUPE_NO_ZYGOTE"))
        return NULL;
    char exe[PATH_MAX];
    sigset_t mask;
    if (find_actor_exe(exe, sizeof exe) < 0 || sigprocmask(SIG_SETMASK, NULL, &mask) != 0)
        return NULL;
    return zygote_start(exe, &mask);
}

static int setup(sup_t *s)
{
    const plan_t *p = s->plan;
    if (find_actor_exe(s->exe, sizeof s->exe) < 0) {
        say(s, "cannot find troupe-actor beside troupe or in %s (set TROUPE_ACTOR)",
            TROUPE_LIBEXEC_DIR);
        return -1;
    }
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
    if (make_rundir(s) < 0 || poison_open(s) < 0)
        return -1;
    if (p->tcp_host && setup_curve(s) < 0)
        return -1;
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
    if (s->opts->listen) { /* a head: nodes join here */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        s->head_cores = cores > 0 ? (unsigned)cores : 1;
        int linger = 500, hwm = 100000;
        if (s->opts->listen_keys) {
            /* CURVE with the head's key; zauth, by the allowlist folder,
               says which nodes get in: the socket lives in its context
               (auth.c says why) */
            char err[512];
            if (!(s->nodeauth = auth_new(s->opts->allow_dir, err, sizeof err))) {
                say(s, "%s", err);
                return -1;
            }
            s->nodesock = zmq_socket(auth_zctx(s->nodeauth), ZMQ_ROUTER);
            if (!s->nodesock
                || auth_set_server(s->nodesock, s->opts->listen_keys->secret_txt) != 0) {
                say(s, "cannot make the listen socket a CURVE server: %s",
                    zmq_strerror(errno));
                return -1;
            }
            char mon[64];
            snprintf(mon, sizeof mon, "inproc://troupe-nodes-%d", (int)getpid());
            if (zmq_socket_monitor(s->nodesock, mon,
                                   ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
                    == 0
                && (s->nodemon = zmq_socket(auth_zctx(s->nodeauth), ZMQ_PAIR))) {
                zmq_setsockopt(s->nodemon, ZMQ_LINGER, &zero, sizeof zero);
                if (zmq_connect(s->nodemon, mon) != 0) {
                    zmq_close(s->nodemon);
                    s->nodemon = NULL;
                }
            }
            if (!s->nodemon)
                say_warn(s, "cannot watch the listen socket: refused nodes will "
                    "not be reported");
            if (s->opts->verbose > 1)
                say_info(s, "CURVE on the node link: head key %s, allowlist %s",
                    s->opts->listen_keys->public_txt, s->opts->allow_dir);
        }
        else
            s->nodesock = zmq_socket(s->zctx, ZMQ_ROUTER);
        if (!s->nodesock)
            return -1;
        /* so that a send to a node that has left fails (EHOSTUNREACH) */
        zmq_setsockopt(s->nodesock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(s->nodesock, ZMQ_LINGER, &linger, sizeof linger); /* BYE */
        zmq_setsockopt(s->nodesock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s->nodesock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (zmq_bind(s->nodesock, s->opts->listen) != 0) {
            say(s, "cannot listen on %s: %s", s->opts->listen, zmq_strerror(errno));
            return -1;
        }
    }
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
    if (!s->zygote && !getenv("TROUPE_NO_ZYGOTE"))
        s->zygote = zygote_start(s->exe, &s->oldmask);
    watch_open(s);
    return 0;
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
    s->t_start = now_ms();
    signal(SIGPIPE, SIG_IGN);
    if (setup(s) < 0) {
        s->exit_code = 1;
        goto cleanup;
    }
    progress_start(s);
    if (s->nodesock)
        wait_for_nodes(s);
    for (int i = 0; s->killing && i < s->ninsts; i++)
        s->insts[i].state = I_EXITED; /* stopped while waiting for nodes */
    for (int i = 0; !s->killing && i < s->ninsts; i++)
        if (spawn(s, &s->insts[i]) < 0) {
            fail_run(s, 1);
            for (int j = i; j < s->ninsts; j++)
                s->insts[j].state = I_EXITED;
            break;
        }
    for (;;) {
        zmq_pollitem_t items[4] = {
            { .socket = s->ctl, .events = ZMQ_POLLIN },
            { .fd = s->sigfd, .events = ZMQ_POLLIN },
            { .socket = s->nodesock, .events = ZMQ_POLLIN },
            { .socket = s->nodemon, .events = ZMQ_POLLIN },
        };
        if (zmq_poll(items, s->nodemon ? 4 : s->nodesock ? 3 : 2, 100) < 0
            && errno != EINTR)
            break;
        if (s->nodemon && (items[3].revents & ZMQ_POLLIN))
            read_monitor(s);
        if (items[0].revents & ZMQ_POLLIN)
            read_control(s);
        if (items[1].revents & ZMQ_POLLIN)
            read_signals(s);
        if (s->nodesock && (items[2].revents & ZMQ_POLLIN))
            read_nodes(s);
        reap(s);
        if (s->commit_broken && !s->killing)
            fail_run(s, 1); /* stdout is gone: nothing more can be written */
        if (all_exited(s))
            break;
        check_time(s);
        watch_tick(s);
        progress_tick(s);
    }
    wait_for_caller(s);
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
cleanup:
    if (s->insts && !all_exited(s)) { /* setup failed half way */
        kill_all(s, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0)
            ;
    }
    if (s->statsock) /* setup failed after watch_open */
        watch_close(s);
    zygote_stop(&s->zygote);
    bye_nodes(s);
    if (s->nodemon) {
        zmq_socket_monitor(s->nodesock, NULL, 0);
        zmq_close(s->nodemon);
    }
    if (s->nodesock)
        zmq_close(s->nodesock);
    auth_destroy(&s->nodeauth); /* after every socket in its context */
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
        const plan_actor_t *a = &plan->actors[s->insts[i].actor];
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
    for (int a = 0; s->restarts && a < plan->nactors; a++)
        free(s->restarts[a].times);
    free(s->restarts);
    return s->exit_code < 0 ? 1 : s->exit_code;
}

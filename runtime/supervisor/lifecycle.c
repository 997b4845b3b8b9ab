/*  lifecycle.c: an instance's process from its start to its end, and the
    run's: spawning (here, on a node, or the caller's own program), deaths
    and restarts (Erlang/OTP's restart intensity, backoff), and ending a
    run by failing it or draining it. */
#include "supervisor/supervise.h"

#include "base/clock.h"
#include "base/spawn.h"
#include "wire/ctl.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void abort_external(sup_t *s);

/*  An instance's routing id (new for each incarnation) and process title. */
static void name_instance(sup_t *s, inst_t *in, char *title, size_t len)
{
    snprintf(in->rid, sizeof in->rid, "%d.%u.%u", in->actor, in->instance,
             in->incarnation);
    snprintf(title, len, "troupe: %s/%s#%u", s->plan->name, actor_name(s, in),
             in->instance);
}

static int spawn_program(sup_t *s, inst_t *in, const char *exe, const char *title);

/*  Starts one actor process (base/spawn.h: how). */
static int fork_exec(sup_t *s, inst_t *in, const char *exe, char **argv, char **envp)
{
    char why[PATH_MAX + 128];
    spawn_t sp = { .path = exe, .argv = argv, .envp = envp, .mask = &s->oldmask,
                   .pdeathsig = SIGKILL, .keep_fd = -1 };
    pid_t pid = spawn_exec(&sp, why, sizeof why);
    if (pid < 0) {
        say(s, "cannot start actor '%s': %s", actor_name(s, in), why);
        return -1;
    }
    spawned(in, pid);
    return 0;
}

/*  Its pid comes with its HELLO. A node found gone on the way is lost
    (head_lost below): the instance died with it. */
static int spawn_on_node(sup_t *s, inst_t *in, const char *title)
{
    spawned(in, 0);
    if (s->opts->verbose > 1)
        say_info(s, "actor '%s' #%u on node '%s'", actor_name(s, in), in->instance,
                 head_node(s->head, in->node)->name);
    head_spawn(s->head, in->node, in->rid, title);
    return 0;
}

void spawn_ahead(sup_t *s, inst_t *in)
{
    char title[256];
    name_instance(s, in, title, sizeof title);
    const plan_actor_t *a = &s->plan->actors[in->actor];
    if (a->external || a->exe || in->asked || !s->zygote || s->zygote_broken)
        return;
    place(s, in);
    if (in->node < 0 && zygote_ask(s->zygote, s->control, in->rid, title) == 0) {
        in->asked = true;
        s->zygote_asked++;
    }
}

/*  The zygote's answer for an instance asked for ahead; once the zygote
    failed and nothing asked is left unanswered, it is stopped. */
static pid_t zygote_answer_for(sup_t *s, inst_t *in)
{
    pid_t pid = zygote_answer(s->zygote);
    in->asked = false;
    s->zygote_asked--;
    if (pid <= 0)
        s->zygote_broken = true; /* from now on: fork+exec */
    if (s->zygote_broken && !s->zygote_asked)
        zygote_stop(&s->zygote);
    return pid;
}

void spawn_unasked(sup_t *s, inst_t *in)
{
    if (!in->asked)
        return;
    pid_t pid = zygote_answer_for(s, in);
    if (pid > 0)
        spawned(in, pid); /* to be killed and reaped with the rest */
}

int spawn(sup_t *s, inst_t *in)
{
    char title[256];
    name_instance(s, in, title, sizeof title);
    const plan_actor_t *a = &s->plan->actors[in->actor];
    if (a->external) { /* the caller connects by itself */
        spawned(in, 0);
        return 0;
    }
    if (in->asked) {
        pid_t pid = zygote_answer_for(s, in);
        if (pid > 0) {
            spawned(in, pid);
            return 0;
        }
    }
    else
        place(s, in);
    if (in->node >= 0)
        return spawn_on_node(s, in, title);
    if (a->exe)
        return spawn_program(s, in, a->exe, title);
    if (s->zygote && !s->zygote_broken) {
        pid_t pid = zygote_spawn(s->zygote, s->control, in->rid, title);
        if (pid > 0) {
            spawned(in, pid);
            return 0;
        }
        s->zygote_broken = true;
        if (!s->zygote_asked)
            zygote_stop(&s->zygote); /* from now on: fork+exec */
    }
    /* troupe-actor writes the title over its whole argv area */
    char *argv[] = { "troupe-actor", s->control, in->rid, title, NULL };
    return fork_exec(s, in, s->exe, argv, NULL);
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


void kill_all(sup_t *s, int sig)
{
    for (int i = 0; i < s->ninsts; i++)
        if (instance_alive(&s->insts[i]))
            signal_instance(s, &s->insts[i], sig);
}

/*  Ends the run with `code`: the first reason wins. Every actor gets
    SIGTERM now and SIGKILL after a grace period. */
void fail_run(sup_t *s, int code)
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

/*  Before the start: a worker that is the caller's own program, gone
    before it said hello, most likely did not hand its main() over first. */
static void died_before_start(sup_t *s, inst_t *in, const char *why)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    const char *hint = a->exe && in->last_seen == in->spawned_at
                           ? " before it connected: does the program's main() call "
                             "troupe_init() first?"
                           : "";
    say(s, "actor '%s' #%u (pid %d) %s%s", a->name, in->instance, (int)in->pid, why, hint);
    fail_run(s, 1);
}

/*  A stateful actor without checkpoints: its successor would start from
    nothing, and the run would end with a wrong answer and exit 0, the
    worst a runtime can do. True when that is the case (the run fails). */
static bool death_loses_state(sup_t *s, inst_t *in, const char *why)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    if (!a->stateful || a->checkpoints || a->lossy || a->external
        || a->restart == RESTART_TEMPORARY)
        return false;
    say(s, "actor '%s' #%u (pid %d) %s: it keeps state (TROUPE_STATEFUL) and its "
        "module '%s' has no snapshot and restore hooks, so the state is lost and the "
        "result would be wrong: the run fails (restart = permanent_lossy restarts it "
        "empty instead)", a->name, in->instance, (int)in->pid, why, a->module);
    fail_run(s, 1);
    return true;
}

/*  Its counters join those of its earlier incarnations. */
static void fold_stats(inst_t *in)
{
    for (int k = 0; k < 7; k++) {
        in->past[k] += in->stats[k];
        in->stats[k] = 0;
    }
    in->cpu_past += in->cpu_ns;
    in->cpu_ns = in->held = in->unacked = 0;
}

/*  restart = temporary: gone for good; the run fails when no instance of
    the actor is left to do its work. */
static void gone_for_good(sup_t *s, inst_t *in, const char *name, const char *why)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
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
}

/*  A successor after the backoff, unless the actor is beyond help (its
    restart intensity). Its producers send what it held to the others now,
    not when its successor says hello. */
static void restart_later(sup_t *s, inst_t *in, const char *name, const char *why)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
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
    send_text_all(s, CTL_PEER_LOST, name);
}

/*  A retired instance's successor, at once. It held nothing when it went
    (RETIRE comes after its inputs' BYE, which handed back what it had
    not taken), so no PEER_LOST: one could reach a producer before the
    acks its predecessor sent, and items it ran would run again. However
    it ended, its end counts against no restart intensity. */
static void retire(sup_t *s, inst_t *in, const char *why)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    if (s->opts->verbose > 0 && in->moving)
        say_info(s, "actor '%s' #%u moves to a node that joined (it handed on its work)",
                 a->name, in->instance);
    else if (s->opts->verbose > 0)
        say_info(s, "actor '%s' #%u (pid %d) retired after %llu items (%s): a fresh "
                 "one takes its place", a->name, in->instance, (int)in->pid,
                 (unsigned long long)in->stats[0], why);
    in->retiring = false;
    in->moving = false; /* moved to a node that joined: place() takes in->prefer */
    fold_stats(in);
    in->state = I_WAITING;
    in->respawn_at = now_ms();
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
        died_before_start(s, in, why);
        return;
    }
    if (in->retiring) { /* planned, between items: no strike, no restart */
        in->node_lost = false;
        retire(s, in, why);
        return;
    }
    bool with_node = in->node_lost;
    in->node_lost = false;
    if (!with_node) /* its node's loss is no item's fault */
        poison_death(s, in, status, why);
    if (death_loses_state(s, in, why))
        return;
    char name[128];
    snprintf(name, sizeof name, "%s#%u", a->name, in->instance);
    fold_stats(in);
    if (a->restart == RESTART_TEMPORARY)
        gone_for_good(s, in, name, why);
    else if (in->moving || with_node) { /* no crash: no restart counted, no backoff */
        in->moving = false;
        if (s->opts->verbose > 0)
            say_info(s, with_node ? "actor '%s' #%u starts again elsewhere: its node was lost"
                                  : "actor '%s' #%u moves to a node that joined",
                     a->name, in->instance);
        in->state = I_WAITING;
        in->respawn_at = now_ms();
        send_text_all(s, CTL_PEER_LOST, name);
    }
    else
        restart_later(s, in, name, why);
}

void instance_exited(sup_t *s, inst_t *in, int status)
{
    in->status = status;
    in->state = I_EXITED;
    commit_exited(s, in);
    if (!(in->finished && WIFEXITED(status) && WEXITSTATUS(status) == 0))
        on_death(s, in, status);
}

/*  A child that is no instance: the launcher's (a node's srun), if any. */
static void launcher_exited(sup_t *s, pid_t pid, int status)
{
    const supervisor_launcher_t *l = s->opts->launcher;
    char why[600];
    int rc = l ? l->exited(l->arg, pid, status, why, sizeof why) : 0;
    if (rc == 2)
        s->nodes_never++;
    if (rc && !s->killing)
        say_warn(s, "%s", why);
}

void reap(sup_t *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        bool found = false;
        for (int i = 0; i < s->ninsts && !found; i++) {
            inst_t *in = &s->insts[i];
            /* a node's pid is a number on another machine */
            if (in->node >= 0 || in->pid != pid || !instance_alive(in))
                continue;
            instance_exited(s, in, status);
            found = true;
        }
        if (!found)
            launcher_exited(s, pid, status);
    }
}

void send_abort(sup_t *s, inst_t *in)
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

/*  Stops the sources and lets what is in flight reach the sinks, for at
    most --grace seconds; then the run ends, with `code` unless a reason
    came first. A failed item ends a run this way: what the items before
    it made is still written out. */
void drain_run(sup_t *s, int code)
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

bool all_exited(sup_t *s)
{
    for (int i = 0; i < s->ninsts; i++)
        if (s->insts[i].state != I_EXITED && s->insts[i].state != I_GONE)
            return false;
    return true;
}

/*  inst.c: an instance as the rest of the supervisor sees it: alive or
    not, found by its routing id, sent to and signalled wherever it runs
    (here, or on a node through the head). */
#include "supervisor/supervise.h"

#include "base/clock.h"
#include "wire/ctl.h"

#include <signal.h>
#include <string.h>
#include <time.h>

void spawned(inst_t *in, pid_t pid)
{
    in->pid = pid;
    in->hung = false;
    in->state = I_SPAWNED;
    in->last_seen = in->spawned_at = now_ms();
    in->cpu_look_at = in->cpu_look_ns = in->computed_at = 0;
}

/*  A process computes when it used at least this share of the time since
    the last look: a blocked one uses none, or microseconds when its zmq
    thread takes a message; one computing on a loaded machine still gets
    tens of percent. */
#define COMPUTING_PERMILLE 10

/*  Its silence is looked into past two heartbeats, or half the limit if
    that is less (two looks must fit in it), once per look period. */
#define LOOK_AFTER_MS (2 * CTL_HEARTBEAT_MS)
#define LOOK_EVERY_MS 100

static bool cpu_of(pid_t pid, uint64_t *ns)
{
    clockid_t clock;
    struct timespec ts;
    if (pid <= 0 || clock_getcpuclockid(pid, &clock) != 0
        || clock_gettime(clock, &ts) != 0)
        return false;
    *ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return true;
}

uint64_t inst_active_at(inst_t *in, uint64_t now, uint64_t limit_ms)
{
    uint64_t after = limit_ms / 2 < LOOK_AFTER_MS ? limit_ms / 2 : LOOK_AFTER_MS;
    /* a node's process is on another machine: its silence is all we see */
    if (in->node >= 0 || now - in->last_seen < after) {
        in->cpu_look_at = 0; /* the next silence starts its looks afresh */
        return in->last_seen;
    }
    uint64_t cpu;
    if (now - in->cpu_look_at >= LOOK_EVERY_MS && cpu_of(in->pid, &cpu)) {
        uint64_t wall_ns = (now - in->cpu_look_at) * 1000000ull;
        if (in->cpu_look_at && cpu - in->cpu_look_ns >= wall_ns / 1000 * COMPUTING_PERMILLE)
            in->computed_at = now;
        in->cpu_look_at = now;
        in->cpu_look_ns = cpu;
    }
    return in->computed_at > in->last_seen ? in->computed_at : in->last_seen;
}

bool instance_alive(const inst_t *in)
{
    return in->state != I_EXITED && in->state != I_GONE && in->state != I_WAITING;
}

inst_t *inst_by_rid(sup_t *s, const char *rid, size_t len)
{
    for (int i = 0; i < s->ninsts; i++)
        if (strlen(s->insts[i].rid) == len && memcmp(s->insts[i].rid, rid, len) == 0)
            return &s->insts[i];
    return NULL;
}

void signal_instance(sup_t *s, inst_t *in, int sig)
{
    if (in->node < 0) {
        if (in->pid > 0)
            kill(in->pid, sig);
        return;
    }
    head_signal(s->head, in->node, in->rid, sig);
}

/*  Every control message to an instance goes through here: straight to
    it, or wrapped to its node. */
int inst_send(sup_t *s, inst_t *in, const msgpack_sbuffer *sb)
{
    if (in->node < 0)
        return ctl_send(s->ctl, in->rid, strlen(in->rid), sb);
    return head_relay(s->head, in->node, in->rid, sb);
}

void send_kind_text(sup_t *s, inst_t *in, int kind, const char *text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ctl_pack_kind_text(&sb, kind, text);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
}
void send_kind(sup_t *s, inst_t *in, int kind)
{
    send_kind_text(s, in, kind, NULL);
}

void send_text(sup_t *s, inst_t *in, int kind, const char *text)
{
    send_kind_text(s, in, kind, text);
}

void send_text_all(sup_t *s, int kind, const char *text)
{
    for (int i = 0; i < s->ninsts; i++)
        if (s->insts[i].state == I_RUNNING)
            send_text(s, &s->insts[i], kind, text);
}

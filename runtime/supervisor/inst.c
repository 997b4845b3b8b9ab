/*  inst.c: an instance as the rest of the supervisor sees it: alive or
    not, found by its routing id, sent to and signalled wherever it runs
    (here, or on a node through the head). */
#include "supervisor/supervise.h"

#include "base/clock.h"
#include "wire/ctl.h"

#include <signal.h>
#include <string.h>

void spawned(inst_t *in, pid_t pid)
{
    in->pid = pid;
    in->hung = false;
    in->state = I_SPAWNED;
    in->last_seen = in->spawned_at = now_ms();
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

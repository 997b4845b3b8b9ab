/*  poison.c: the supervisor's side of items that kill their workers
    (poison.h has the scheme). */
#include "supervisor/supervise.h"

#include "wire/ctl.h"
#include "host/poison.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int poison_open(sup_t *s)
{
    snprintf(s->items_path, sizeof s->items_path, "%s/items", s->rundir);
    size_t len = (size_t)s->ninsts * sizeof(poison_slot_t);
    int fd = open(s->items_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    void *map = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0)
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (map == MAP_FAILED) {
        say(s, "cannot make %s: %s", s->items_path, strerror(err));
        unlink(s->items_path);
        s->items_path[0] = '\0';
        return -1;
    }
    s->slots = map;
    s->slots_len = len;
    return 0;
}

void poison_config(sup_t *s, inst_t *in, wiring_ckpt_t *ck, msgpack_sbuffer *sb)
{
    if (!s->slots || in->node >= 0) /* a node's instance cannot map our file */
        return;
    ck->items_path = s->items_path;
    ck->item_slot = (unsigned)(in - s->insts);
    int n = 0;
    for (int i = 0; i < s->nstrikes; i++)
        n += s->strikes[i].actor == in->actor && s->strikes[i].poison;
    if (!n)
        return;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (int i = 0; i < s->nstrikes; i++) {
        const strike_t *k = &s->strikes[i];
        if (k->actor != in->actor || !k->poison)
            continue;
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint32(&pk, k->origin);
        msgpack_pack_uint64(&pk, k->item);
        ctl_pack_str(&pk, k->text);
    }
    ck->poison = sb->data;
    ck->poison_len = sb->size;
}

static strike_t *strike_of(sup_t *s, int actor, uint32_t origin, uint64_t item)
{
    for (int i = 0; i < s->nstrikes; i++)
        if (s->strikes[i].actor == actor && s->strikes[i].origin == origin
            && s->strikes[i].item == item)
            return &s->strikes[i];
    strike_t *more = realloc(s->strikes, (s->nstrikes + 1) * sizeof *more);
    if (!more)
        return NULL;
    s->strikes = more;
    strike_t *k = &s->strikes[s->nstrikes++];
    memset(k, 0, sizeof *k);
    k->actor = actor;
    k->origin = origin;
    k->item = item;
    return k;
}

/*  A death the item itself may have caused: a crash (SIGSEGV, SIGABRT ...),
    an exit of the module's own, or a hang we killed. SIGKILL and SIGTERM
    come from outside (a user, the OOM killer, a test's chaos): an item
    that merely happened to be in hand then is not to blame. */
static bool item_may_cause(const inst_t *in, int status)
{
    if (in->hung)
        return true;
    if (WIFEXITED(status))
        return WEXITSTATUS(status) != 0;
    if (!WIFSIGNALED(status))
        return false;
    int sig = WTERMSIG(status);
    return sig != SIGKILL && sig != SIGTERM && sig != SIGINT && sig != SIGHUP
           && sig != SIGPIPE;
}

void poison_death(sup_t *s, inst_t *in, int status, const char *why)
{
    if (!s->slots || in->node >= 0)
        return;
    poison_slot_t *slot = &s->slots[in - s->insts];
    bool busy = __atomic_load_n(&slot->busy, __ATOMIC_ACQUIRE);
    slot->busy = 0; /* its successor starts clean */
    if (!busy || !item_may_cause(in, status))
        return; /* it died between items, or not of one */
    const plan_actor_t *a = &s->plan->actors[in->actor];
    strike_t *k = strike_of(s, in->actor, slot->origin, slot->item);
    if (!k || k->poison)
        return;
    k->deaths++;
    snprintf(k->text, sizeof k->text, "it killed the worker handling it %u times (last: "
             "%s)", k->deaths, in->hung ? "hung: no heartbeat, no CPU used" : why);
    if (k->deaths < 2 + a->retries) {
        if (s->opts->verbose > 0)
            say_info(s, "actor '%s' #%u died handling item %llu: it is tried again",
                a->name, in->instance, (unsigned long long)k->item);
        return;
    }
    /* no more tries: from now on every instance fails it unhandled, and
       the actor's on_error takes it from there */
    k->poison = true;
    say_warn(s, "actor '%s': item %llu is poison: %s", a->name,
        (unsigned long long)k->item, k->text);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, CTL_POISON);
    msgpack_pack_uint32(&pk, k->origin);
    msgpack_pack_uint64(&pk, k->item);
    ctl_pack_str(&pk, k->text);
    for (unsigned i = 0; i < a->instances; i++) {
        inst_t *o = &s->insts[s->first_inst[in->actor] + i];
        if (o->state == I_RUNNING)
            inst_send(s, o, &sb);
    }
    msgpack_sbuffer_destroy(&sb);
}

void poison_close(sup_t *s)
{
    if (s->slots)
        munmap(s->slots, s->slots_len);
    s->slots = NULL;
    if (s->items_path[0])
        unlink(s->items_path);
    s->items_path[0] = '\0';
    free(s->strikes);
    s->strikes = NULL;
    s->nstrikes = 0;
}

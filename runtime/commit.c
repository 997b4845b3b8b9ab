/*  commit.c: the supervisor's side of exact actors' checkpoints.

    An exact actor (a stateful actor or a sink) acknowledges its input only
    once a checkpoint covers it (checkpoint.h). The supervisor keeps each
    instance's last checkpoint in memory and hands it to its successor in
    CONFIG, so a restarted instance resumes where the checkpoint left it
    and the items after it, which nobody acknowledged, come again.

    A sink's effect is what it writes, and no checkpoint can be taken
    atomically with a write to a shared stdout. So a sink on the head
    writes to a file of the run directory instead, and its checkpoints say
    how much of the file they cover: the supervisor copies that much to the
    run's real stdout (sendfile), and when the sink dies, cuts off what it
    wrote after its last checkpoint, which its successor writes again. Each
    checkpoint's bytes reach stdout whole, at batch boundaries, so the lines
    of several sink instances never tear.
*/
#define _GNU_SOURCE /* fallocate */
#include "supervise.h"

#include "clock.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

int commit_config(sup_t *s, inst_t *in, wiring_ckpt_t *ck, char *path, size_t len)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    memset(ck, 0, sizeof *ck);
    if (!plan_actor_checkpoints(a))
        return 0;
    ck->restore = in->ckpt;
    ck->restore_len = in->ckpt_len;
    /* a sink on the head; one on a node writes to the node's stdout */
    if (a->noutputs || in->node >= 0)
        return 0;
    snprintf(path, len, "%s/out-%d-%u", s->rundir, in->actor, in->instance);
    if (in->out_fd < 0) {
        in->out_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        in->out_done = 0;
        if (in->out_fd < 0) {
            say(s, "cannot make %s for actor '%s' #%u's output: %s", path, a->name,
                in->instance, strerror(errno));
            in->out_fd = -1;
            return -1;
        }
    }
    ck->stdout_path = path;
    return 0;
}

/*  Copies bytes [out_done, upto) of the instance's file to stdout. */
static void commit_failed(sup_t *s);
static void copy_out(sup_t *s, inst_t *in, uint64_t upto)
{
    while (in->out_done < upto) {
        off_t off = (off_t)in->out_done;
        ssize_t n = sendfile(STDOUT_FILENO, in->out_fd, &off, (size_t)(upto - in->out_done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
            /* stdout takes no sendfile (opened with O_APPEND, say): copy */
            char buf[65536];
            size_t want = upto - in->out_done < sizeof buf ? upto - in->out_done : sizeof buf;
            ssize_t r = pread(in->out_fd, buf, want, (off_t)in->out_done);
            ssize_t w = r > 0 ? write(STDOUT_FILENO, buf, (size_t)r) : r;
            n = w;
            if (w >= 0 && w < r) { /* a short write: the rest next turn */
                in->out_done += (uint64_t)w;
                continue;
            }
        }
        if (n <= 0) { /* stdout is gone (a closed pipe) or full: the run fails */
            if (!s->killing)
                say(s, "cannot write the output of actor '%s' #%u to stdout: %s",
                    actor_name(s, in), in->instance, n < 0 ? strerror(errno) : "end of file");
            in->out_done = upto;
            commit_failed(s);
            return;
        }
        in->out_done += (uint64_t)n;
    }
    /* what is copied need not stay on disk: freed every 64 MiB (each
       punch is a file system operation; a small output never needs one) */
    if (in->out_done - in->out_freed >= (64u << 20)) {
        in->out_freed = in->out_done & ~(uint64_t)4095;
        fallocate(in->out_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  (off_t)in->out_freed);
    }
}

void commit_checkpoint(sup_t *s, inst_t *in, const msgpack_object *root)
{
    const msgpack_object_array *m = &root->via.array;
    if (m->size < 4 || m->ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || m->ptr[2].type != MSGPACK_OBJECT_MAP || m->ptr[3].type != MSGPACK_OBJECT_BOOLEAN
        || !plan_actor_checkpoints(&s->plan->actors[in->actor]))
        return;
    uint64_t seq = m->ptr[1].via.u64;
    bool final = m->ptr[3].via.boolean;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, m->ptr[2]);
    free(in->ckpt);
    in->ckpt_len = sb.size;
    in->ckpt = msgpack_sbuffer_release(&sb);
    in->ckpts++;
    const msgpack_object *out = ctl_map_get(&m->ptr[2], "out");
    if (in->out_fd >= 0 && out && out->type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && out->via.u64 > in->out_done) {
        off_t size = lseek(in->out_fd, 0, SEEK_END);
        copy_out(s, in, size >= 0 && out->via.u64 > (uint64_t)size ? (uint64_t)size
                                                                  : out->via.u64);
    }
    if (final)
        return;
    msgpack_sbuffer_init(&sb);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, CTL_CHECKPOINTED);
    msgpack_pack_uint64(&pk, seq);
    inst_send(s, in, &sb);
    msgpack_sbuffer_destroy(&sb);
}

void commit_rewind(sup_t *s, inst_t *in)
{
    (void)s;
    if (in->out_fd >= 0 && ftruncate(in->out_fd, (off_t)in->out_done) != 0)
        in->out_done = 0; /* cannot happen on a file of ours */
}

void commit_close(inst_t *in)
{
    if (in->out_fd >= 0)
        close(in->out_fd);
    in->out_fd = -1;
    free(in->ckpt);
    in->ckpt = NULL;
}

static void commit_failed(sup_t *s)
{
    s->commit_broken = true; /* the supervisor's loop fails the run */
}

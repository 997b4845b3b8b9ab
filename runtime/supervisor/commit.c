/*  commit.c: the supervisor's side of exact actors' checkpoints.

    An exact actor (a stateful actor or a sink) acknowledges its input only
    once a checkpoint covers it (checkpoint.h). An instance on the head
    writes its checkpoints to a file of the run directory, which the
    supervisor reads when it dies; one on a node sends them, and the
    supervisor keeps the last in memory. Either way its successor gets it
    in CONFIG, so a restarted instance resumes where the checkpoint left it
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
#include "supervisor/supervise.h"

#include "wire/checkpoint.h"
#include "base/clock.h"
#include "wire/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/*  RUNDIR/KIND-ACTOR-INSTANCE, made (empty) the first time. */
static int open_file(sup_t *s, inst_t *in, const char *kind, int *fd, char *path, size_t len)
{
    snprintf(path, len, "%s/%s-%d-%u", s->rundir, kind, in->actor, in->instance);
    if (*fd >= 0)
        return 0;
    *fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (*fd >= 0)
        return 0;
    say(s, "cannot make %s for actor '%s' #%u: %s", path, actor_name(s, in), in->instance,
        strerror(errno));
    return -1;
}

/*  A run's stdout that is a regular file, and is not stderr too, needs no
    copy: when the run has one sink with one instance, that sink writes it
    itself, and its checkpoints say how long the file is theirs; when it
    dies the supervisor cuts the file back to that (in the file's own open
    description, which the sink shares, so its successor goes on there).
    Any other stdout, or several sinks whose writes would interleave, go
    through the copy. */
static int direct_sink(sup_t *s)
{
    if (s->direct_sink != -2)
        return s->direct_sink;
    s->direct_sink = -1;
    struct stat o, e;
    if (fstat(STDOUT_FILENO, &o) != 0 || !S_ISREG(o.st_mode)
        || lseek(STDOUT_FILENO, 0, SEEK_CUR) < 0
        || (fstat(STDERR_FILENO, &e) == 0 && e.st_dev == o.st_dev && e.st_ino == o.st_ino))
        return -1;
    int sink = -1;
    for (int a = 0; a < s->plan->nactors; a++) {
        const plan_actor_t *x = &s->plan->actors[a];
        if (x->noutputs || x->external)
            continue;
        if (sink >= 0 || x->instances != 1 || !plan_actor_checkpoints(x))
            return -1;
        sink = a;
    }
    return s->direct_sink = sink;
}

int commit_config(sup_t *s, inst_t *in, wiring_ckpt_t *ck, char paths[2][PATH_MAX + 64])
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    memset(ck, 0, sizeof *ck);
    if (!plan_actor_checkpoints(a))
        return 0;
    ck->restore = in->ckpt;
    ck->restore_len = in->ckpt_len;
    if (in->node >= 0) /* it sends its checkpoints; a sink writes the node's stdout */
        return 0;
    if (open_file(s, in, "ckpt", &in->ckpt_fd, paths[0], sizeof paths[0]) < 0)
        return -1;
    ck->ckpt_path = paths[0];
    if (a->noutputs)
        return 0;
    if (in->actor == direct_sink(s)) {
        if (!in->out_direct) /* what stdout held before the run is not ours */
            in->out_done = (uint64_t)lseek(STDOUT_FILENO, 0, SEEK_END);
        in->out_direct = true;
        ck->stdout_direct = true;
        return 0;
    }
    bool fresh = in->out_fd < 0;
    if (open_file(s, in, "out", &in->out_fd, paths[1], sizeof paths[1]) < 0)
        return -1;
    if (fresh)
        in->out_done = in->out_freed = 0;
    ck->stdout_path = paths[1];
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

/*  Copies what `out` commits, no further than the file goes. */
static void commit_upto(sup_t *s, inst_t *in, uint64_t out)
{
    if (in->out_fd < 0 || out <= in->out_done)
        return;
    off_t size = lseek(in->out_fd, 0, SEEK_END);
    copy_out(s, in, size >= 0 && out > (uint64_t)size ? (uint64_t)size : out);
}

void commit_output(sup_t *s, inst_t *in, const msgpack_object *root)
{
    if (root->via.array.size > 1
        && root->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        commit_upto(s, in, root->via.array.ptr[1].via.u64);
}

/*  The checkpoint its file holds, kept for its successor. */
static void take_file_checkpoint(sup_t *s, inst_t *in, ckpt_head_t *head)
{
    int rc = ckpt_file_head(in->ckpt_fd, head);
    char *map = rc > 0 && head->len < (1ull << 32) ? malloc(head->len) : NULL;
    if (rc < 0 || (rc > 0 && (!map || pread(in->ckpt_fd, map, head->len, (off_t)head->off)
                                          != (ssize_t)head->len))) {
        /* nothing of ours can damage it but a full disk: the successor
           starts from the checkpoint before, which its producers' held
           batches bring up to date */
        say_warn(s, "actor '%s' #%u: its last checkpoint cannot be read: %s",
            actor_name(s, in), in->instance, rc < 0 ? "damaged" : strerror(errno));
        free(map);
        *head = (ckpt_head_t){ .out = in->out_done };
        return;
    }
    if (rc == 0) { /* it took none */
        free(map);
        head->out = in->out_done;
        return;
    }
    free(in->ckpt);
    in->ckpt = map;
    in->ckpt_len = head->len;
}

void commit_exited(sup_t *s, inst_t *in)
{
    ckpt_head_t head = { .out = in->out_done };
    if (in->ckpt_fd >= 0)
        take_file_checkpoint(s, in, &head);
    if (in->out_direct) { /* stdout itself, cut back to its checkpoint */
        if (head.out > in->out_done)
            in->out_done = head.out;
        if (ftruncate(STDOUT_FILENO, (off_t)in->out_done) != 0
            || lseek(STDOUT_FILENO, (off_t)in->out_done, SEEK_SET) < 0)
            say_warn(s, "cannot cut stdout back to %s's last checkpoint: %s",
                actor_name(s, in), strerror(errno));
        return;
    }
    commit_upto(s, in, head.out);
    /* what it wrote after its last checkpoint is not the run's: its
       successor writes those items again */
    if (in->out_fd >= 0 && ftruncate(in->out_fd, (off_t)in->out_done) != 0)
        say_warn(s, "cannot cut back %s's output file: %s", actor_name(s, in),
            strerror(errno));
}

void commit_close(inst_t *in)
{
    if (in->out_fd >= 0)
        close(in->out_fd);
    in->out_fd = -1;
    if (in->ckpt_fd >= 0)
        close(in->ckpt_fd);
    in->ckpt_fd = -1;
    free(in->ckpt);
    in->ckpt = NULL;
}

static void commit_failed(sup_t *s)
{
    s->commit_broken = true; /* the supervisor's loop fails the run */
}

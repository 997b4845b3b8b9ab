/*  zygote.c: a process that forks actor processes (zygote.h says why). */
#define _GNU_SOURCE
#include "host/zygote.h"

#include "base/paths.h"
#include "base/spawn.h"
#include "host/actor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define REQUEST_MAX 4096

struct zygote {
    pid_t pid;
    int fd;
};

void zygote_set_title(int argc, char **argv, const char *title)
{
    /* measured once: a title written before has zeroed the argv strings
       that the measure reads (the zygote titles itself, then its actors) */
    static size_t room;
    char *start = argv[0];
    if (!room)
        room = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - start);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", title);
    memset(start, 0, room);
    memcpy(start, copy, strlen(copy) < room ? strlen(copy) : room);
    const char *slash = strrchr(copy, '/');
    prctl(PR_SET_NAME, slash ? slash + 1 : copy);
}

/* ==== supervisor side ===================================================== */

zygote_t *zygote_start(const char *exe, const sigset_t *mask)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return NULL;
    zygote_t *self = calloc(1, sizeof *self);
    if (!self) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", sv[1]);
    /* room for every actor's process title, written over this argv */
    char pad[200];
    memset(pad, ' ', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    memcpy(pad, "troupe: (zygote)", 16);
    char *argv[] = { "troupe-actor", "--zygote", fdarg, pad, NULL };
    /* the zygote's end survives exec */
    spawn_t sp = { .path = exe, .argv = argv, .mask = mask, .pdeathsig = SIGKILL,
                   .keep_fd = sv[1] };
    char why[PATH_MAX + 128];
    pid_t pid = spawn_exec(&sp, why, sizeof why);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        free(self);
        return NULL;
    }
    self->pid = pid;
    self->fd = sv[0];
    return self;
}

zygote_t *zygote_prestart(void)
{
    if (getenv("TROUPE_NO_ZYGOTE"))
        return NULL;
    char exe[PATH_MAX];
    sigset_t mask;
    if (paths_actor_exe(exe, sizeof exe, NULL, 0) < 0
        || sigprocmask(SIG_SETMASK, NULL, &mask) != 0)
        return NULL;
    return zygote_start(exe, &mask);
}

pid_t zygote_pid(const zygote_t *self)
{
    return self ? self->pid : -1;
}

int zygote_ask(zygote_t *self, const char *control, const char *rid, const char *title)
{
    char req[REQUEST_MAX];
    int n = snprintf(req, sizeof req, "%s%c%s%c%s", control, 0, rid, 0, title);
    if (n <= 0 || (size_t)n >= sizeof req)
        return -1;
    if (send(self->fd, req, (size_t)n + 1, MSG_NOSIGNAL) != n + 1)
        return -1;
    return 0;
}

pid_t zygote_spawn(zygote_t *self, const char *control, const char *rid,
                   const char *title)
{
    return zygote_ask(self, control, rid, title) < 0 ? -1 : zygote_answer(self);
}

pid_t zygote_answer(zygote_t *self)
{
    struct pollfd p = { .fd = self->fd, .events = POLLIN };
    if (poll(&p, 1, 10000) != 1)
        return -1;
    int32_t pid;
    if (recv(self->fd, &pid, sizeof pid, 0) != sizeof pid || pid <= 0)
        return -1;
    return (pid_t)pid;
}

void zygote_release(zygote_t *self)
{
    if (self && self->fd >= 0) {
        close(self->fd); /* it reads end of file and exits */
        self->fd = -1;
    }
}

void zygote_stop(zygote_t **self_p)
{
    zygote_t *self = *self_p;
    if (!self)
        return;
    zygote_release(self);
    while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(self);
    *self_p = NULL;
}

/* ==== zygote side ========================================================= */

/*  In the new actor process: tie our life to the supervisor's, become the
    actor. */
static int become_actor(pid_t supervisor, int argc, char **argv, const char *control,
                        const char *rid, const char *title)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor)
        _exit(127);
    char *c = strdup(control), *r = strdup(rid), *t = strdup(title);
    if (!c || !r || !t)
        _exit(127);
    zygote_set_title(argc, argv, t);
    int rc = actor_main(c, r);
    free(c);
    free(r);
    free(t);
    return rc;
}

int zygote_main(int fd, int argc, char **argv)
{
    pid_t supervisor = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor)
        exit(1);
    char own[256];
    bool named = false;
    zygote_set_title(argc, argv, "troupe: (zygote)");
    /* what every actor's first zmq_ctx_new does once per process (Debian's
       libzmq starts OpenPGM, which reads nsswitch.conf, fails to load
       libnss_db from some 40 paths and reads /etc/protocols) is done here,
       once, and inherited: about half of an actor's zmq_ctx_new. A context
       with no socket starts no thread, and is gone before any fork */
    zmq_ctx_term(zmq_ctx_new());
    for (;;) {
        char req[REQUEST_MAX + 1];
        ssize_t n = recv(fd, req, REQUEST_MAX, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            _exit(0); /* the supervisor is done with us; nothing of ours
                         to flush or free on the way out */
        }
        req[n] = '\0';
        const char *control = req;
        const char *rid = control + strlen(control) + 1;
        const char *title = rid < req + n ? rid + strlen(rid) + 1 : req + n;
        if (rid >= req + n || title >= req + n + 1) {
            int32_t bad = -1;
            send(fd, &bad, sizeof bad, MSG_NOSIGNAL);
            continue;
        }
        if (!named) { /* "troupe: PIPE/ACTOR#I" names our pipeline */
            const char *slash = strrchr(title, '/');
            snprintf(own, sizeof own, "%.*s/(zygote)",
                     slash ? (int)(slash - title) : 0, title);
            zygote_set_title(argc, argv, own);
            named = true;
        }
        /* A sibling, not a child: CLONE_PARENT makes the supervisor the
           new process's parent from the start, so it waits for it and
           gets its SIGCHLD like any child of its own. (fork semantics
           otherwise; the zygote has one thread and holds no lock.) */
        pid_t actor = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
        if (actor == 0) {
            close(fd);
            return become_actor(supervisor, argc, argv, control, rid, title);
        }
        int32_t reply = actor > 0 ? (int32_t)actor : -1;
        send(fd, &reply, sizeof reply, MSG_NOSIGNAL);
    }
}

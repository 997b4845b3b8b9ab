/*  node.c: `troupe node` (node.h). One loop polls three things: the
    node's control ROUTER (ipc, in a private run directory) where its
    actors connect, the DEALER to the head, and a signalfd (SIGCHLD,
    SIGINT, SIGTERM, SIGHUP, SIGUSR1). Frames from an actor go to the head as
    [RELAY, rid, body]; RELAY from the head goes to the actor with that
    routing id; SPAWN starts a troupe-actor, KILL signals one, and each
    child reaped is reported as EXITED. A node hears its head's BEAT every
    250 ms; without a word for NODE_HEAD_LOST_MS it stops.
*/
#include "cluster/node.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/rundir.h"
#include "base/spawn.h"

#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"
#include "host/zygote.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    pid_t pid;
    char rid[32];
} child_t;

typedef struct {
    const node_opts_t *opts;
    char name[64];
    char exe[PATH_MAX];
    char rundir[PATH_MAX];
    char control[PATH_MAX + 16];
    void *zctx, *ctl, *head;
    void *headmon;       /* the head link's monitor: a refused handshake */
    zygote_t *zygote;
    int sigfd;
    sigset_t oldmask;
    child_t *kids;
    int nkids, cap;
    bool heard;          /* the head has said something */
    bool draining;       /* SIGTERM: it asked the head to move its work */
    uint64_t drain_until;
    uint64_t last_head;  /* when it last did */
    uint64_t next_beat;
} node_t;

/*  How long a node that was asked to leave (SIGTERM) waits for the head
    to move its work before it stops its actors itself. */
#define NODE_DRAIN_MS 30000

static void node_say(node_t *n, log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void node_say(node_t *n, log_level_t level, const char *fmt, ...)
{
    char who[128], text[600];
    snprintf(who, sizeof who, "troupe node %s", n->name);
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(NULL, who, level, text, sizeof text, fmt, ap);
    va_end(ap);
}

/* ==== children ================================================================ */

static void child_add(node_t *n, pid_t pid, const char *rid)
{
    if (n->nkids == n->cap) {
        int cap = n->cap ? n->cap * 2 : 16;
        child_t *more = realloc(n->kids, (size_t)cap * sizeof *more);
        if (!more) {
            kill(pid, SIGKILL); /* cannot track it: better gone */
            return;
        }
        n->kids = more;
        n->cap = cap;
    }
    n->kids[n->nkids].pid = pid;
    snprintf(n->kids[n->nkids].rid, sizeof n->kids[n->nkids].rid, "%s", rid);
    n->nkids++;
}

static void send_exited(node_t *n, const char *rid, pid_t pid, int status)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, NODE_EXITED);
    ctl_pack_str(&pk, rid);
    msgpack_pack_int(&pk, (int)pid);
    msgpack_pack_int(&pk, status);
    ctl_send(n->head, NULL, 0, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void spawn_actor(node_t *n, const char *rid, const char *title)
{
    pid_t pid = -1;
    if (n->zygote) {
        pid = zygote_spawn(n->zygote, n->control, rid, title);
        if (pid <= 0)
            zygote_stop(&n->zygote); /* from now on: fork+exec */
    }
    char why[PATH_MAX + 128] = "";
    if (pid <= 0) {
        char *argv[] = { "troupe-actor", n->control, (char *)rid, (char *)title, NULL };
        spawn_t sp = { .path = n->exe, .argv = argv, .mask = &n->oldmask,
                       .pdeathsig = SIGKILL, .keep_fd = -1 };
        pid = spawn_exec(&sp, why, sizeof why);
    }
    if (pid < 0) {
        node_say(n, LOG_ERROR, "cannot start an actor: %s", why[0] ? why : strerror(errno));
        send_exited(n, rid, 0, 127 << 8); /* as an exec that failed */
        return;
    }
    child_add(n, pid, rid);
}

/*  [EXITED, rid, pid, status] for each child reaped. */
static void reap(node_t *n)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (int i = 0; i < n->nkids; i++) {
            if (n->kids[i].pid != pid)
                continue;
            send_exited(n, n->kids[i].rid, pid, status);
            n->kids[i] = n->kids[--n->nkids];
            break;
        }
    }
}

static void kill_children(node_t *n)
{
    for (int i = 0; i < n->nkids; i++)
        kill(n->kids[i].pid, SIGKILL);
    while (n->nkids > 0) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n->nkids; i++)
            if (n->kids[i].pid == pid)
                n->kids[i] = n->kids[--n->nkids];
    }
}

/* ==== messages ================================================================= */

/*  Every frame an actor sends goes to the head, wrapped. */
static void from_actors(node_t *n)
{
    for (int k = 0; k < 1000; k++) {
        char rid[64];
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rlen = ctl_recv_routed(n->ctl, rid, sizeof rid, &msg);
        if (rlen >= 0)
            nodelink_send_relay(n->head, NULL, 0, rid, (size_t)rlen, zmq_msg_data(&msg),
                                zmq_msg_size(&msg));
        if (rlen == -1) {
            zmq_msg_close(&msg);
            return;
        }
        zmq_msg_close(&msg);
    }
}

static bool str_of(const msgpack_object *o, char *buf, size_t len)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len)
        return false;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return true;
}

/*  Returns 1 when the head said BYE. */
static int from_head(node_t *n)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    int bye = 0;
    for (int k = 0; k < 1000 && !bye; k++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, n->head, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        if (!n->heard && n->opts->verbose > 0)
            node_say(n, LOG_INFO, "joined the head at %s", n->opts->head);
        n->heard = true;
        n->last_head = now_ms();
        msgpack_object root;
        msgpack_zone_clear(&zone);
        if (msgpack_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), &(size_t){ 0 }, &zone,
                           &root)
                == MSGPACK_UNPACK_SUCCESS
            && root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size >= 1
            && root.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            const msgpack_object *v = root.via.array.ptr;
            uint32_t nv = root.via.array.size;
            char rid[32], title[256];
            switch ((int)v[0].via.u64) {
            case NODE_RELAY:
                if (nv == 3 && str_of(&v[1], rid, sizeof rid)
                    && v[2].type == MSGPACK_OBJECT_BIN
                    && zmq_send(n->ctl, rid, strlen(rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                    zmq_send(n->ctl, v[2].via.bin.ptr, v[2].via.bin.size, ZMQ_DONTWAIT);
                break;
            case NODE_SPAWN:
                if (nv == 3 && str_of(&v[1], rid, sizeof rid)
                    && str_of(&v[2], title, sizeof title))
                    spawn_actor(n, rid, title);
                break;
            case NODE_KILL:
                if (nv == 3 && str_of(&v[1], rid, sizeof rid)
                    && v[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER && v[2].via.u64 < 65)
                    for (int i = 0; i < n->nkids; i++)
                        if (!strcmp(n->kids[i].rid, rid))
                            kill(n->kids[i].pid, (int)v[2].via.u64);
                break;
            case NODE_BYE: bye = 1; break;
            default: break; /* BEAT, or something newer: it was a word */
            }
        }
        zmq_msg_close(&msg);
    }
    msgpack_zone_destroy(&zone);
    return bye;
}

/*  A handshake with the head failed: says why and returns true. */
static bool head_refused(node_t *n)
{
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, n->headmon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&ev);
        return false;
    }
    uint16_t event = 0;
    if (zmq_msg_size(&ev) >= 2)
        memcpy(&event, zmq_msg_data(&ev), 2);
    while (zmq_msg_more(&ev)) { /* the address frame */
        zmq_msg_close(&ev);
        zmq_msg_init(&ev);
        zmq_msg_recv(&ev, n->headmon, 0);
    }
    zmq_msg_close(&ev);
    node_say(n, LOG_ERROR, "the head at %s refused this node: %s", n->opts->head,
             event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                 ? "its key is not in the head's allowlist folder (--allow)"
             : n->opts->keys ? "no CURVE handshake (a head without keys, or "
                               "the wrong --head-key?)"
                             : "the head wants CURVE keys (--key, --head-key)");
    return true;
}

/* ==== set-up and the loop ======================================================== */

static int setup(node_t *n)
{
    char why[PATH_MAX * 3];
    if (paths_actor_exe(n->exe, sizeof n->exe, why, sizeof why) < 0) {
        node_say(n, LOG_ERROR, "cannot find troupe-actor: %s", why);
        return -1;
    }
    if (rundir_make("troupe-node", n->rundir, sizeof n->rundir) < 0) {
        node_say(n, LOG_ERROR, "cannot make a run directory in %s: %s", n->rundir, strerror(errno));
        n->rundir[0] = '\0';
        return -1;
    }
    snprintf(n->control, sizeof n->control, "ipc://%s/ctl", n->rundir);
    /* the zygote first, while no zmq context exists and no signal is
       blocked: the actors it forks get the mask it has */
    if (!getenv("TROUPE_NO_ZYGOTE"))
        n->zygote = zygote_prestart();
    n->zctx = zmq_ctx_new();
    n->ctl = n->zctx ? zmq_socket(n->zctx, ZMQ_ROUTER) : NULL;
    n->head = n->zctx ? zmq_socket(n->zctx, ZMQ_DEALER) : NULL;
    if (!n->ctl || !n->head)
        return -1;
    int zero = 0, one = 1, linger = 500, ivl = 100, connect_ms = 2000;
    zmq_setsockopt(n->ctl, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(n->ctl, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(n->head, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(n->head, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    /* a tcp connect that has not completed in 2 s is tried again afresh:
       a lost SYN would otherwise wait out the kernel's retries (1, 2, 4,
       8 s ...), longer than a head's --wait for its nodes */
    zmq_setsockopt(n->head, ZMQ_CONNECT_TIMEOUT, &connect_ms, sizeof connect_ms);
    if (zmq_bind(n->ctl, n->control) != 0) {
        node_say(n, LOG_ERROR, "cannot bind %s: %s", n->control, zmq_strerror(errno));
        return -1;
    }
    if (n->opts->keys
        && auth_set_client(n->head, n->opts->keys->public_txt, n->opts->keys->secret_txt,
                           n->opts->head_public) != 0) {
        node_say(n, LOG_ERROR, "cannot make the link to the head a CURVE client: %s",
                 zmq_strerror(errno));
        return -1;
    }
    /* a head that refuses this node (a key not on its allowlist, or keys on
       one side only) would otherwise look like a head not up yet */
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://troupe-node-head-%d", (int)getpid());
    if (zmq_socket_monitor(n->head, mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            == 0
        && (n->headmon = zmq_socket(n->zctx, ZMQ_PAIR))) {
        zmq_setsockopt(n->headmon, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(n->headmon, mon) != 0) {
            zmq_close(n->headmon);
            n->headmon = NULL;
        }
    }
    if (zmq_connect(n->head, n->opts->head) != 0) {
        node_say(n, LOG_ERROR, "cannot connect to %s: %s", n->opts->head, zmq_strerror(errno));
        return -1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    /* srun passes SIGUSR1 on to its step, where it kills the step for
       SIGTERM: a head that started this node with srun ends it so */
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, &n->oldmask);
    n->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (n->sigfd < 0) {
        node_say(n, LOG_ERROR, "cannot watch signals: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void cleanup(node_t *n)
{
    kill_children(n);
    zygote_stop(&n->zygote);
    /* the allowlist folders of its actors (host/setup.c) that were killed
       before they could remove them: reaped now, their pids are gone */
    rundir_sweep("troupe-allow");
    if (n->ctl)
        zmq_close(n->ctl);
    if (n->headmon) {
        zmq_socket_monitor(n->head, NULL, 0);
        zmq_close(n->headmon);
    }
    if (n->head)
        zmq_close(n->head);
    if (n->zctx)
        zmq_ctx_term(n->zctx);
    if (n->rundir[0]) {
        char path[PATH_MAX + 8];
        snprintf(path, sizeof path, "%s/ctl", n->rundir);
        unlink(path);
        if (rmdir(n->rundir) != 0)
            node_say(n, LOG_ERROR, "could not remove run directory %s: %s", n->rundir,
                     strerror(errno));
    }
    if (n->sigfd >= 0) {
        close(n->sigfd);
        sigprocmask(SIG_SETMASK, &n->oldmask, NULL);
    }
    free(n->kids);
}

/*  HELLO to the head: name, cores, pid. */
static void say_hello(node_t *n)
{
    long cores = n->opts->cores ? (long)n->opts->cores : sysconf(_SC_NPROCESSORS_ONLN);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, NODE_HELLO);
    ctl_pack_str(&pk, n->name);
    msgpack_pack_long(&pk, cores > 0 ? cores : 1);
    msgpack_pack_int(&pk, (int)getpid());
    ctl_send(n->head, NULL, 0, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/*  A signal: the first SIGTERM, once the head is there, asks to leave
    (DRAIN: the head moves this node's work elsewhere, then says BYE, and
    the node exits 0), for at most NODE_DRAIN_MS; any other signal, a
    second SIGTERM, or a drain past its time stops the node at once.
    Returns -1 to go on, or the exit code. */
static int on_signal(node_t *n, int sig)
{
    if (sig == SIGTERM && n->heard && !n->draining) {
        n->draining = true;
        n->drain_until = now_ms() + NODE_DRAIN_MS;
        nodelink_send_kind(n->head, NULL, 0, NODE_DRAIN);
        node_say(n, LOG_WARNING, "Terminated: leaving the run: the head moves the work of "
                 "its %d actor process(es) elsewhere (again to stop now)", n->nkids);
        return -1;
    }
    node_say(n, LOG_WARNING, "%s: stopping %d actor process(es)", strsignal(sig), n->nkids);
    return 128 + sig;
}

/*  The bounds of a turn: a drain past its time, a head never reached or
    lost. Returns -1 to go on, or the exit code. */
static int check_head(node_t *n)
{
    uint64_t now = now_ms();
    if (now >= n->next_beat) {
        nodelink_send_kind(n->head, NULL, 0, NODE_BEAT);
        n->next_beat = now + NODE_BEAT_MS;
    }
    if (n->draining && now >= n->drain_until) {
        node_say(n, LOG_WARNING, "leaving took longer than %d s: stopping %d actor "
                 "process(es)", NODE_DRAIN_MS / 1000, n->nkids);
        return 128 + SIGTERM;
    }
    /* before the head's first word, it may not be up yet: wait longer */
    const node_opts_t *opts = n->opts;
    uint64_t limit = n->heard             ? NODE_HEAD_LOST_MS
                     : opts->first_wait > 0 ? (uint64_t)(opts->first_wait * 1000)
                                            : 30000;
    if (now - n->last_head <= limit)
        return -1;
    if (!n->heard) /* never a word: not a head lost, one never reached */
        node_say(n, LOG_WARNING, "could not reach the head at %s: no answer in %.1f s (is "
                 "it running, with --listen at this address and port? does its --allow "
                 "hold this node's key, or both run --insecure?); exiting", opts->head,
                 (double)(now - n->last_head) / 1000.0);
    else
        node_say(n, LOG_WARNING, "lost the head at %s (no word for %.1f s): stopping %d actor "
                 "process(es) and exiting", opts->head,
                 (double)(now - n->last_head) / 1000.0, n->nkids);
    return 1;
}

/*  One turn of the node's loop: -1 to go on, or the exit code. */
static int node_turn(node_t *n)
{
    zmq_pollitem_t items[4] = {
        { .socket = n->ctl, .events = ZMQ_POLLIN },
        { .socket = n->head, .events = ZMQ_POLLIN },
        { .fd = n->sigfd, .events = ZMQ_POLLIN },
        { .socket = n->headmon, .events = ZMQ_POLLIN },
    };
    if (zmq_poll(items, n->headmon ? 4 : 3, 100) < 0 && errno != EINTR)
        return 1;
    if (n->headmon && (items[3].revents & ZMQ_POLLIN) && head_refused(n))
        return 1;
    if (items[0].revents & ZMQ_POLLIN)
        from_actors(n);
    if ((items[1].revents & ZMQ_POLLIN) && from_head(n)) {
        if (n->opts->verbose > 0 || n->draining)
            node_say(n, LOG_INFO, n->draining ? "left the run: its work moved elsewhere"
                                              : "the head's run is over");
        return 0;
    }
    struct signalfd_siginfo si;
    int sig = 0, rc;
    while (read(n->sigfd, &si, sizeof si) == sizeof si)
        if (si.ssi_signo != SIGCHLD)
            sig = (int)si.ssi_signo;
    reap(n);
    if (sig && (rc = on_signal(n, sig)) >= 0)
        return rc;
    return check_head(n);
}

int node_run(const node_opts_t *opts)
{
    node_t node;
    memset(&node, 0, sizeof node);
    node_t *n = &node;
    n->opts = opts;
    n->sigfd = -1;
    if (opts->name)
        snprintf(n->name, sizeof n->name, "%s", opts->name);
    else if (gethostname(n->name, sizeof n->name - 1) != 0)
        snprintf(n->name, sizeof n->name, "node");
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    if (setup(n) == 0) {
        say_hello(n);
        /* a head started after the node is fine: the DEALER connects when it can */
        n->last_head = now_ms();
        n->next_beat = n->last_head + NODE_BEAT_MS;
        while ((rc = node_turn(n)) < 0)
            ;
    }
    cleanup(n);
    return rc;
}

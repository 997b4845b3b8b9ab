/*  head.h: a head's side of its nodes (troupe run --listen): who joins,
    the node link's socket, the control messages it relays to and from the
    instances that run on nodes, and which nodes are lost.

    The head knows nodes, not instances: an instance on a node is a
    routing id (rid) to it. What happens on the link reaches the
    supervisor through the callbacks of head_events_t, so that this layer
    never reaches into the supervisor's state (docs/ARCHITECTURE.md).
*/
#ifndef TR_HEAD_H
#define TR_HEAD_H

#include "base/log.h"
#include "wire/auth.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

#define HEAD_MAX_NODES 32

/*  A node that joined (troupe node, cluster/node.c). */
typedef struct {
    unsigned char id[256]; /* its routing id on the listen ROUTER */
    size_t idlen;
    char name[64];
    char host[64];  /* its address as the head sees it: its actors bind there */
    unsigned cores;
    int pid;
    bool alive;     /* false once lost: it never comes back */
    bool draining;  /* it asked to leave: nothing new is placed there */
    uint64_t last_seen;
} head_node_t;

typedef struct {
    void *arg;
    /*  A line for the run's log. */
    void (*say)(void *arg, log_level_t level, const char *text);
    /*  Node k joined. */
    void (*joined)(void *arg, int k);
    /*  Node k is lost (gone from the socket, or silent too long): every
        instance it ran died with it. */
    void (*lost)(void *arg, int k, const char *why);
    /*  A control message from instance `rid` on node k. */
    void (*relayed)(void *arg, int k, const char *rid, size_t ridlen, const void *frame,
                    size_t len);
    /*  Instance `rid`'s process on node k ended (pid; waitpid's status). */
    void (*exited)(void *arg, int k, const char *rid, size_t ridlen, pid_t pid, int status);
    /*  Node k asked to leave (troupe node got SIGTERM): its work is to
        move elsewhere, then head_release lets it go. */
    void (*drain)(void *arg, int k);
    /*  A `troupe top --head` asked for snapshots (its routing id). */
    void (*watcher)(void *arg, const void *id, size_t idlen);
} head_events_t;

typedef struct {
    const char *listen;            /* the address nodes join at */
    const auth_keys_t *keys;       /* CURVE with these (--key); NULL: in the clear */
    const char *allow_dir;         /* with keys: the nodes' public certificates */
    void *zctx;                    /* the context of an unkeyed socket */
    uint64_t silent_ms;            /* a node silent this long is lost */
    int verbose;
} head_opts_t;

typedef struct head head_t;

/*  Binds the listen socket. NULL, with the reason in err, when it cannot. */
head_t *head_open(const head_opts_t *opts, const head_events_t *ev, char *err,
                  size_t errlen);
/*  Tells every live node the run is over (BYE), then closes. */
void head_close(head_t **self_p);

/*  Its sockets for the caller's zmq_poll: fills up to 2 items, returns
    how many; head_read then handles what they say. */
int head_poll_items(head_t *self, zmq_pollitem_t *items);
void head_read(head_t *self, const zmq_pollitem_t *items, int n);
/*  Beats to every live node, and loses those silent too long. */
void head_tick(head_t *self);

/*  The address the listen socket is bound at, with the port the system
    picked for a `*` (ZMQ_LAST_ENDPOINT): what nodes must connect to.
    Returns 0, or -1. */
int head_endpoint(const head_t *self, char *buf, size_t len);

int head_nnodes(const head_t *self);
const head_node_t *head_node(const head_t *self, int k);
int head_alive(const head_t *self);

/*  To instance `rid` on node k: start it (title: its process title),
    signal it, or relay a control message to it. -1 when the node is gone. */
int head_spawn(head_t *self, int k, const char *rid, const char *title);
/*  A drained node, its work all moved, is let go: BYE, and it is no longer
    one of the run's (not a loss). */
void head_release(head_t *self, int k);
void head_signal(head_t *self, int k, const char *rid, int sig);
int head_relay(head_t *self, int k, const char *rid, const msgpack_sbuffer *sb);
/*  A message of `kind` with one binary part to a peer by its routing id
    (a watcher's snapshot). */
int head_send_bin(head_t *self, const void *id, size_t idlen, int kind, const void *data,
                  size_t len);

#endif

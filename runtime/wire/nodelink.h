/*  nodelink.h: the link between a head (`troupe run --listen`) and its
    nodes (`troupe node`). The head binds a ROUTER, each node connects a
    DEALER. Every message is one msgpack array whose first element is one
    of the kinds below; docs/PROTOCOL.md lists their fields. The node is a
    relay: its actors' control messages travel inside RELAY unchanged, so
    troupe-actor does not know whether its supervisor is near or far.
*/
#ifndef TR_NODELINK_H
#define TR_NODELINK_H

#include <msgpack.h>
#include <stddef.h>

enum {
    /* node -> head */
    NODE_HELLO = 40, /* [HELLO, name, cores, pid]: a node joins */
    NODE_BEAT,       /* [BEAT]: both ways, every NODE_BEAT_MS */
    NODE_RELAY,      /* [RELAY, rid, body]: both ways, a control message
                        from or to the actor whose routing id is rid */
    NODE_EXITED,     /* [EXITED, rid, pid, status]: a waitpid status */
    NODE_DRAIN,      /* [DRAIN]: the node was asked to leave (SIGTERM): move
                        its work elsewhere, then say BYE */
    /* troupe top --head -> head */
    NODE_WATCH = 50, /* [WATCH]: send me snapshots; said every second */
    /* head -> node */
    NODE_SPAWN = 60, /* [SPAWN, rid, title]: start an actor process */
    NODE_KILL,       /* [KILL, rid, signal] */
    NODE_BYE,        /* [BYE]: the run is over; stop and exit 0 */
    /* head -> troupe top --head */
    NODE_SNAPSHOT = 70 /* [SNAPSHOT, bin]: watch.c's snapshot, 4 times a second */
};

#define NODE_BEAT_MS 250
/*  A node that hears nothing from its head this long stops. */
#define NODE_HEAD_LOST_MS 4000

/*  [kind], [kind, str, str] and [kind, str, int] ([KILL, rid, sig], ...);
    `to` is the routing id for a ROUTER (NULL from a DEALER). 0 or -1. */
int nodelink_send_kind(void *sock, const void *to, size_t tolen, int kind);
int nodelink_send_strs(void *sock, const void *to, size_t tolen, int kind,
                       const char *a, const char *b);
int nodelink_send_str_int(void *sock, const void *to, size_t tolen, int kind,
                          const char *a, long long n);
/*  [RELAY, rid, body] with body as msgpack bin. */
/*  [kind, bin]. */
int nodelink_send_bin(void *sock, const void *to, size_t tolen, int kind,
                      const void *data, size_t len);
int nodelink_send_relay(void *sock, const void *to, size_t tolen, const char *rid,
                        size_t ridlen, const void *body, size_t len);

#endif

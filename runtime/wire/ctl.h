/*  ctl.h: the control channel between the supervisor (ROUTER) and each actor
    process (DEALER). Every message is one msgpack array whose first element
    is one of the kinds below. docs/PROTOCOL.md lists their fields.
*/
#ifndef TR_CTL_H
#define TR_CTL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

enum {
    /* actor -> supervisor */
    CTL_HELLO = 1, /* [HELLO, pid] */
    CTL_READY,     /* [READY]: module started, outputs bound */
    CTL_ERROR,     /* [ERROR, text]: could not start; the run fails */
    CTL_STATS,     /* [STATS, in, out, batches_in, batches_out, failed,
                      malformed, busy_ns, max_rss_kb, cpu_ns, held,
                      unacked, total]: also the heartbeat */
    CTL_FAIL,      /* [FAIL, item id, text]: an item failed */
    CTL_DONE,      /* [DONE, same counters as STATS]: all sent is acked */
    CTL_CHECKPOINT, /* [CHECKPOINT, seq, {state, seen, order, out}, final]:
                       an exact actor's state and the items it covers;
                       the supervisor keeps the last one, commits `out`
                       bytes of the instance's stdout file and answers
                       CHECKPOINTED (not to a final one) */
    CTL_COMMIT,     /* [COMMIT, out]: a sink whose checkpoints go to its
                       file (checkpoint.h) has committed `out` bytes of
                       its output file: copy them to stdout */
    CTL_RETIRE,     /* [RETIRE, same counters as STATS]: it handled its
                       retire_after items, everything they made is acked,
                       and its inputs said BYE: stop it, and start a fresh
                       one at once (no restart counted) */
    /* supervisor -> actor */
    CTL_CONFIG = 20, /* [CONFIG, map] */
    CTL_START,       /* [START]: every actor is bound; connect and run */
    CTL_INPUT_END,   /* [INPUT_END]: every upstream actor is done */
    CTL_DRAIN,       /* [DRAIN]: sources stop producing (Ctrl-C) */
    CTL_STOP,        /* [STOP]: exit now */
    CTL_PEER_LOST,   /* [PEER_LOST, "actor#i"]: that consumer died; send
                        what it held again */
    CTL_PEER_BACK,   /* [PEER_BACK, endpoint]: the producer there was
                        restarted; say hello again */
    CTL_PEER_GONE,   /* [PEER_GONE, "actor#i"]: that consumer died and will
                        not be back; stop waiting for it */
    CTL_ABORT,       /* [ABORT, text]: the run failed; to an actor the
                        calling program plays (embedding), which has no
                        process to kill */
    CTL_CHECKPOINTED, /* [CHECKPOINTED, seq]: checkpoint seq is kept; the
                        items it covers may be acknowledged */
    CTL_POISON,      /* [POISON, origin, item, text]: that item kills its
                        worker: fail it without calling the module */
    CTL_RETIRE_NOW   /* [RETIRE_NOW]: take nothing more, hand on what is
                        taken, then RETIRE (its node is leaving) */
};

/*  CONFIG's "log": how a module's own lines (troupe_log, troupe_warn) go
    to stderr. */
#define CTL_LOG_QUIET 0x1u /* not at all (troupe run -q) */
#define CTL_LOG_BAR 0x2u   /* erase the run's progress bar first: the same
                              terminal has one */

/*  Heartbeat period and how many may be missed before an actor is hung. */
#define CTL_HEARTBEAT_MS 250

/*  Sends the packed message in sb on sock (with a routing id first when
    rid is not NULL). Returns 0 or -1. */
int ctl_send(void *sock, const char *rid, size_t rid_len,
             const msgpack_sbuffer *sb);

/*  Packs [kind] (text NULL) or [kind, text] into sb (initialised, empty). */
void ctl_pack_kind_text(msgpack_sbuffer *sb, int kind, const char *text);

/*  Reads one routed message, [routing id, body], from a ROUTER without
    waiting: copies the id into id (at most idsize bytes) and the body into
    *body (initialised by the caller). Returns the id's length; -1 when
    nothing waits; -2 when a message was read but dropped, being none of
    ours (no body, several body frames, an id longer than idsize). */
int ctl_recv_routed(void *sock, void *id, size_t idsize, zmq_msg_t *body);

/*  [kind] and [kind, text], sent as ctl_send does. */
int ctl_send_kind(void *sock, const char *rid, int kind);
int ctl_send_text(void *sock, const char *rid, int kind, const char *text);

/*  Looks up a string key in a decoded map; NULL when absent. */
const msgpack_object *ctl_map_get(const msgpack_object *map, const char *key);
/*  Typed readers for map members, with a fallback when absent or mistyped. */
uint64_t ctl_map_u64(const msgpack_object *map, const char *key, uint64_t fallback);
bool ctl_map_bool(const msgpack_object *map, const char *key, bool fallback);
/*  A new NUL-terminated copy of a string member, or NULL. */
char *ctl_map_str(const msgpack_object *map, const char *key);
/*  Packs a string key and string value. */
void ctl_pack_kv_str(msgpack_packer *pk, const char *key, const char *value);
/*  Packs a string (a key or a value). */
void ctl_pack_str(msgpack_packer *pk, const char *key);

#endif

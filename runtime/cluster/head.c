/*  head.c: a head's side of its nodes (head.h says what, and how it
    reports to the supervisor). docs/ARCHITECTURE.md, "Nodes".

    With --listen the supervisor is a head: nodes (troupe node) join on a
    ROUTER at the listen address and run some instances for it. A node's
    instance is an ordinary instance whose control messages travel wrapped
    in RELAY through its node, whose process the node starts (SPAWN),
    signals (KILL) and reports dead (EXITED). A node silent for too long,
    or gone from the socket, is the death of all its instances.
*/
#include "cluster/head.h"

#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

struct head {
    head_opts_t opts;
    head_events_t ev;
    void *sock;
    auth_t *auth;  /* keyed (--key, --allow): zauth for sock */
    void *mon;     /* sock's monitor: refused nodes */
    struct {
        int fd;
        char addr[64];
    } accepted[16]; /* recent connections to sock, by fd */
    int refusing;   /* a handshake failed: the reason, until its close */
    char refused[16][64]; /* addresses already said, one line each */
    int nrefused;
    head_node_t nodes[HEAD_MAX_NODES];
    int nnodes;
    uint64_t next_beat;
    msgpack_zone zone;
};

static void head_say(head_t *h, log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void head_say(head_t *h, log_level_t level, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    h->ev.say(h->ev.arg, level, text);
}

/* ==== the socket ================================================================== */

/*  CURVE with the head's key; zauth, by the allowlist folder, says which
    nodes get in: the socket lives in its context (wire/auth.c says why).
    A monitor reports the nodes refused. */
static int open_keyed(head_t *h, char *err, size_t errlen)
{
    if (!(h->auth = auth_new(h->opts.allow_dir, err, errlen)))
        return -1;
    h->sock = zmq_socket(auth_zctx(h->auth), ZMQ_ROUTER);
    if (!h->sock || auth_set_server(h->sock, h->opts.keys->secret_txt) != 0) {
        snprintf(err, errlen, "cannot make the listen socket a CURVE server: %s",
                 zmq_strerror(errno));
        return -1;
    }
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://troupe-nodes-%d", (int)getpid());
    int zero = 0;
    if (zmq_socket_monitor(h->sock, mon,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED
                               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            == 0
        && (h->mon = zmq_socket(auth_zctx(h->auth), ZMQ_PAIR))) {
        zmq_setsockopt(h->mon, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(h->mon, mon) != 0) {
            zmq_close(h->mon);
            h->mon = NULL;
        }
    }
    if (!h->mon)
        head_say(h, LOG_WARNING,
                 "cannot watch the listen socket: refused nodes will not be reported");
    if (h->opts.verbose > 1)
        head_say(h, LOG_INFO, "CURVE on the node link: head key %s, allowlist %s",
                 h->opts.keys->public_txt, h->opts.allow_dir);
    return 0;
}

head_t *head_open(const head_opts_t *opts, const head_events_t *ev, char *err,
                  size_t errlen)
{
    head_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->opts = *opts;
    h->ev = *ev;
    msgpack_zone_init(&h->zone, 2048);
    if (opts->keys ? open_keyed(h, err, errlen) < 0
                   : !(h->sock = zmq_socket(opts->zctx, ZMQ_ROUTER))) {
        if (!opts->keys)
            snprintf(err, errlen, "cannot make the listen socket: %s", zmq_strerror(errno));
        head_close(&h);
        return NULL;
    }
    int one = 1, linger = 500, hwm = 100000;
    /* so that a send to a node that has left fails (EHOSTUNREACH) */
    zmq_setsockopt(h->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(h->sock, ZMQ_LINGER, &linger, sizeof linger); /* BYE */
    zmq_setsockopt(h->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(h->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(h->sock, opts->listen) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", opts->listen, zmq_strerror(errno));
        head_close(&h);
        return NULL;
    }
    return h;
}

void head_close(head_t **self_p)
{
    head_t *h = *self_p;
    if (!h)
        return;
    *self_p = NULL;
    for (int k = 0; h->sock && k < h->nnodes; k++)
        if (h->nodes[k].alive)
            nodelink_send_kind(h->sock, h->nodes[k].id, h->nodes[k].idlen, NODE_BYE);
    if (h->mon) {
        zmq_socket_monitor(h->sock, NULL, 0);
        zmq_close(h->mon);
    }
    if (h->sock)
        zmq_close(h->sock);
    auth_destroy(&h->auth); /* after every socket in its context */
    msgpack_zone_destroy(&h->zone);
    free(h);
}

int head_endpoint(const head_t *self, char *buf, size_t len)
{
    return zmq_getsockopt(self->sock, ZMQ_LAST_ENDPOINT, buf, &len) == 0 ? 0 : -1;
}

int head_nnodes(const head_t *self)
{
    return self ? self->nnodes : 0;
}

const head_node_t *head_node(const head_t *self, int k)
{
    return self && k >= 0 && k < self->nnodes ? &self->nodes[k] : NULL;
}

int head_alive(const head_t *self)
{
    int n = 0;
    for (int k = 0; self && k < self->nnodes; k++)
        n += self->nodes[k].alive;
    return n;
}

/* ==== to nodes ==================================================================== */

static void node_lost(head_t *h, int k, const char *why)
{
    if (!h->nodes[k].alive)
        return;
    h->nodes[k].alive = false;
    h->ev.lost(h->ev.arg, k, why);
}

void head_release(head_t *h, int k)
{
    head_node_t *nd = &h->nodes[k];
    if (!nd->alive)
        return;
    nodelink_send_kind(h->sock, nd->id, nd->idlen, NODE_BYE);
    nd->alive = false; /* gone, and not lost: no event */
}

int head_spawn(head_t *h, int k, const char *rid, const char *title)
{
    head_node_t *nd = &h->nodes[k];
    if (!nd->alive)
        return -1;
    if (nodelink_send_strs(h->sock, nd->id, nd->idlen, NODE_SPAWN, rid, title) < 0
        && errno == EHOSTUNREACH) {
        node_lost(h, k, "it disconnected");
        return -1;
    }
    return 0;
}

void head_signal(head_t *h, int k, const char *rid, int sig)
{
    head_node_t *nd = &h->nodes[k];
    if (nd->alive)
        nodelink_send_str_int(h->sock, nd->id, nd->idlen, NODE_KILL, rid, sig);
}

int head_relay(head_t *h, int k, const char *rid, const msgpack_sbuffer *sb)
{
    head_node_t *nd = &h->nodes[k];
    if (!nd->alive)
        return -1;
    return nodelink_send_relay(h->sock, nd->id, nd->idlen, rid, strlen(rid), sb->data,
                               sb->size);
}

int head_send_bin(head_t *h, const void *id, size_t idlen, int kind, const void *data,
                  size_t len)
{
    return nodelink_send_bin(h->sock, id, idlen, kind, data, len);
}

/*  Beats to every live node; a node that left the socket or went silent
    is lost. */
void head_tick(head_t *h)
{
    if (!h)
        return;
    uint64_t now = now_ms();
    bool beat = now >= h->next_beat;
    if (beat)
        h->next_beat = now + NODE_BEAT_MS;
    for (int k = 0; k < h->nnodes; k++) {
        head_node_t *nd = &h->nodes[k];
        if (!nd->alive)
            continue;
        if (beat && nodelink_send_kind(h->sock, nd->id, nd->idlen, NODE_BEAT) < 0
            && errno == EHOSTUNREACH)
            node_lost(h, k, "it disconnected");
        else if (now - nd->last_seen > h->opts.silent_ms) {
            char why[64];
            snprintf(why, sizeof why, "silent for %.1f s",
                     (double)(now - nd->last_seen) / 1000.0);
            node_lost(h, k, why);
        }
    }
}

/* ==== from nodes ================================================================== */

static void node_hello(head_t *h, const unsigned char *id, size_t idlen, zmq_msg_t *msg,
                       const msgpack_object *v, uint32_t nv)
{
    if (nv < 4 || v[1].type != MSGPACK_OBJECT_STR
        || v[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || v[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return;
    if (h->nnodes == HEAD_MAX_NODES) {
        head_say(h, LOG_WARNING, "a node wants to join, but %d is the most a head takes", HEAD_MAX_NODES);
        return;
    }
    head_node_t *nd = &h->nodes[h->nnodes];
    memset(nd, 0, sizeof *nd);
    memcpy(nd->id, id, idlen);
    nd->idlen = idlen;
    /* names go into the summary and its JSON: keep them plain */
    char name[48];
    size_t len = v[1].via.str.size < sizeof name - 1 ? v[1].via.str.size : sizeof name - 1;
    for (size_t i = 0; i < len; i++) {
        char c = v[1].via.str.ptr[i];
        name[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                          || c == '-' || c == '_' || c == '.'
                      ? c
                      : '_';
    }
    name[len] = '\0';
    snprintf(nd->name, sizeof nd->name, "%s", len ? name : "node");
    for (int k = 0, dup = 2; k < h->nnodes; k++)
        if (!strcmp(h->nodes[k].name, nd->name) || !strcmp(nd->name, "head")) {
            snprintf(nd->name, sizeof nd->name, "%s-%d", len ? name : "node", dup++);
            k = -1;
        }
    nd->cores = v[2].via.u64 > 0 && v[2].via.u64 < 100000 ? (unsigned)v[2].via.u64 : 1;
    nd->pid = (int)v[3].via.u64;
    const char *peer = zmq_msg_gets(msg, "Peer-Address");
    if (!peer || !*peer)
        peer = "127.0.0.1";
    snprintf(nd->host, sizeof nd->host, strchr(peer, ':') ? "[%s]" : "%s", peer);
    nd->alive = true;
    nd->last_seen = now_ms();
    h->nnodes++;
    if (h->opts.verbose > 0)
        head_say(h, LOG_INFO, "node '%s' joined (%u cores, pid %d at %s)", nd->name, nd->cores, nd->pid,
            nd->host);
    nodelink_send_kind(h->sock, nd->id, nd->idlen, NODE_BEAT); /* welcome */
    h->ev.joined(h->ev.arg, h->nnodes - 1);
}

/*  The listen socket's monitor. libzmq 4.3 names only the listen address
    in its events, so the peer's address is asked of the accepted
    connection's fd (getpeername) when ACCEPTED is read; a refused peer may
    be gone by then, and is then "an unknown address". A failed handshake
    is followed by the close of its connection: that close says which
    address it was. Each address is said once (a refused node retries its
    handshake every 100 ms). */
static void read_monitor(head_t *h)
{
    for (int n = 0; n < 1000; n++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, h->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, h->mon, 0);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        if (event == ZMQ_EVENT_ACCEPTED) {
            int slot = (int)(value % 16);
            h->accepted[slot].fd = (int)value;
            struct sockaddr_storage sa;
            socklen_t salen = sizeof sa;
            char host[INET6_ADDRSTRLEN] = "";
            if (getpeername((int)value, (struct sockaddr *)&sa, &salen) == 0) {
                if (sa.ss_family == AF_INET)
                    inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host,
                              sizeof host);
                else if (sa.ss_family == AF_INET6)
                    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host,
                              sizeof host);
            }
            snprintf(h->accepted[slot].addr, sizeof h->accepted[slot].addr, "%s",
                     host[0] ? host : "an unknown address");
        }
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            h->refusing = 1;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            h->refusing = 2;
        else if (event == ZMQ_EVENT_DISCONNECTED && h->refusing) {
            int slot = (int)(value % 16);
            const char *from = h->accepted[slot].fd == (int)value && h->accepted[slot].addr[0]
                                   ? h->accepted[slot].addr
                                   : "an unknown address";
            const char *why = h->refusing == 1
                                  ? "its key is not in the allowlist folder (--allow)"
                                  : "no CURVE handshake with the head's key (a node "
                                    "without --key, or with the wrong --head-key?)";
            char said_key[64];
            snprintf(said_key, sizeof said_key, "%d %s", h->refusing, from);
            bool said = false;
            for (int i = 0; i < h->nrefused; i++)
                said |= !strcmp(h->refused[i], said_key);
            if (!said) {
                if (h->nrefused < 16)
                    snprintf(h->refused[h->nrefused++], sizeof h->refused[0], "%s",
                             said_key);
                head_say(h, LOG_WARNING, "refused a node from %s: %s", from, why);
            }
            h->refusing = 0;
        }
    }
}

/*  One message from a node (or from a peer not yet a node: HELLO, WATCH). */
static void on_node_message(head_t *h, const unsigned char *id, size_t idlen, zmq_msg_t *msg)
{
    int k = -1;
    for (int i = 0; i < h->nnodes; i++)
        if (h->nodes[i].idlen == idlen && !memcmp(h->nodes[i].id, id, idlen))
            k = i;
    msgpack_object root;
    msgpack_zone_clear(&h->zone);
    if (msgpack_unpack(zmq_msg_data(msg), zmq_msg_size(msg), &(size_t){ 0 }, &h->zone, &root)
            != MSGPACK_UNPACK_SUCCESS
        || root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 1
        || root.via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return;
    const msgpack_object *v = root.via.array.ptr;
    uint32_t nv = root.via.array.size;
    int kind = (int)v[0].via.u64;
    if (k < 0 && kind == NODE_HELLO)
        node_hello(h, id, idlen, msg, v, nv);
    else if (k < 0 && kind == NODE_WATCH)
        h->ev.watcher(h->ev.arg, id, idlen);
    if (k < 0 || !h->nodes[k].alive) /* a lost node stays lost */
        return;
    h->nodes[k].last_seen = now_ms();
    if (kind == NODE_DRAIN && !h->nodes[k].draining) {
        h->nodes[k].draining = true;
        if (h->ev.drain)
            h->ev.drain(h->ev.arg, k);
        return;
    }
    if (nv < 3 || v[1].type != MSGPACK_OBJECT_STR)
        return;
    const char *rid = v[1].via.str.ptr;
    size_t ridlen = v[1].via.str.size;
    if (kind == NODE_RELAY && v[2].type == MSGPACK_OBJECT_BIN)
        h->ev.relayed(h->ev.arg, k, rid, ridlen, v[2].via.bin.ptr, v[2].via.bin.size);
    else if (kind == NODE_EXITED && nv == 4 && v[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        h->ev.exited(h->ev.arg, k, rid, ridlen,
                     v[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (pid_t)v[2].via.u64 : 0,
                     (int)v[3].via.u64);
}

static void read_nodes(head_t *h)
{
    for (int n = 0; n < 1000; n++) {
        unsigned char id[256];
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int idlen = ctl_recv_routed(h->sock, id, sizeof id, &msg);
        if (idlen >= 0)
            on_node_message(h, id, (size_t)idlen, &msg);
        zmq_msg_close(&msg);
        if (idlen == -1)
            break;
    }
}

int head_poll_items(head_t *h, zmq_pollitem_t *items)
{
    if (!h)
        return 0;
    items[0] = (zmq_pollitem_t){ .socket = h->sock, .events = ZMQ_POLLIN };
    if (!h->mon)
        return 1;
    items[1] = (zmq_pollitem_t){ .socket = h->mon, .events = ZMQ_POLLIN };
    return 2;
}

void head_read(head_t *h, const zmq_pollitem_t *items, int n)
{
    if (!h)
        return;
    if (n > 1 && (items[1].revents & ZMQ_POLLIN))
        read_monitor(h);
    if (n > 0 && (items[0].revents & ZMQ_POLLIN))
        read_nodes(h);
}

/*  head.c: a supervisor with nodes (troupe run --listen): who joins, where
    each instance runs, and the node link that relays control messages to
    the instances on nodes and brings back their deaths.
    docs/ARCHITECTURE.md, "Nodes".
*/
#include "supervisor/supervise.h"

#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"
#include "supervisor/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ==== nodes ========================================================================
   With --listen the supervisor is a head: nodes (troupe node) join on a
   ROUTER at the listen address and run some instances for it. A node's
   instance is an ordinary instance whose control messages travel wrapped
   in RELAY through its node, whose process the node starts (SPAWN),
   signals (KILL) and reports dead (EXITED). A node silent for --hang
   seconds, or gone from the socket, is the death of all its instances. */

static bool node_worker(const plan_actor_t *a)
{
    if (a->place != PLACE_DEFAULT)
        return a->place == PLACE_ANY;
    return a->ninputs > 0 && a->noutputs > 0; /* sources and sinks stay home */
}

/*  Chooses where `in` runs: the head or a live node, whichever has the
    fewest worker instances per announced core once it has this one
    (the head first on a tie). */
static void count_load(sup_t *s, unsigned *load);

void place(sup_t *s, inst_t *in)
{
    const plan_actor_t *a = &s->plan->actors[in->actor];
    int prefer = in->prefer;
    in->prefer = -1;
    in->node = -1;
    in->placed = false; /* not counted while it is being placed */
    if (s->nodesock && !a->external && !a->exe && node_worker(a)) {
        if (prefer >= 0 && prefer < s->nnodes && s->nodes[prefer].alive)
            in->node = prefer; /* moves to a node that joined late */
        else {
            unsigned load[MAX_NODES + 1];
            count_load(s, load);
            double best = (double)(load[0] + 1) / s->head_cores;
            for (int k = 0; k < s->nnodes; k++) {
                double score = (double)(load[k + 1] + 1) / s->nodes[k].cores;
                if (s->nodes[k].alive && score < best) {
                    best = score;
                    in->node = k;
                }
            }
        }
    }
    in->placed = true;
}

static void node_lost(sup_t *s, int k, const char *why);

/*  Worker instances a place runs, for placement: [0] the head, [1+k] node k. */
static void count_load(sup_t *s, unsigned *load)
{
    memset(load, 0, (MAX_NODES + 1) * sizeof *load);
    for (int i = 0; i < s->ninsts; i++) {
        const inst_t *o = &s->insts[i];
        if (o->placed && instance_alive(o) && !o->moving
            && node_worker(&s->plan->actors[o->actor]))
            load[o->node + 1]++;
    }
}

/*  A node that joined after the start takes its share from then on: the
    busiest places (by instances per core) each give up a running worker
    instance, killed on purpose and started again on the new node, until
    it would not lighten them. What the instance held is sent again, as
    after any death, so the output stays exact. Actors that keep state
    (they flush at the end) or restore an order are left where they are:
    moving them would lose their state. */

static void move_to(sup_t *s, int k)
{
    unsigned load[MAX_NODES + 1];
    count_load(s, load);
    for (;;) {
        double mine = (double)(load[k + 1] + 1) / s->nodes[k].cores;
        inst_t *victim = NULL;
        double worst = mine;
        for (int i = 0; i < s->ninsts; i++) {
            inst_t *o = &s->insts[i];
            const plan_actor_t *a = &s->plan->actors[o->actor];
            if (!o->placed || o->state != I_RUNNING || o->moving || o->node == k
                || !node_worker(a) || a->flushes || a->ordered > 0 || a->exe
                || a->restart == RESTART_TEMPORARY)
                continue;
            unsigned cores = o->node < 0 ? s->head_cores : s->nodes[o->node].cores;
            double there = (double)load[o->node + 1] / cores;
            if (there > worst) {
                worst = there;
                victim = o;
            }
        }
        if (!victim)
            return;
        load[victim->node + 1]--;
        load[k + 1]++;
        victim->moving = true;
        victim->prefer = k;
        signal_instance(s, victim, SIGKILL);
    }
}

int spawn_on_node(sup_t *s, inst_t *in, const char *title)
{
    node_t *nd = &s->nodes[in->node];
    spawned(in, 0); /* its pid comes with its HELLO */
    if (s->opts->verbose > 1)
        say_info(s, "actor '%s' #%u on node '%s'", actor_name(s, in), in->instance, nd->name);
    if (nodelink_send_strs(s->nodesock, nd->id, nd->idlen, NODE_SPAWN, in->rid, title) < 0
        && errno == EHOSTUNREACH)
        node_lost(s, in->node, "it disconnected");
    return 0;
}

void signal_instance(sup_t *s, inst_t *in, int sig)
{
    if (in->node < 0) {
        if (in->pid > 0)
            kill(in->pid, sig);
        return;
    }
    node_t *nd = &s->nodes[in->node];
    if (nd->alive)
        nodelink_send_str_int(s->nodesock, nd->id, nd->idlen, NODE_KILL, in->rid, sig);
}

/*  Every control message to an instance goes through here: straight to
    it, or wrapped to its node. */
int inst_send(sup_t *s, inst_t *in, const msgpack_sbuffer *sb)
{
    if (in->node < 0)
        return ctl_send(s->ctl, in->rid, strlen(in->rid), sb);
    node_t *nd = &s->nodes[in->node];
    if (!nd->alive)
        return -1;
    return nodelink_send_relay(s->nodesock, nd->id, nd->idlen, in->rid, strlen(in->rid),
                               sb->data, sb->size);
}

/*  A node is gone: each of its live instances died with it (restarted
    elsewhere, within its restart intensity). */
static void node_lost(sup_t *s, int k, const char *why)
{
    node_t *nd = &s->nodes[k];
    if (!nd->alive)
        return;
    nd->alive = false;
    int n = 0;
    for (int i = 0; i < s->ninsts; i++)
        n += s->insts[i].node == k && instance_alive(&s->insts[i]);
    if (s->opts->verbose >= 0 || n)
        say_warn(s, "node '%s' lost: %s; %d instance(s) ran there", nd->name, why, n);
    for (int i = 0; i < s->ninsts; i++) {
        inst_t *in = &s->insts[i];
        if (in->node == k && instance_alive(in))
            instance_exited(s, in, SIGKILL); /* as a waitpid status: killed */
    }
}

static void node_hello(sup_t *s, const unsigned char *id, size_t idlen, zmq_msg_t *msg,
                       const msgpack_object *v, uint32_t nv)
{
    if (nv < 4 || v[1].type != MSGPACK_OBJECT_STR
        || v[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || v[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return;
    if (s->nnodes == MAX_NODES) {
        say_warn(s, "a node wants to join, but %d is the most a head takes", MAX_NODES);
        return;
    }
    node_t *nd = &s->nodes[s->nnodes];
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
    for (int k = 0, dup = 2; k < s->nnodes; k++)
        if (!strcmp(s->nodes[k].name, nd->name) || !strcmp(nd->name, "head")) {
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
    s->nnodes++;
    if (s->opts->verbose > 0)
        say_info(s, "node '%s' joined (%u cores, pid %d at %s)", nd->name, nd->cores, nd->pid,
            nd->host);
    nodelink_send_kind(s->nodesock, nd->id, nd->idlen, NODE_BEAT); /* welcome */
    if (s->started)
        move_to(s, s->nnodes - 1);
}

/*  The listen socket's monitor. libzmq 4.3 names only the listen address
    in its events, so the peer's address is asked of the accepted
    connection's fd (getpeername) when ACCEPTED is read; a refused peer may
    be gone by then, and is then "an unknown address". A failed handshake
    is followed by the close of its connection: that close says which
    address it was. Each address is said once (a refused node retries its
    handshake every 100 ms). */
void read_monitor(sup_t *s)
{
    for (int n = 0; n < 1000; n++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->nodemon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, s->nodemon, 0);
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
            s->accepted[slot].fd = (int)value;
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
            snprintf(s->accepted[slot].addr, sizeof s->accepted[slot].addr, "%s",
                     host[0] ? host : "an unknown address");
        }
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            s->refusing = 1;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            s->refusing = 2;
        else if (event == ZMQ_EVENT_DISCONNECTED && s->refusing) {
            int slot = (int)(value % 16);
            const char *from = s->accepted[slot].fd == (int)value && s->accepted[slot].addr[0]
                                   ? s->accepted[slot].addr
                                   : "an unknown address";
            const char *why = s->refusing == 1
                                  ? "its key is not in the allowlist folder (--allow)"
                                  : "no CURVE handshake with the head's key (a node "
                                    "without --key, or with the wrong --head-key?)";
            char said_key[64];
            snprintf(said_key, sizeof said_key, "%d %s", s->refusing, from);
            bool said = false;
            for (int i = 0; i < s->nrefused; i++)
                said |= !strcmp(s->refused[i], said_key);
            if (!said) {
                if (s->nrefused < 16)
                    snprintf(s->refused[s->nrefused++], sizeof s->refused[0], "%s",
                             said_key);
                say_warn(s, "refused a node from %s: %s", from, why);
            }
            s->refusing = 0;
        }
    }
}

void read_nodes(sup_t *s)
{
    msgpack_zone zone, inner;
    msgpack_zone_init(&zone, 2048);
    msgpack_zone_init(&inner, 2048);
    for (int n = 0; n < 1000; n++) {
        unsigned char id[256];
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int idlen = ctl_recv_routed(s->nodesock, id, sizeof id, &msg);
        if (idlen < 0) {
            zmq_msg_close(&msg);
            if (idlen == -1)
                break;
            continue;
        }
        int k = -1;
        for (int i = 0; i < s->nnodes; i++)
            if (s->nodes[i].idlen == (size_t)idlen && !memcmp(s->nodes[i].id, id, (size_t)idlen))
                k = i;
        msgpack_object root;
        msgpack_zone_clear(&zone);
        if (msgpack_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), &(size_t){ 0 }, &zone,
                              &root)
                   == MSGPACK_UNPACK_SUCCESS
            && root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size >= 1
            && root.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            const msgpack_object *v = root.via.array.ptr;
            uint32_t nv = root.via.array.size;
            int kind = (int)v[0].via.u64;
            if (k < 0 && kind == NODE_HELLO)
                node_hello(s, id, (size_t)idlen, &msg, v, nv);
            else if (k < 0 && kind == NODE_WATCH)
                watch_watcher(s, id, (size_t)idlen);
            else if (k >= 0 && s->nodes[k].alive) { /* a lost node stays lost */
                s->nodes[k].last_seen = now_ms();
                inst_t *in = nv >= 3 && v[1].type == MSGPACK_OBJECT_STR
                                 ? inst_by_rid(s, v[1].via.str.ptr, v[1].via.str.size)
                                 : NULL;
                if (in && in->node != k)
                    in = NULL; /* not this node's to speak for */
                if (in && kind == NODE_RELAY && v[2].type == MSGPACK_OBJECT_BIN)
                    on_frame(s, in, &inner, v[2].via.bin.ptr, v[2].via.bin.size);
                else if (in && kind == NODE_EXITED && nv == 4
                         && v[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                         && instance_alive(in)) {
                    if (v[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER && in->pid <= 0)
                        in->pid = (pid_t)v[2].via.u64;
                    instance_exited(s, in, (int)v[3].via.u64);
                }
            }
        }
        zmq_msg_close(&msg);
    }
    msgpack_zone_destroy(&inner);
    msgpack_zone_destroy(&zone);
}

/*  Beats to every live node; a node that left the socket or went silent
    is lost. */
void check_nodes(sup_t *s)
{
    if (!s->nodesock)
        return;
    uint64_t now = now_ms();
    bool beat = now >= s->next_beat;
    if (beat)
        s->next_beat = now + NODE_BEAT_MS;
    for (int k = 0; k < s->nnodes; k++) {
        node_t *nd = &s->nodes[k];
        if (!nd->alive)
            continue;
        if (beat && nodelink_send_kind(s->nodesock, nd->id, nd->idlen, NODE_BEAT) < 0
            && errno == EHOSTUNREACH)
            node_lost(s, k, "it disconnected");
        else if (now - nd->last_seen > (uint64_t)(s->opts->hang * 1000)) {
            char why[64];
            snprintf(why, sizeof why, "silent for %.1f s",
                     (double)(now - nd->last_seen) / 1000.0);
            node_lost(s, k, why);
        }
    }
}

int nodes_alive(sup_t *s)
{
    int n = 0;
    for (int k = 0; k < s->nnodes; k++)
        n += s->nodes[k].alive;
    return n;
}


/*  Before the start: until opts->nodes nodes have joined, or opts->wait
    seconds. Nodes that come later are used for restarts. */
void wait_for_nodes(sup_t *s)
{
    uint64_t deadline = now_ms() + (uint64_t)(s->opts->wait * 1000);
    while (nodes_alive(s) < (int)s->opts->nodes && now_ms() < deadline && !s->killing) {
        zmq_pollitem_t items[3] = {
            { .socket = s->nodesock, .events = ZMQ_POLLIN },
            { .fd = s->sigfd, .events = ZMQ_POLLIN },
            { .socket = s->nodemon, .events = ZMQ_POLLIN },
        };
        if (zmq_poll(items, s->nodemon ? 3 : 2, 100) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            read_nodes(s);
        if (items[1].revents & ZMQ_POLLIN)
            read_signals(s);
        if (s->nodemon && (items[2].revents & ZMQ_POLLIN))
            read_monitor(s);
        check_nodes(s);
    }
    if (s->killing)
        return;
    int n = nodes_alive(s);
    if (n < (int)s->opts->nodes)
        say_warn(s, "%d of %u node(s) joined within %.0f s: running with %s", n,
            s->opts->nodes, s->opts->wait, n ? "those" : "the head alone");
    else if (s->opts->verbose > 0)
        say_info(s, "%d node(s) joined: starting", n);
}

/*  The run is over: nodes stop their side and exit. */
void bye_nodes(sup_t *s)
{
    for (int k = 0; s->nodesock && k < s->nnodes; k++)
        if (s->nodes[k].alive)
            nodelink_send_kind(s->nodesock, s->nodes[k].id, s->nodes[k].idlen, NODE_BYE);
}


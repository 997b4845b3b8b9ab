/*  queue.c: troupe_queue_t, Python's multiprocessing.Queue for processes:
    the handles every process holds, and the wire they share with the
    broker thread (queue_broker.c) that the queue's host runs.

    Every handle, the host's included, is a client: DEALER sockets that send
    a request and wait for its one answer. The broker decides every
    outcome: a put or a get carries its timeout, and the broker answers it
    exactly once, done or TIMEOUT when the deadline passed first. So a put
    that reports a timeout never landed, and a value is never sent to a
    getter that has stopped waiting: nothing is lost or duplicated between
    a timeout and a late reply, and no cancel message is needed. A client
    gives up on its own only when the broker falls silent (it pings while
    it waits), and then says the queue does not answer.

    The wire (queue.h) is one msgpack array per frame; a value travels as a
    bin holding its packed bytes, so the broker stores and forwards it
    without re-encoding.
*/
#include "embed/queue.h"
#include "embed/queue_broker.h"
#include "embed/queue_wire.h"

#include "base/clock.h"
#include "wire/envelope.h"
#include "base/error.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

/*  A waiting client pings after this long without a word from the broker,
    and gives up after QUEUE_MARGIN_MS of silence, or that long past its
    own deadline. */
#define QUEUE_PING_MS 1000
#define QUEUE_MARGIN_MS 3000
#define FOREVER UINT64_MAX

/* ---- clients -------------------------------------------------------------- */

/*  A DEALER with its own ids. A handle keeps idle ones in a pool and a call
    takes one for its whole request, so that threads sharing a handle never
    wait for each other (a getter blocked on an empty queue must not keep
    the putter in the next thread out). */
typedef struct conn {
    struct conn *next;
    void *sock;
    uint64_t next_id;
    msgpack_zone zone; /* decoded answers, cleared for each */
} conn_t;

struct troupe_queue {
    char *address;
    void *ctx;            /* the handle's own, as the broker has its own */
    pthread_mutex_t lock; /* guards idle */
    conn_t *idle;
    queue_broker_t *broker; /* the host's handle only */
};

static void conn_destroy(conn_t **c_p)
{
    conn_t *c = *c_p;
    if (!c)
        return;
    if (c->sock)
        zmq_close(c->sock);
    msgpack_zone_destroy(&c->zone);
    free(c);
    *c_p = NULL;
}

static conn_t *conn_new(troupe_queue_t *q)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c || !msgpack_zone_init(&c->zone, 256)) {
        free(c);
        errno = ENOMEM;
        tr_error("out of memory");
        return NULL;
    }
    c->sock = zmq_socket(q->ctx, ZMQ_DEALER);
    int linger = 0; /* an unanswered request must not hold up a close */
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) < 0
        || zmq_connect(c->sock, q->address) < 0) {
        int err = errno;
        tr_error("queue address %s: %s", q->address, zmq_strerror(err));
        conn_destroy(&c);
        errno = err;
        return NULL;
    }
    return c;
}

static conn_t *conn_take(troupe_queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    conn_t *c = q->idle;
    if (c)
        q->idle = c->next;
    pthread_mutex_unlock(&q->lock);
    return c ? c : conn_new(q);
}

static void conn_give(troupe_queue_t *q, conn_t *c)
{
    pthread_mutex_lock(&q->lock);
    c->next = q->idle;
    q->idle = c;
    pthread_mutex_unlock(&q->lock);
}

/*  One request and what it brought back. */
typedef struct {
    unsigned kind;      /* QUEUE_PUT, _GET, _PING, _SIZE, _DONE or _JOIN */
    int64_t timeout_ms; /* -1: forever */
    const void *data;   /* a put's packed value */
    size_t size;
    troupe_value_t *value; /* a get's answer */
    uint64_t count[3];     /* a size's: values held, maxsize, not done */
} request_t;

enum { ANSWER_NONE = 1, GAVE_UP = 2 };

/*  Reads one frame as the answer to request `id`: 0 or -1 (error set) when
    it is, ANSWER_NONE when it is something else (a stale answer, a pong,
    or garbage). */
static int conn_answer(troupe_queue_t *q, conn_t *c, const void *data, size_t size,
                       uint64_t id, request_t *r)
{
    msgpack_object root;
    uint64_t kind, rid;
    if (!queue_message_view(data, size, &c->zone, &root, &kind, &rid) || rid != id)
        return ANSWER_NONE;
    const msgpack_object *f = root.via.array.ptr;
    uint32_t n = root.via.array.size;
    if (kind == QUEUE_OK && n == 2
        && (r->kind == QUEUE_PUT || r->kind == QUEUE_DONE || r->kind == QUEUE_JOIN))
        return 0;
    if (kind == QUEUE_COUNT && r->kind == QUEUE_SIZE && n == 5) {
        for (int i = 0; i < 3; i++) {
            if (f[2 + i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return ANSWER_NONE;
            r->count[i] = f[2 + i].via.u64;
        }
        return 0;
    }
    if (kind == QUEUE_PING && r->kind == QUEUE_PING && n == 2)
        return 0;
    if (kind == QUEUE_VALUE && r->kind == QUEUE_GET && n == 3
        && f[2].type == MSGPACK_OBJECT_BIN) {
        r->value = troupe_value_packed(f[2].via.bin.ptr, f[2].via.bin.size);
        if (!r->value) {
            tr_error("queue at %s sent a value that is not one", q->address);
            errno = EPROTO;
            return -1;
        }
        return 0;
    }
    if (kind == QUEUE_TIMEOUT && n == 2) {
        tr_error(r->kind == QUEUE_PUT   ? "put timed out after %lld ms: the queue stayed full"
                 : r->kind == QUEUE_GET ? "get timed out after %lld ms: the queue stayed empty"
                                        : "join timed out after %lld ms: values put are not "
                                          "all done (task_done)",
                 (long long)r->timeout_ms);
        errno = ETIMEDOUT;
        return -1;
    }
    if (kind == QUEUE_CLOSED && n == 2) {
        tr_error("queue at %s was closed", q->address);
        errno = EPIPE;
        return -1;
    }
    if ((kind == QUEUE_FAILED || kind == QUEUE_REFUSED) && n == 3
        && f[2].type == MSGPACK_OBJECT_STR) {
        tr_error("queue at %s: %.*s", q->address, (int)f[2].via.str.size,
                 f[2].via.str.ptr);
        errno = kind == QUEUE_FAILED ? ENOMEM : EINVAL;
        return -1;
    }
    return ANSWER_NONE;
}

static int conn_ping(conn_t *c, uint64_t id)
{
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, QUEUE_PING);
    msgpack_pack_uint64(&pk, id);
    return queue_frame_send(c->sock, &h, NULL, 0, ZMQ_DONTWAIT);
}

/*  Waits for the answer to request `id`: 0, -1 (error set), or GAVE_UP
    when the broker fell silent. Answers to other ids are stale (or pongs)
    and dropped. */
static int conn_await(troupe_queue_t *q, conn_t *c, uint64_t id, request_t *r)
{
    uint64_t start = now_ms(), heard = start, ping = 0;
    uint64_t hard = r->timeout_ms < 0 ? FOREVER
                                      : start + (uint64_t)r->timeout_ms + QUEUE_MARGIN_MS;
    bool in_multipart = false;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= hard || now - heard >= QUEUE_MARGIN_MS)
            return GAVE_UP;
        if (!ping && now - heard >= QUEUE_PING_MS) {
            ping = ++c->next_id;
            if (conn_ping(c, ping) < 0)
                return GAVE_UP;
        }
        uint64_t until = heard + QUEUE_MARGIN_MS;
        if (!ping && heard + QUEUE_PING_MS < until)
            until = heard + QUEUE_PING_MS;
        if (hard < until)
            until = hard;
        zmq_pollitem_t item = { c->sock, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll(&item, 1, (long)(until - now));
        if (rc < 0 && errno != EINTR)
            return GAVE_UP;
        if (rc <= 0)
            continue;
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            heard = now_ms();
            ping = 0;
            /* the broker sends single frames: a multipart message is not
               its, and is skipped whole */
            bool skip = in_multipart || zmq_msg_more(&m);
            in_multipart = zmq_msg_more(&m);
            int done = skip ? ANSWER_NONE
                            : conn_answer(q, c, zmq_msg_data(&m), zmq_msg_size(&m), id, r);
            zmq_msg_close(&m);
            if (done != ANSWER_NONE)
                return done;
        }
    }
}

/*  Sends the request on a connection of the pool and waits for its
    answer. A connection whose broker fell silent is closed, not pooled:
    a late answer then cannot reach a later call. */
static int queue_call(troupe_queue_t *q, request_t *r)
{
    conn_t *c = conn_take(q);
    if (!c)
        return -1;
    uint64_t id = ++c->next_id;
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    bool timed = r->kind == QUEUE_PUT || r->kind == QUEUE_GET || r->kind == QUEUE_JOIN,
         has_value = r->kind == QUEUE_PUT;
    msgpack_pack_array(&pk, 2 + timed + has_value);
    msgpack_pack_uint8(&pk, (uint8_t)r->kind);
    msgpack_pack_uint64(&pk, id);
    if (timed)
        msgpack_pack_int64(&pk, r->timeout_ms);
    if (has_value)
        msgpack_pack_bin(&pk, r->size);
    int rc = queue_frame_send(c->sock, &h, r->data, has_value ? r->size : 0, ZMQ_DONTWAIT) < 0
                 ? GAVE_UP
                 : conn_await(q, c, id, r);
    if (rc == GAVE_UP) {
        conn_destroy(&c);
        tr_error("queue at %s does not answer", q->address);
        errno = ENOTCONN;
        return -1;
    }
    conn_give(q, c);
    return rc;
}

/*  Seconds as the wire's milliseconds; < 0 (or past any useful wait):
    forever. */
static int timeout_to_ms(double timeout, int64_t *ms)
{
    if (isnan(timeout)) {
        errno = EINVAL;
        return tr_error("queue: the timeout is not a number");
    }
    *ms = timeout < 0 || timeout > 1e9 ? -1 : (int64_t)ceil(timeout * 1000);
    return 0;
}

/* ---- the API ----------------------------------------------------------------- */

/*  A client handle on the queue at `address`, once its broker has
    answered a ping: the host's handle is made by the same path as any
    other process's. */
static troupe_queue_t *queue_connect(const char *address, queue_broker_t *broker)
{
    troupe_queue_t *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        tr_error("out of memory");
        queue_broker_destroy(&broker);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->broker = broker;
    q->address = strdup(address);
    q->ctx = zmq_ctx_new();
    if (!q->address || !q->ctx) {
        troupe_queue_destroy(&q);
        errno = ENOMEM;
        tr_error("out of memory");
        return NULL;
    }
    request_t r = { .kind = QUEUE_PING, .timeout_ms = 0 };
    if (queue_call(q, &r) < 0) {
        int err = errno;
        troupe_queue_destroy(&q);
        errno = err;
        return NULL;
    }
    return q;
}

troupe_queue_t *troupe_queue_new(size_t maxsize)
{
    tr_error_clear();
    queue_broker_t *b = queue_broker_start(maxsize);
    return b ? queue_connect(queue_broker_address(b), b) : NULL;
}

const char *troupe_queue_address(const troupe_queue_t *q)
{
    return q ? q->address : NULL;
}

troupe_queue_t *troupe_queue_open(const char *address)
{
    tr_error_clear();
    if (!address) {
        errno = EINVAL;
        tr_error("troupe_queue_open: NULL address");
        return NULL;
    }
    /* a missing socket file is the common mistake: say so now rather than
       after the wait for an answer that cannot come */
    if (strncmp(address, "ipc://", 6) == 0) {
        struct stat st;
        if (stat(address + 6, &st) < 0) {
            int err = errno;
            tr_error("no queue at %s: %s", address, strerror(err));
            errno = err;
            return NULL;
        }
        if (!S_ISSOCK(st.st_mode)) {
            tr_error("no queue at %s: not a socket", address);
            errno = ENOTSOCK;
            return NULL;
        }
    }
    return queue_connect(address, NULL);
}

/*  A put of packed bytes; troupe_value_t or not. */
static int queue_put(troupe_queue_t *q, const void *data, size_t size, double timeout)
{
    request_t r = { .kind = QUEUE_PUT, .data = data, .size = size };
    if (timeout_to_ms(timeout, &r.timeout_ms) < 0)
        return -1;
    if (size > UINT32_MAX) {
        errno = EINVAL;
        return tr_error("queue: a value of %zu bytes is more than a queue takes", size);
    }
    return queue_call(q, &r);
}

int troupe_queue_put(troupe_queue_t *q, const troupe_value_t *v, double timeout)
{
    tr_error_clear();
    if (!q || !v) {
        errno = EINVAL;
        return tr_error("troupe_queue_put: NULL %s", q ? "value" : "queue");
    }
    size_t size;
    const void *data = troupe_value_data(v, &size);
    return queue_put(q, data, size, timeout);
}

int troupe_queue_put_int(troupe_queue_t *q, int64_t v)
{
    tr_error_clear();
    if (!q) {
        errno = EINVAL;
        return tr_error("troupe_queue_put_int: NULL queue");
    }
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    msgpack_pack_int64(&pk, v);
    return queue_put(q, h.buf, h.len, -1);
}

troupe_value_t *troupe_queue_get(troupe_queue_t *q, double timeout)
{
    tr_error_clear();
    if (!q) {
        errno = EINVAL;
        tr_error("troupe_queue_get: NULL queue");
        return NULL;
    }
    request_t r = { .kind = QUEUE_GET };
    if (timeout_to_ms(timeout, &r.timeout_ms) < 0 || queue_call(q, &r) < 0)
        return NULL;
    return r.value;
}

/*  The broker's counts: 0, or -1 (error set). */
static int queue_count(troupe_queue_t *q, const char *fn, uint64_t count[3])
{
    tr_error_clear();
    if (!q) {
        errno = EINVAL;
        return tr_error("%s: NULL queue", fn);
    }
    request_t r = { .kind = QUEUE_SIZE };
    if (queue_call(q, &r) < 0)
        return -1;
    memcpy(count, r.count, sizeof r.count);
    return 0;
}

long troupe_queue_qsize(troupe_queue_t *q)
{
    uint64_t c[3] = { 0 };
    return queue_count(q, "troupe_queue_qsize", c) < 0 ? -1 : (long)c[0];
}

int troupe_queue_empty(troupe_queue_t *q)
{
    uint64_t c[3] = { 0 };
    return queue_count(q, "troupe_queue_empty", c) < 0 ? -1 : c[0] == 0;
}

int troupe_queue_full(troupe_queue_t *q)
{
    uint64_t c[3] = { 0 };
    return queue_count(q, "troupe_queue_full", c) < 0 ? -1 : c[1] && c[0] >= c[1];
}

int troupe_queue_task_done(troupe_queue_t *q)
{
    tr_error_clear();
    if (!q) {
        errno = EINVAL;
        return tr_error("troupe_queue_task_done: NULL queue");
    }
    request_t r = { .kind = QUEUE_DONE };
    return queue_call(q, &r);
}

int troupe_queue_join(troupe_queue_t *q, double timeout)
{
    tr_error_clear();
    if (!q) {
        errno = EINVAL;
        return tr_error("troupe_queue_join: NULL queue");
    }
    request_t r = { .kind = QUEUE_JOIN };
    if (timeout_to_ms(timeout, &r.timeout_ms) < 0)
        return -1;
    return queue_call(q, &r);
}

uint64_t queue_dropped(const troupe_queue_t *q)
{
    return q && q->broker ? queue_broker_dropped(q->broker) : 0;
}

/*  An opened handle closes its connections; the host's then ends the
    queue. */
void troupe_queue_destroy(troupe_queue_t **q_p)
{
    if (!q_p || !*q_p)
        return;
    troupe_queue_t *q = *q_p;
    *q_p = NULL;
    while (q->idle) {
        conn_t *c = q->idle;
        q->idle = c->next;
        conn_destroy(&c);
    }
    if (q->ctx)
        while (zmq_ctx_term(q->ctx) < 0 && errno == EINTR)
            ;
    queue_broker_destroy(&q->broker);
    free(q->address);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

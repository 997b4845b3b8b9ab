/*  queue_broker.c: the thread that hosts a troupe_queue: a ROUTER bound at
    ipc://DIR/queue in a private directory, and the values, as their packed
    bytes, in one FIFO with the puts and gets that wait on it.

    It decides every outcome: a put or a get carries its timeout and gets
    exactly one answer, done or TIMEOUT (queue.c's banner says why). It
    trusts nothing it receives: a frame that is not exactly a request is
    dropped and counted, never answered, and no send of its ever blocks.
*/
#include "embed/queue_broker.h"
#include "embed/queue_wire.h"
#include "base/rundir.h"

#include "base/clock.h"
#include "wire/envelope.h"
#include "base/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/*  Messages the broker reads in a row before it looks at its stop signal
    and its deadlines again, so that a flood cannot starve them. */
#define QUEUE_BATCH 256
/*  How long the closing broker lets its CLOSED notices drain. */
#define QUEUE_CLOSE_LINGER_MS 100
/*  Longest routing id zmq hands a ROUTER. */
#define QUEUE_IDENT_MAX 255
#define FOREVER UINT64_MAX

/*  A put waiting for room or a get waiting for a value. */
typedef struct waiter {
    struct waiter *next;
    uint64_t id;
    uint64_t deadline; /* now_ms () clock; FOREVER */
    char *data;        /* a put's packed value, owned; NULL for a get */
    size_t size;
    size_t ident_len;
    unsigned char ident[]; /* the client's routing id */
} waiter_t;

/*  Waiters in arrival order; tail points at the last next field. */
typedef struct {
    waiter_t *head, **tail;
} wlist_t;

typedef struct {
    char *data;
    size_t size;
} item_t;

struct queue_broker {
    pthread_t thread;
    bool running;
    void *ctx; /* its own: the host's client is a client like any other */
    char *address;
    void *router;
    void *stop_rx, *stop_tx; /* an inproc pair: the host says stop */
    size_t maxsize;          /* 0: unbounded */
    item_t *items;           /* a ring: count values from head */
    size_t head, count, cap;
    /*  Puts wait only while the queue is full, gets only while it is
        empty, so at most one of the two lists is ever non-empty. */
    wlist_t puts, gets;
    /*  Values put and not yet declared done (task_done), Python's
        JoinableQueue's unfinished tasks, and the joins waiting for none. */
    uint64_t undone;
    wlist_t joins;
    msgpack_zone zone; /* decoded requests, cleared for each */
    uint64_t dropped;  /* malformed frames; read by other threads */
    char *dir, *path;
};


static void wlist_init(wlist_t *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void wlist_push(wlist_t *l, waiter_t *w)
{
    w->next = NULL;
    *l->tail = w;
    l->tail = &w->next;
}

static waiter_t *wlist_pop(wlist_t *l)
{
    waiter_t *w = l->head;
    if (w) {
        l->head = w->next;
        if (!l->head)
            l->tail = &l->head;
    }
    return w;
}

static void waiter_free(waiter_t *w)
{
    free(w->data);
    free(w);
}

static void dropped(queue_broker_t *b)
{
    __atomic_add_fetch(&b->dropped, 1, __ATOMIC_RELAXED);
}

/*  Sends [kind, id] or, with a value, [kind, id, bin]. Never blocks: a
    client that is gone (ROUTER_MANDATORY makes that an error) or not
    reading makes it fail, and the caller keeps what it was sending. */
static int broker_reply(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                        unsigned kind, uint64_t id, const void *value, size_t size)
{
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    msgpack_pack_array(&pk, value ? 3 : 2);
    msgpack_pack_uint8(&pk, (uint8_t)kind);
    msgpack_pack_uint64(&pk, id);
    if (value)
        msgpack_pack_bin(&pk, size);
    if (zmq_send(b->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return queue_frame_send(b->router, &h, value, value ? size : 0, ZMQ_DONTWAIT);
}

/*  [kind, id, why]: FAILED, the broker could not do what was asked, or
    REFUSED, it was not to be done. */
static void broker_say(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                       unsigned kind, uint64_t id, const char *why)
{
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, (uint8_t)kind);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str_with_body(&pk, why, strlen(why));
    /* zmq_send answers the bytes sent: the routing id's length, not 0 */
    if (zmq_send(b->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        queue_frame_send(b->router, &h, NULL, 0, ZMQ_DONTWAIT);
}

static void broker_fail(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                        uint64_t id, const char *why)
{
    broker_say(b, ident, ident_len, QUEUE_FAILED, id, why);
}

/*  Appends a value the queue now owns. */
static int items_push(queue_broker_t *b, char *data, size_t size)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        item_t *items = malloc(cap * sizeof *items);
        if (!items)
            return -1;
        for (size_t i = 0; i < b->count; i++)
            items[i] = b->items[(b->head + i) % b->cap];
        free(b->items);
        b->items = items;
        b->cap = cap;
        b->head = 0;
    }
    b->items[(b->head + b->count) % b->cap] = (item_t){ data, size };
    b->count++;
    return 0;
}

static waiter_t *waiter_new(const unsigned char *ident, size_t ident_len, uint64_t id,
                            uint64_t deadline)
{
    waiter_t *w = malloc(sizeof *w + ident_len);
    if (!w)
        return NULL;
    *w = (waiter_t){ .id = id, .deadline = deadline, .ident_len = ident_len };
    memcpy(w->ident, ident, ident_len);
    return w;
}

/*  Hands a value to the longest-waiting getter still there. */
static bool broker_deliver(queue_broker_t *b, const char *data, size_t size)
{
    waiter_t *w;
    while ((w = wlist_pop(&b->gets))) {
        int rc = broker_reply(b, w->ident, w->ident_len, QUEUE_VALUE, w->id, data, size);
        waiter_free(w);
        if (rc == 0)
            return true;
    }
    return false;
}

static void broker_put(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                       uint64_t id, uint64_t deadline, const char *value, size_t size)
{
    if (broker_deliver(b, value, size)) {
        b->undone++;
        broker_reply(b, ident, ident_len, QUEUE_OK, id, NULL, 0);
        return;
    }
    bool room = b->maxsize == 0 || b->count < b->maxsize;
    if (!room && deadline <= now_ms()) {
        broker_reply(b, ident, ident_len, QUEUE_TIMEOUT, id, NULL, 0);
        return;
    }
    char *copy = malloc(size);
    if (!copy) {
        broker_fail(b, ident, ident_len, id, "the queue is out of memory");
        return;
    }
    memcpy(copy, value, size);
    if (room) {
        if (items_push(b, copy, size) < 0) {
            free(copy);
            broker_fail(b, ident, ident_len, id, "the queue is out of memory");
            return;
        }
        b->undone++;
        broker_reply(b, ident, ident_len, QUEUE_OK, id, NULL, 0);
        return;
    }
    waiter_t *w = waiter_new(ident, ident_len, id, deadline);
    if (!w) {
        free(copy);
        broker_fail(b, ident, ident_len, id, "the queue is out of memory");
        return;
    }
    w->data = copy;
    w->size = size;
    wlist_push(&b->puts, w);
}

static void broker_get(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                       uint64_t id, uint64_t deadline)
{
    if (b->count) {
        item_t *it = &b->items[b->head];
        /* a getter that is gone leaves the value where it was */
        if (broker_reply(b, ident, ident_len, QUEUE_VALUE, id, it->data, it->size) < 0)
            return;
        free(it->data);
        b->head = (b->head + 1) % b->cap;
        b->count--;
        /* there is room now: the oldest waiting put lands (count < cap,
           so the push cannot need memory) */
        waiter_t *w = wlist_pop(&b->puts);
        if (w) {
            items_push(b, w->data, w->size);
            b->undone++;
            w->data = NULL;
            broker_reply(b, w->ident, w->ident_len, QUEUE_OK, w->id, NULL, 0);
            waiter_free(w);
        }
        return;
    }
    if (deadline <= now_ms()) {
        broker_reply(b, ident, ident_len, QUEUE_TIMEOUT, id, NULL, 0);
        return;
    }
    waiter_t *w = waiter_new(ident, ident_len, id, deadline);
    if (!w) {
        broker_fail(b, ident, ident_len, id, "the queue is out of memory");
        return;
    }
    wlist_push(&b->gets, w);
}

/*  [COUNT, id, held, maxsize, undone]: qsize, empty and full. */
static void broker_count(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                         uint64_t id)
{
    queue_head_t h;
    msgpack_packer pk;
    queue_head_init(&h, &pk);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint8(&pk, QUEUE_COUNT);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_uint64(&pk, b->count);
    msgpack_pack_uint64(&pk, b->maxsize);
    msgpack_pack_uint64(&pk, b->undone);
    if (zmq_send(b->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        queue_frame_send(b->router, &h, NULL, 0, ZMQ_DONTWAIT);
}

/*  task_done: one value put is done with; the last one frees every join. */
static void broker_done(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                        uint64_t id)
{
    if (!b->undone) {
        broker_say(b, ident, ident_len, QUEUE_REFUSED, id,
                   "task_done called more times than values were put");
        return;
    }
    b->undone--;
    broker_reply(b, ident, ident_len, QUEUE_OK, id, NULL, 0);
    waiter_t *w;
    while (!b->undone && (w = wlist_pop(&b->joins))) {
        broker_reply(b, w->ident, w->ident_len, QUEUE_OK, w->id, NULL, 0);
        waiter_free(w);
    }
}

/*  join: answered at once when nothing put is undone, else when the last
    of it is, or at its deadline. */
static void broker_join(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                        uint64_t id, uint64_t deadline)
{
    if (!b->undone) {
        broker_reply(b, ident, ident_len, QUEUE_OK, id, NULL, 0);
        return;
    }
    if (deadline <= now_ms()) {
        broker_reply(b, ident, ident_len, QUEUE_TIMEOUT, id, NULL, 0);
        return;
    }
    waiter_t *w = waiter_new(ident, ident_len, id, deadline);
    if (!w) {
        broker_fail(b, ident, ident_len, id, "the queue is out of memory");
        return;
    }
    wlist_push(&b->joins, w);
}

/*  A request's timeout in milliseconds, as a deadline; negative: forever. */
static bool read_deadline(const msgpack_object *o, uint64_t *deadline)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *deadline = FOREVER;
        return true;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    uint64_t now = now_ms();
    *deadline = o->via.u64 > FOREVER / 2 - now ? FOREVER : now + o->via.u64;
    return true;
}

/*  One request. Anything that is not exactly a request is dropped and
    counted: the broker answers only what it understood. */
static void broker_handle(queue_broker_t *b, const unsigned char *ident, size_t ident_len,
                          const void *body, size_t size)
{
    msgpack_object root;
    uint64_t kind, id, deadline;
    if (!queue_message_view(body, size, &b->zone, &root, &kind, &id)) {
        dropped(b);
        return;
    }
    const msgpack_object *f = root.via.array.ptr;
    uint32_t n = root.via.array.size;
    if (kind == QUEUE_PUT && n == 4 && read_deadline(&f[2], &deadline)
        && f[3].type == MSGPACK_OBJECT_BIN && f[3].via.bin.size > 0) {
        /* the value must be one a client can decode: checked once, here */
        msgpack_object value;
        if (env_decode(f[3].via.bin.ptr, f[3].via.bin.size, &b->zone, &value) != ENV_OK) {
            dropped(b);
            return;
        }
        broker_put(b, ident, ident_len, id, deadline, f[3].via.bin.ptr, f[3].via.bin.size);
    }
    else if (kind == QUEUE_GET && n == 3 && read_deadline(&f[2], &deadline))
        broker_get(b, ident, ident_len, id, deadline);
    else if (kind == QUEUE_PING && n == 2)
        broker_reply(b, ident, ident_len, QUEUE_PING, id, NULL, 0);
    else if (kind == QUEUE_SIZE && n == 2)
        broker_count(b, ident, ident_len, id);
    else if (kind == QUEUE_DONE && n == 2)
        broker_done(b, ident, ident_len, id);
    else if (kind == QUEUE_JOIN && n == 3 && read_deadline(&f[2], &deadline))
        broker_join(b, ident, ident_len, id, deadline);
    else
        dropped(b);
}

/*  Reads what has come, up to QUEUE_BATCH messages. A ROUTER hands each
    message as [routing id, body]; any other shape is dropped whole. */
static void broker_read(queue_broker_t *b)
{
    for (int i = 0; i < QUEUE_BATCH; i++) {
        zmq_msg_t ident, body;
        zmq_msg_init(&ident);
        if (zmq_msg_recv(&ident, b->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ident);
            return;
        }
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&ident) && zmq_msg_recv(&body, b->router, ZMQ_DONTWAIT) >= 0;
        int more = ok && zmq_msg_more(&body);
        ok = ok && !more && zmq_msg_size(&ident) <= QUEUE_IDENT_MAX;
        while (more) { /* the rest of a message with too many parts */
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            more = zmq_msg_recv(&rest, b->router, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        if (ok)
            broker_handle(b, zmq_msg_data(&ident), zmq_msg_size(&ident),
                          zmq_msg_data(&body), zmq_msg_size(&body));
        else
            dropped(b);
        zmq_msg_close(&body);
        zmq_msg_close(&ident);
    }
}

/*  Answers TIMEOUT to every waiter whose deadline has passed; a waiting
    put's value is dropped with it: it never landed. */
static void broker_expire(queue_broker_t *b, wlist_t *l, uint64_t now)
{
    waiter_t **pp = &l->head;
    while (*pp) {
        waiter_t *w = *pp;
        if (w->deadline <= now) {
            *pp = w->next;
            broker_reply(b, w->ident, w->ident_len, QUEUE_TIMEOUT, w->id, NULL, 0);
            waiter_free(w);
        }
        else
            pp = &w->next;
    }
    l->tail = pp;
}

static uint64_t broker_next_deadline(const queue_broker_t *b)
{
    uint64_t next = FOREVER;
    for (const waiter_t *w = b->puts.head; w; w = w->next)
        next = w->deadline < next ? w->deadline : next;
    for (const waiter_t *w = b->gets.head; w; w = w->next)
        next = w->deadline < next ? w->deadline : next;
    for (const waiter_t *w = b->joins.head; w; w = w->next)
        next = w->deadline < next ? w->deadline : next;
    return next;
}

/*  Frees what the queue held; waiters hear CLOSED, so that a process
    waiting on a queue whose host has ended it fails at once. */
static void broker_close(queue_broker_t *b)
{
    wlist_t *lists[] = { &b->puts, &b->gets, &b->joins };
    for (int i = 0; i < 3; i++) {
        waiter_t *w;
        while ((w = wlist_pop(lists[i]))) {
            broker_reply(b, w->ident, w->ident_len, QUEUE_CLOSED, w->id, NULL, 0);
            waiter_free(w);
        }
    }
    for (size_t i = 0; i < b->count; i++)
        free(b->items[(b->head + i) % b->cap].data);
    free(b->items);
    b->items = NULL;
    b->count = 0;
    if (b->router) {
        int linger = QUEUE_CLOSE_LINGER_MS;
        zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(b->router);
        b->router = NULL;
    }
    if (b->stop_rx) {
        zmq_close(b->stop_rx);
        b->stop_rx = NULL;
    }
}

static void *broker_main(void *arg)
{
    queue_broker_t *b = arg;
    for (;;) {
        long timeout = -1;
        uint64_t next = broker_next_deadline(b), now = now_ms();
        if (next != FOREVER) /* an hour at most: the loop comes round again */
            timeout = next <= now ? 0 : next - now > 3600000 ? 3600000 : (long)(next - now);
        zmq_pollitem_t items[2] = { { b->router, 0, ZMQ_POLLIN, 0 },
                                    { b->stop_rx, 0, ZMQ_POLLIN, 0 } };
        int rc = zmq_poll(items, 2, timeout);
        if (rc < 0 && errno != EINTR)
            break; /* the context is gone: nothing more can be served */
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            break;
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            broker_read(b);
        now = now_ms();
        broker_expire(b, &b->puts, now);
        broker_expire(b, &b->gets, now);
        broker_expire(b, &b->joins, now);
    }
    broker_close(b);
    return NULL;
}

/*  DIR: rundir.c's, troupe-queue-PID-XXXXXX; a queue whose program was
    killed leaves it, and the next queue made removes it. */
static int broker_make_dir(queue_broker_t *b)
{
    char dir[512];
    if (rundir_make("troupe-queue", dir, sizeof dir) < 0) {
        int err = errno;
        tr_error("cannot make a directory for the queue in %s: %s", dir, strerror(err));
        errno = err;
        return -1;
    }
    size_t n = strlen(dir) + 1;
    b->dir = strdup(dir);
    b->path = malloc(n + sizeof "/queue");
    if (!b->dir || !b->path) {
        rmdir(dir);
        free(b->dir);
        b->dir = NULL;
        errno = ENOMEM;
        return tr_error("out of memory");
    }
    snprintf(b->path, n + sizeof "/queue", "%s/queue", b->dir);
    return 0;
}

/*  The sockets are made and bound here, in the caller's thread, so that a
    failure is reported by troupe_queue_new and the address works as soon
    as it returns. */
static int broker_start(queue_broker_t *b)
{
    if (broker_make_dir(b) < 0)
        return -1;
    size_t n = strlen(b->path) + sizeof "ipc://";
    b->address = malloc(n);
    b->ctx = zmq_ctx_new();
    if (!b->address || !b->ctx) {
        errno = ENOMEM;
        return tr_error("out of memory");
    }
    snprintf(b->address, n, "ipc://%s", b->path);
    int linger = 0, mandatory = 1;
    char stop_ep[64];
    snprintf(stop_ep, sizeof stop_ep, "inproc://troupe-queue-%p", (void *)b);
    b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
    b->stop_tx = zmq_socket(b->ctx, ZMQ_PAIR);
    b->stop_rx = zmq_socket(b->ctx, ZMQ_PAIR);
    /* mandatory: a reply to a client that is gone fails, so that the
       broker keeps the value instead of losing it */
    if (!b->router || !b->stop_tx || !b->stop_rx
        || zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof linger) < 0
        || zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) < 0
        || zmq_setsockopt(b->stop_tx, ZMQ_LINGER, &linger, sizeof linger) < 0
        || zmq_setsockopt(b->stop_rx, ZMQ_LINGER, &linger, sizeof linger) < 0
        || zmq_bind(b->router, b->address) < 0 || zmq_bind(b->stop_tx, stop_ep) < 0
        || zmq_connect(b->stop_rx, stop_ep) < 0) {
        int err = errno;
        tr_error("queue at %s: %s", b->address, zmq_strerror(err));
        errno = err;
        return -1;
    }
    /* signals are the program's: the broker thread takes none */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&b->thread, NULL, broker_main, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return tr_error("queue: cannot start its thread: %s", strerror(rc));
    }
    b->running = true;
    return 0;
}

queue_broker_t *queue_broker_start(size_t maxsize)
{
    queue_broker_t *b = calloc(1, sizeof *b);
    if (!b || !msgpack_zone_init(&b->zone, 1024)) {
        free(b);
        errno = ENOMEM;
        tr_error("out of memory");
        return NULL;
    }
    b->maxsize = maxsize;
    wlist_init(&b->puts);
    wlist_init(&b->gets);
    wlist_init(&b->joins);
    if (broker_start(b) < 0) {
        int err = errno;
        queue_broker_destroy(&b);
        errno = err;
        return NULL;
    }
    return b;
}

const char *queue_broker_address(const queue_broker_t *b)
{
    return b->address;
}

uint64_t queue_broker_dropped(const queue_broker_t *b)
{
    return __atomic_load_n(&b->dropped, __ATOMIC_RELAXED);
}

/*  Stop the thread (it closes its own sockets), then the context, then the
    files: zmq unlinks the socket when its listener closes, which the
    context's end waits for, and the unlink here covers a broker that never
    started. */
void queue_broker_destroy(queue_broker_t **b_p)
{
    if (!b_p || !*b_p)
        return;
    queue_broker_t *b = *b_p;
    *b_p = NULL;
    if (b->running) {
        zmq_send(b->stop_tx, "", 0, 0);
        pthread_join(b->thread, NULL);
    }
    else
        broker_close(b);
    if (b->stop_tx)
        zmq_close(b->stop_tx);
    if (b->ctx)
        while (zmq_ctx_term(b->ctx) < 0 && errno == EINTR)
            ;
    if (b->dir) {
        unlink(b->path);
        rmdir(b->dir);
    }
    msgpack_zone_destroy(&b->zone);
    free(b->address);
    free(b->dir);
    free(b->path);
    free(b);
}

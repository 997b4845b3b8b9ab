/*  chan_in.c: the consumer's end of a data channel: hello, credit and
    acknowledgements to one producer instance (chan.h).
*/
#include "wire/chan.h"

#include "wire/envelope.h"
#include "wire/packbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  Room for this many acknowledgements is made with the input, so that
    acknowledging allocates nothing unless more than that pile up between
    two flushes (the loop flushes every turn). */
#define ACKS_FIRST 64
/*  One ACK carries at most this many ids, so that it fits a packbuf_t
    (9 bytes an id at most): a longer queue goes in several. */
#define ACK_IDS_MAX 96

static int say_hello(chan_in_t *self)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    env_pack_hello(&pk, self->consumer, self->credit, self->topic);
    /* the DEALER queues this until the connection is up */
    int rc = zmq_send(self->sock, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc < 0 ? -1 : 0;
}

chan_in_t *chan_in_new(void *sock, const char *endpoint, const char *consumer,
                       uint32_t credit, const char *topic)
{
    chan_in_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->credit = credit;
    self->branch = -1;
    self->endpoint = strdup(endpoint);
    self->consumer = strdup(consumer);
    self->topic = strdup(topic ? topic : "");
    self->acks = malloc(ACKS_FIRST * sizeof *self->acks);
    self->ackcap = self->acks ? ACKS_FIRST : 0;
    if (!self->endpoint || !self->consumer || !self->topic || !self->acks
        || say_hello(self) < 0) {
        self->sock = NULL; /* the caller still owns it */
        chan_in_destroy(&self);
        return NULL;
    }
    return self;
}

int chan_in_rehello(chan_in_t *self, const char *endpoint)
{
    if (endpoint && *endpoint && strcmp(endpoint, self->endpoint)) {
        char *moved = strdup(endpoint);
        if (!moved)
            return -1;
        zmq_disconnect(self->sock, self->endpoint);
        if (zmq_connect(self->sock, moved) != 0) {
            free(moved);
            return -1;
        }
        free(self->endpoint);
        self->endpoint = moved;
    }
    self->nacks = 0;
    self->credit_owed = 0;
    return say_hello(self);
}

void chan_in_destroy(chan_in_t **self_p)
{
    chan_in_t *self = *self_p;
    if (!self)
        return;
    if (self->sock)
        zmq_close(self->sock);
    free(self->acks);
    free(self->endpoint);
    free(self->producer);
    free(self->consumer);
    free(self->topic);
    free(self);
    *self_p = NULL;
}

int chan_in_ack(chan_in_t *self, uint64_t batch_id)
{
    if (self->nacks == self->ackcap) {
        size_t ncap = self->ackcap ? self->ackcap * 2 : ACKS_FIRST;
        uint64_t *n = realloc(self->acks, ncap * sizeof *n);
        if (n) {
            self->acks = n;
            self->ackcap = ncap;
        }
        /* no room, and none to be had: what is queued goes now, which
           needs no memory of ours */
        else if (chan_in_flush(self) < 0 || self->nacks == self->ackcap)
            return -1;
    }
    self->acks[self->nacks++] = batch_id;
    return 0;
}

int chan_in_bye(chan_in_t *self, int linger_ms)
{
    if (chan_in_flush(self) < 0)
        return -1;
    packbuf_t buf;
    packbuf_init(&buf);
    env_pack_bye(&buf.pk);
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    return zmq_send(self->sock, buf.data, buf.size, 0) < 0 ? -1 : 0;
}

int chan_in_flush(chan_in_t *self)
{
    size_t sent = 0;
    while (sent < self->nacks || self->credit_owed) {
        size_t n = self->nacks - sent < ACK_IDS_MAX ? self->nacks - sent : ACK_IDS_MAX;
        packbuf_t buf;
        packbuf_init(&buf);
        env_pack_ack(&buf.pk, self->credit_owed, self->acks + sent, n, self->cost_ns);
        if (buf.over || zmq_send(self->sock, buf.data, buf.size, ZMQ_DONTWAIT) < 0) {
            /* what went is gone from the queue; the rest waits */
            memmove(self->acks, self->acks + sent,
                    (self->nacks - sent) * sizeof *self->acks);
            self->nacks -= sent;
            return -1;
        }
        sent += n;
        self->credit_owed = 0; /* all of it went with the first */
    }
    self->nacks = 0;
    return 0;
}

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

/*  A fresh connection, under a routing id of its own, even to the same
    endpoint. On the old one, which the DEALER may not yet know is dead
    (its producer exited and its successor bound the same ipc path), the
    hello could be lost, and the new producer would send us nothing (seen
    under valgrind: a pool whose retired worker's successor kept its
    results); or it could get through on the DEALER's reconnection, and
    what the producer sent on it would be dropped with it below. A new
    routing id makes the producer take this hello as a new incarnation's
    and send again what it sent on the old connection. */
int chan_in_rehello(chan_in_t *self, const char *endpoint)
{
    char *to = strdup(endpoint && *endpoint ? endpoint : self->endpoint);
    char rid[CHAN_NAME_MAX];
    size_t len = sizeof rid - 16;
    if (!to || zmq_getsockopt(self->sock, ZMQ_ROUTING_ID, rid, &len) != 0) {
        free(to);
        return -1;
    }
    char *tilde = memchr(rid, '~', len);
    len = tilde ? (size_t)(tilde - rid) : len;
    len += (size_t)snprintf(rid + len, sizeof rid - len, "~%u", ++self->reconnects);
    zmq_disconnect(self->sock, self->endpoint);
    zmq_setsockopt(self->sock, ZMQ_ROUTING_ID, rid, len);
    if (zmq_connect(self->sock, to) != 0) {
        free(to);
        return -1;
    }
    free(self->endpoint);
    self->endpoint = to;
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
    if (self->bye)
        return 0;
    if (chan_in_flush(self) < 0)
        return -1;
    packbuf_t buf;
    packbuf_init(&buf);
    env_pack_bye(&buf.pk);
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    if (zmq_send(self->sock, buf.data, buf.size, 0) < 0)
        return -1;
    self->bye = CHAN_BYE_SAID;
    return 0;
}

bool chan_in_farewell(chan_in_t *self)
{
    /* the producer's answer is the BYE frame itself; anything else is a
       batch it sent before it read ours, gone to the others since */
    packbuf_t bye;
    packbuf_init(&bye);
    env_pack_bye(&bye.pk);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (self->bye == CHAN_BYE_SAID && zmq_msg_recv(&msg, self->sock, ZMQ_DONTWAIT) >= 0)
        if (!zmq_msg_more(&msg) && zmq_msg_size(&msg) == bye.size
            && !memcmp(zmq_msg_data(&msg), bye.data, bye.size))
            self->bye = CHAN_BYE_ANSWERED;
    zmq_msg_close(&msg);
    return self->bye == CHAN_BYE_ANSWERED;
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

/*  queue_wire.h: the inside of troupe_queue: its wire, shared by the
    clients (queue.c) and the broker thread that hosts a queue
    (queue_broker.c). */
#ifndef TR_QUEUE_WIRE_H
#define TR_QUEUE_WIRE_H

#include "troupe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Requests, client to broker (one msgpack array per frame; the id is the
    client's, echoed back; timeout_ms < 0 waits forever; bin holds exactly
    one packed value):
        [PUT, id, timeout_ms, bin]  [GET, id, timeout_ms]  [PING, id]
        [SIZE, id]  [DONE, id] (task_done)  [JOIN, id, timeout_ms]
    answers, broker to client:
        [OK, id]  [VALUE, id, bin]  [TIMEOUT, id]  [PING, id]
        [COUNT, id, values held, maxsize, values not yet done]
        [CLOSED, id] (the host ended the queue)  [FAILED, id, why] (out of
        memory)  [REFUSED, id, why] (a DONE with nothing to be done) */
enum {
    QUEUE_PUT = 1,
    QUEUE_OK = 1,
    QUEUE_GET = 2,
    QUEUE_VALUE = 2,
    QUEUE_TIMEOUT = 3,
    QUEUE_PING = 4,
    QUEUE_CLOSED = 5,
    QUEUE_FAILED = 6,
    QUEUE_SIZE = 7,
    QUEUE_COUNT = 7,
    QUEUE_DONE = 8,
    QUEUE_JOIN = 9,
    QUEUE_REFUSED = 10
};

/*  A message's fields before its value, packed on the stack: the value
    itself is copied once, straight into the outgoing zmq message. */
typedef struct {
    char buf[64];
    size_t len;
} queue_head_t;

/*  Empties h and points pk at it. */
void queue_head_init(queue_head_t *h, msgpack_packer *pk);
/*  Sends h's bytes then `size` bytes of data as one frame; 0 or -1. */
int queue_frame_send(void *sock, const queue_head_t *h, const void *data, size_t size,
                     int flags);
/*  Decodes a frame (into zone, cleared first) as [kind, id, ...]; false
    when it is not one. Strings and bins in *root point into data. */
bool queue_message_view(const void *data, size_t size, msgpack_zone *zone,
                        msgpack_object *root, uint64_t *kind, uint64_t *id);

#endif

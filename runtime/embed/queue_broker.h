/*  queue_broker.h: the thread that hosts a troupe_queue, and its count of
    refused frames, for the tests. */
#ifndef TR_QUEUE_BROKER_H
#define TR_QUEUE_BROKER_H

#include <stddef.h>
#include <stdint.h>

/*  The host's side: a private directory, a ROUTER bound in it in a context
    of its own, and the thread serving it. NULL (troupe_error set) when any
    of it fails. */
typedef struct queue_broker queue_broker_t;
queue_broker_t *queue_broker_start(size_t maxsize);
/*  "ipc://DIR/queue", owned by b. */
const char *queue_broker_address(const queue_broker_t *b);
/*  Frames dropped as malformed so far (from any thread). */
uint64_t queue_broker_dropped(const queue_broker_t *b);
/*  Stops the thread: waiting clients hear CLOSED, held values are dropped,
    the socket and the directory are removed. */
void queue_broker_destroy(queue_broker_t **b_p);

#endif

/*  queue.h: what queue.c offers besides troupe.h's troupe_queue_*, for the
    tests. */
#ifndef TR_QUEUE_H
#define TR_QUEUE_H

#include "troupe.h"

#include <stdint.h>

/*  The dropped count of q's broker (the host's handle); 0 for an opened
    handle. */
uint64_t queue_dropped(const troupe_queue_t *q);

#endif

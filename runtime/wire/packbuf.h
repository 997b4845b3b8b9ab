/*  packbuf.h: a msgpack packer that writes into a fixed buffer, usually on
    the stack. For the small messages sent on every batch or heartbeat
    (acknowledgements, counters, commits), which then allocate nothing and
    can still be sent when memory has run out.
*/
#ifndef TR_PACKBUF_H
#define TR_PACKBUF_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define PACKBUF_MAX 1024

typedef struct {
    char data[PACKBUF_MAX];
    size_t size;
    bool over; /* something did not fit: the message is not whole */
    msgpack_packer pk;
} packbuf_t;

static inline int packbuf_write(void *arg, const char *data, size_t len)
{
    packbuf_t *self = arg;
    if (len > sizeof self->data - self->size) {
        self->over = true;
        return -1;
    }
    memcpy(self->data + self->size, data, len);
    self->size += len;
    return 0;
}

/*  Empties the buffer; self->pk then packs into it. */
static inline void packbuf_init(packbuf_t *self)
{
    self->size = 0;
    self->over = false;
    msgpack_packer_init(&self->pk, self, packbuf_write);
}

#endif

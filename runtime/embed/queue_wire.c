/*  queue_wire.c: the frames of troupe_queue (queue_wire.h says what they
    hold), for its clients (queue.c) and its broker (queue_broker.c). */
#include "embed/queue_wire.h"

#include "wire/envelope.h"

#include <string.h>
#include <zmq.h>

static int head_write(void *arg, const char *data, size_t len)
{
    queue_head_t *h = arg;
    if (len > sizeof h->buf - h->len)
        return -1;
    memcpy(h->buf + h->len, data, len);
    h->len += len;
    return 0;
}

void queue_head_init(queue_head_t *h, msgpack_packer *pk)
{
    h->len = 0;
    msgpack_packer_init(pk, h, head_write);
}

int queue_frame_send(void *sock, const queue_head_t *h, const void *data, size_t size,
                     int flags)
{
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, h->len + size) < 0)
        return -1;
    memcpy(zmq_msg_data(&m), h->buf, h->len);
    if (size)
        memcpy((char *)zmq_msg_data(&m) + h->len, data, size);
    if (zmq_msg_send(&m, sock, flags) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    return 0;
}

static bool as_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

bool queue_message_view(const void *data, size_t size, msgpack_zone *zone,
                        msgpack_object *root, uint64_t *kind, uint64_t *id)
{
    msgpack_zone_clear(zone);
    return env_decode(data, size, zone, root) == ENV_OK
           && root->type == MSGPACK_OBJECT_ARRAY && root->via.array.size >= 2
           && as_u64(&root->via.array.ptr[0], kind)
           && as_u64(&root->via.array.ptr[1], id);
}


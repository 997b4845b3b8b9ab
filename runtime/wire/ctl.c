/*  ctl.c: small helpers for the control channel's msgpack messages. */
#include "wire/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int ctl_send(void *sock, const char *rid, size_t rid_len,
             const msgpack_sbuffer *sb)
{
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(sock, sb->data, sb->size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

void ctl_pack_kind_text(msgpack_sbuffer *sb, int kind, const char *text)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, text ? 2 : 1);
    msgpack_pack_int(&pk, kind);
    if (text)
        msgpack_pack_str_with_body(&pk, text, strlen(text));
}

static int send_kind_text(void *sock, const char *rid, int kind, const char *text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ctl_pack_kind_text(&sb, kind, text);
    int rc = ctl_send(sock, rid, rid ? strlen(rid) : 0, &sb);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int ctl_recv_routed(void *sock, void *id, size_t idsize, zmq_msg_t *body)
{
    zmq_msg_t idmsg;
    zmq_msg_init(&idmsg);
    if (zmq_msg_recv(&idmsg, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&idmsg);
        return -1;
    }
    size_t idlen = zmq_msg_size(&idmsg);
    bool ok = zmq_msg_more(&idmsg) && idlen <= idsize;
    if (ok)
        memcpy(id, zmq_msg_data(&idmsg), idlen);
    bool more = zmq_msg_more(&idmsg);
    zmq_msg_close(&idmsg);
    int frames = 0;
    while (more) { /* the body, and whatever follows it: read it all */
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, 0) < 0) {
            zmq_msg_close(&part);
            return -2;
        }
        more = zmq_msg_more(&part);
        if (frames++ == 0)
            zmq_msg_move(body, &part);
        zmq_msg_close(&part);
    }
    return ok && frames == 1 ? (int)idlen : -2;
}
int ctl_send_kind(void *sock, const char *rid, int kind)
{
    return send_kind_text(sock, rid, kind, NULL);
}

int ctl_send_text(void *sock, const char *rid, int kind, const char *text)
{
    return send_kind_text(sock, rid, kind, text);
}

const msgpack_object *ctl_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
            && memcmp(k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

uint64_t ctl_map_u64(const msgpack_object *map, const char *key, uint64_t fallback)
{
    const msgpack_object *v = ctl_map_get(map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : fallback;
}

bool ctl_map_bool(const msgpack_object *map, const char *key, bool fallback)
{
    const msgpack_object *v = ctl_map_get(map, key);
    return v && v->type == MSGPACK_OBJECT_BOOLEAN ? v->via.boolean : fallback;
}

char *ctl_map_str(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = ctl_map_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return NULL;
    char *s = malloc(v->via.str.size + 1);
    if (s) {
        memcpy(s, v->via.str.ptr, v->via.str.size);
        s[v->via.str.size] = '\0';
    }
    return s;
}

void ctl_pack_str(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

void ctl_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    ctl_pack_str(pk, key);
    msgpack_pack_str_with_body(pk, value, strlen(value));
}

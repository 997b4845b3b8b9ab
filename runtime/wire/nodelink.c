/*  nodelink.c: packing the head-node link's messages (nodelink.h). */
#include "wire/nodelink.h"

#include "wire/ctl.h"

#include <string.h>

static int send_packed(void *sock, const void *to, size_t tolen, msgpack_sbuffer *sb)
{
    int rc = ctl_send(sock, to, tolen, sb);
    msgpack_sbuffer_destroy(sb);
    return rc;
}

int nodelink_send_kind(void *sock, const void *to, size_t tolen, int kind)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, kind);
    return send_packed(sock, to, tolen, &sb);
}

int nodelink_send_strs(void *sock, const void *to, size_t tolen, int kind,
                       const char *a, const char *b)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, kind);
    ctl_pack_str(&pk, a);
    ctl_pack_str(&pk, b);
    return send_packed(sock, to, tolen, &sb);
}

int nodelink_send_str_int(void *sock, const void *to, size_t tolen, int kind,
                          const char *a, long long n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, kind);
    ctl_pack_str(&pk, a);
    msgpack_pack_long_long(&pk, n);
    return send_packed(sock, to, tolen, &sb);
}

int nodelink_send_relay(void *sock, const void *to, size_t tolen, const char *rid,
                        size_t ridlen, const void *body, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, NODE_RELAY);
    msgpack_pack_str_with_body(&pk, rid, ridlen);
    msgpack_pack_bin_with_body(&pk, body, len);
    return send_packed(sock, to, tolen, &sb);
}

int nodelink_send_bin(void *sock, const void *to, size_t tolen, int kind,
                      const void *data, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, kind);
    msgpack_pack_bin_with_body(&pk, data, len);
    return send_packed(sock, to, tolen, &sb);
}

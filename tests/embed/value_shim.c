/*  value_shim.c: TEMPORARY stand-in for runtime/value.c, which is being
    written on another branch: just the four values calls test_process
    needs. Compiled into that test only; it goes when value.c lands (the
    merge removes it and the test's meson block stops naming it). */
#include "troupe.h"

#include <stdlib.h>
#include <string.h>

/*  The test is built with -fvisibility=hidden; libtroupe must see these. */
#define SHIM_API __attribute__((visibility("default")))

struct troupe_value {
    msgpack_sbuffer buf;
};

static troupe_value_t *shim_new(msgpack_packer *pk, troupe_value_t *v)
{
    msgpack_sbuffer_init(&v->buf);
    msgpack_packer_init(pk, &v->buf, msgpack_sbuffer_write);
    return v;
}

SHIM_API troupe_value_t *troupe_value_int(int64_t n)
{
    troupe_value_t *v = malloc(sizeof *v);
    msgpack_packer pk;
    if (!v)
        return NULL;
    shim_new(&pk, v);
    if (msgpack_pack_int64(&pk, n) != 0) {
        troupe_value_destroy(&v);
        return NULL;
    }
    return v;
}

SHIM_API troupe_value_t *troupe_value_ints(const int64_t *a, size_t n)
{
    troupe_value_t *v = malloc(sizeof *v);
    msgpack_packer pk;
    if (!v)
        return NULL;
    shim_new(&pk, v);
    int rc = msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = msgpack_pack_int64(&pk, a[i]);
    if (rc != 0) {
        troupe_value_destroy(&v);
        return NULL;
    }
    return v;
}

SHIM_API const void *troupe_value_data(const troupe_value_t *v, size_t *size)
{
    *size = v->buf.size;
    return v->buf.data;
}

SHIM_API void troupe_value_destroy(troupe_value_t **v_p)
{
    if (!v_p || !*v_p)
        return;
    msgpack_sbuffer_destroy(&(*v_p)->buf);
    free(*v_p);
    *v_p = NULL;
}

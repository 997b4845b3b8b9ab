/*  value.c: troupe_value_t, an owned msgpack value for the embedding API.

    A value holds its packed bytes and a msgpack_object view of them, decoded
    once when the value is made: it can be sent as it is and read as often
    as wanted without decoding again. Every constructor ends in the same
    place (value_decode), so a value is always exactly one valid msgpack value.
*/
#include "troupe.h"

#include "wire/envelope.h"
#include "base/error.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*  A value is its view (root) and its packed bytes; strings in the view
    point into the bytes, so they cost nothing more. Three kinds:
    - a slot: a scalar or a string of up to SLOT_BYTES packed bytes (an
      integer of 32 bits, nil, a bool, a string of up to 5 bytes): 32
      bytes from a slab of such slots, no malloc header;
    - on the heap: one allocation holds the struct and the bytes;
    - zoned: on the heap, and for an array or a map the zone that holds
      the view's arrays and maps follows the bytes (aligned).
    Only arrays and maps need a zone: an integer costs a 32-byte slot
    where it cost 160 bytes in three blocks (issue 17). */
enum { KIND_HEAP, KIND_ZONED, KIND_SLOT };

struct troupe_value {
    msgpack_object root;
    uint8_t kind;
    uint8_t head[4]; /* heap: the size (native order); a slot: its size, then its bytes */
    char data[];     /* heap: the bytes */
};

#define VALUE_HEAD offsetof(struct troupe_value, data)
#define SLOT_SIZE 32
#define SLOT_BYTES (SLOT_SIZE - offsetof(struct troupe_value, head) - 1)
_Static_assert(sizeof(struct troupe_value) <= SLOT_SIZE, "a value's head fits a slot");

static size_t vsize(const troupe_value_t *v)
{
    if (v->kind == KIND_SLOT)
        return v->head[0];
    uint32_t size;
    memcpy(&size, v->head, sizeof size);
    return size;
}

static char *vdata(troupe_value_t *v)
{
    return v->kind == KIND_SLOT ? (char *)v->head + 1 : v->data;
}

/* ---- the slab of small values ----------------------------------------------- */

/*  Slots come from chunks of SLAB_SLOTS, kept for the program's life (the
    first slot of each links the chunks, so that they stay reachable);
    a freed slot goes on the free list. One mutex: values are made and
    freed by any thread. */
#define SLAB_SLOTS 2048

typedef union slot {
    union slot *next;
    char bytes[SLOT_SIZE];
} slot_t;

static struct {
    pthread_mutex_t mu;
    slot_t *free, *chunks;
} slab = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL };

static troupe_value_t *slot_new(void)
{
    pthread_mutex_lock(&slab.mu);
    if (!slab.free) {
        slot_t *chunk = malloc((SLAB_SLOTS + 1) * sizeof *chunk);
        if (chunk) {
            chunk[0].next = slab.chunks;
            slab.chunks = chunk;
            for (int i = SLAB_SLOTS; i >= 1; i--) {
                chunk[i].next = slab.free;
                slab.free = &chunk[i];
            }
        }
    }
    slot_t *s = slab.free;
    if (s)
        slab.free = s->next;
    pthread_mutex_unlock(&slab.mu);
    return (troupe_value_t *)(void *)s;
}

/*  Gives v's memory back (not its zone's). */
static void value_release(troupe_value_t *v)
{
    if (v->kind != KIND_SLOT) {
        free(v);
        return;
    }
    slot_t *s = (slot_t *)(void *)v;
    pthread_mutex_lock(&slab.mu);
    s->next = slab.free;
    slab.free = s;
    pthread_mutex_unlock(&slab.mu);
}

/*  Where v's zone is, past its bytes. */
static size_t zone_at(size_t size)
{
    size_t at = VALUE_HEAD + size, align = _Alignof(msgpack_zone);
    return (at + align - 1) / align * align;
}

static msgpack_zone *zone_of(troupe_value_t *v)
{
    return (msgpack_zone *)(void *)((char *)v + zone_at(vsize(v)));
}

/*  How many bytes a value of `size` packed bytes takes, its zone
    included when it is a container (first byte). */
static size_t value_bytes(size_t size, bool container)
{
    return container ? zone_at(size) + sizeof(msgpack_zone) : VALUE_HEAD + size;
}

static bool is_container(uint8_t first) /* fixmap, fixarray, array16/32, map16/32 */
{
    return (first >= 0x80 && first <= 0x9f) || (first >= 0xdc && first <= 0xdf);
}

/*  A container needs at most one msgpack_object per byte of input (every
    element takes a byte, a map pair two bytes for its two objects), so 24
    bytes per byte is enough, capped so that a value made mostly of long
    strings does not reserve a chunk it will never use; the zone grows
    past the cap. */
#define ZONE_CAP 4096

static void *fail_errno(int err, const char *what)
{
    tr_error("%s", what);
    errno = err;
    return NULL;
}

/*  Decodes v's bytes into v's view; v has room for a zone when they are
    a container. v is freed on failure. */
static troupe_value_t *value_decode(troupe_value_t *v)
{
    size_t size = vsize(v);
    const char *data = vdata(v);
    if (v->kind != KIND_SLOT && is_container((uint8_t)data[0]))
        v->kind = KIND_ZONED;
    /* a scalar or a string is decoded without a zone: msgpack-c allocates
       only for arrays and maps, and a zone of nothing (zeroed) proves it
       did not */
    msgpack_zone none, *zone = &none;
    memset(&none, 0, sizeof none);
    if (v->kind == KIND_ZONED) {
        zone = zone_of(v);
        size_t chunk = size < ZONE_CAP / sizeof(msgpack_object)
                           ? size * sizeof(msgpack_object)
                           : ZONE_CAP;
        if (!msgpack_zone_init(zone, chunk)) {
            value_release(v);
            return fail_errno(ENOMEM, "out of memory");
        }
    }
    /* env_decode checks the structure before msgpack-c allocates anything,
       and refuses anything but exactly one value */
    env_status_t st = env_decode(data, size, zone, &v->root);
    bool used_none = none.chunk_list.head != NULL;
    if (used_none) /* never, for what is not a container: a chunk to free */
        msgpack_zone_destroy(&none);
    if (st != ENV_OK || used_none) {
        if (v->kind == KIND_ZONED)
            msgpack_zone_destroy(zone);
        value_release(v);
        return fail_errno(EINVAL, "not one msgpack value (malformed, truncated, "
                                  "followed by more bytes, or nested over 32 deep)");
    }
    return v;
}

/* ---- building: a packer over a buffer that becomes the value ------------ */

/*  The packer comes first, so that troupe_value_end can get from the
    packer the caller hands back to the builder around it. The buffer keeps
    room for the value's struct in front of the bytes, so that the finished
    bytes become the value without a copy. */
typedef struct {
    msgpack_packer pk;
    char *buf;          /* VALUE_HEAD bytes, then `room` for packed bytes */
    size_t len, room;
    bool failed;        /* a write could not get memory */
} builder_t;

static int builder_write(void *arg, const char *data, size_t len)
{
    builder_t *b = arg;
    if (b->failed)
        return -1;
    if (len == 0)
        return 0;
    if (len > b->room - b->len) {
        size_t room = b->room ? b->room : 16;
        while (room - b->len < len) {
            if (room > (SIZE_MAX - VALUE_HEAD) / 2) {
                b->failed = true;
                return -1;
            }
            room *= 2;
        }
        char *p = realloc(b->buf, VALUE_HEAD + room);
        if (!p) {
            b->failed = true;
            return -1;
        }
        b->buf = p;
        b->room = room;
    }
    memcpy(b->buf + VALUE_HEAD + b->len, data, len);
    b->len += len;
    return 0;
}

/*  `hint`: the packed size when the caller knows it (0: unknown), so that
    the common constructors allocate once. */
static void builder_init(builder_t *b, size_t hint)
{
    memset(b, 0, sizeof *b);
    msgpack_packer_init(&b->pk, b, builder_write);
    if (hint && hint <= SIZE_MAX - VALUE_HEAD) {
        b->buf = malloc(VALUE_HEAD + hint);
        if (b->buf)
            b->room = hint;
        else
            b->failed = true;
    }
}

/*  The value the builder holds, or NULL; the builder's buffer is the
    value's or freed either way. */
static troupe_value_t *builder_finish(builder_t *b)
{
    if (b->failed) {
        free(b->buf);
        return fail_errno(ENOMEM, "out of memory");
    }
    if (b->len == 0) {
        free(b->buf);
        return fail_errno(EINVAL, "no value was packed");
    }
    if (b->len > UINT32_MAX) {
        free(b->buf);
        return fail_errno(EINVAL, "a value of 4 GB or more");
    }
    bool container = is_container((uint8_t)b->buf[VALUE_HEAD]);
    if (!container && b->len <= SLOT_BYTES) { /* small: a slot of the slab */
        troupe_value_t *v = slot_new();
        if (v) {
            v->kind = KIND_SLOT;
            v->head[0] = (uint8_t)b->len;
            memcpy(v->head + 1, b->buf + VALUE_HEAD, b->len);
        }
        free(b->buf);
        b->buf = NULL;
        return v ? value_decode(v) : fail_errno(ENOMEM, "out of memory");
    }
    /* to its size: shrunk, or grown by the room of a container's zone */
    size_t want = value_bytes(b->len, container);
    if (want > VALUE_HEAD + b->room || VALUE_HEAD + b->room - want >= 32) {
        char *p = realloc(b->buf, want);
        if (p)
            b->buf = p;
        else if (want > VALUE_HEAD + b->room) {
            free(b->buf);
            return fail_errno(ENOMEM, "out of memory");
        } /* a failed shrink keeps the larger block: still correct */
    }
    troupe_value_t *v = (troupe_value_t *)b->buf;
    uint32_t size = (uint32_t)b->len;
    v->kind = KIND_HEAP;
    memcpy(v->head, &size, sizeof size);
    b->buf = NULL;
    return value_decode(v);
}

/* ---- constructors ---------------------------------------------------------- */

troupe_value_t *troupe_value_nil(void)
{
    tr_error_clear();
    builder_t b;
    builder_init(&b, 1);
    msgpack_pack_nil(&b.pk);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_bool(bool v)
{
    tr_error_clear();
    builder_t b;
    builder_init(&b, 1);
    if (v)
        msgpack_pack_true(&b.pk);
    else
        msgpack_pack_false(&b.pk);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_int(int64_t v)
{
    tr_error_clear();
    builder_t b;
    builder_init(&b, 9);
    msgpack_pack_int64(&b.pk, v);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_double(double v)
{
    tr_error_clear();
    builder_t b;
    builder_init(&b, 9);
    msgpack_pack_double(&b.pk, v);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_cstr(const char *string)
{
    tr_error_clear();
    if (!string)
        return fail_errno(EINVAL, "troupe_value_cstr: NULL string");
    return troupe_value_strn(string, strlen(string));
}

/*  NULL with a size, or more bytes than msgpack can say, is the caller's
    mistake. */
static bool sized_ok(const void *data, size_t size, const char *who)
{
    if (!data && size) {
        tr_error("%s: NULL data with size %zu", who, size);
        errno = EINVAL;
        return false;
    }
    if (size > UINT32_MAX) {
        tr_error("%s: %zu is more than msgpack can hold (2^32 - 1)", who, size);
        errno = EINVAL;
        return false;
    }
    return true;
}

troupe_value_t *troupe_value_strn(const char *data, size_t size)
{
    tr_error_clear();
    if (!sized_ok(data, size, "troupe_value_strn"))
        return NULL;
    builder_t b;
    builder_init(&b, size + 5);
    msgpack_pack_str_with_body(&b.pk, data, size);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_bytes(const void *data, size_t size)
{
    tr_error_clear();
    if (!sized_ok(data, size, "troupe_value_bytes"))
        return NULL;
    builder_t b;
    builder_init(&b, size + 5);
    msgpack_pack_bin_with_body(&b.pk, data, size);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_ints(const int64_t *v, size_t n)
{
    tr_error_clear();
    if (!sized_ok(v, n, "troupe_value_ints"))
        return NULL;
    builder_t b;
    builder_init(&b, 5 + 9 * n);
    msgpack_pack_array(&b.pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int64(&b.pk, v[i]);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_doubles(const double *v, size_t n)
{
    tr_error_clear();
    if (!sized_ok(v, n, "troupe_value_doubles"))
        return NULL;
    builder_t b;
    builder_init(&b, 5 + 9 * n);
    msgpack_pack_array(&b.pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_double(&b.pk, v[i]);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_cstrs(const char *const *v, size_t n)
{
    tr_error_clear();
    if (!sized_ok(v, n, "troupe_value_cstrs"))
        return NULL;
    size_t hint = 5;
    for (size_t i = 0; i < n; i++) {
        if (!v[i]) {
            tr_error("troupe_value_cstrs: string %zu is NULL", i);
            errno = EINVAL;
            return NULL;
        }
        size_t len = strlen(v[i]);
        if (len > UINT32_MAX) {
            tr_error("troupe_value_cstrs: string %zu is longer than msgpack can hold", i);
            errno = EINVAL;
            return NULL;
        }
        hint = hint + 5 + len < hint ? 0 : hint + 5 + len;
    }
    builder_t b;
    builder_init(&b, hint);
    msgpack_pack_array(&b.pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_str_with_body(&b.pk, v[i], strlen(v[i]));
    return builder_finish(&b);
}

troupe_value_t *troupe_value_object(const msgpack_object *value)
{
    tr_error_clear();
    if (!value)
        return fail_errno(EINVAL, "troupe_value_object: NULL value");
    builder_t b;
    builder_init(&b, 0);
    msgpack_pack_object(&b.pk, *value);
    return builder_finish(&b);
}

troupe_value_t *troupe_value_packed(const void *data, size_t size)
{
    tr_error_clear();
    if (!sized_ok(data, size, "troupe_value_packed"))
        return NULL;
    if (size == 0)
        return fail_errno(EINVAL, "not one msgpack value (no bytes)");
    bool container = is_container(*(const uint8_t *)data);
    troupe_value_t *v = !container && size <= SLOT_BYTES ? slot_new()
                                                          : malloc(value_bytes(size, container));
    if (!v)
        return fail_errno(ENOMEM, "out of memory");
    if (!container && size <= SLOT_BYTES) {
        v->kind = KIND_SLOT;
        v->head[0] = (uint8_t)size;
    }
    else {
        uint32_t size32 = (uint32_t)size;
        v->kind = KIND_HEAP;
        memcpy(v->head, &size32, sizeof size32);
    }
    memcpy(vdata(v), data, size);
    return value_decode(v);
}

msgpack_packer *troupe_value_begin(void)
{
    tr_error_clear();
    builder_t *b = malloc(sizeof *b);
    if (!b)
        return fail_errno(ENOMEM, "out of memory");
    builder_init(b, 0);
    return &b->pk;
}

troupe_value_t *troupe_value_end(msgpack_packer *pk)
{
    tr_error_clear();
    if (!pk)
        return fail_errno(EINVAL, "troupe_value_end: NULL packer");
    builder_t *b = (builder_t *)pk; /* pk is b's first member */
    troupe_value_t *v = builder_finish(b);
    free(b);
    return v;
}

/* ---- readers ------------------------------------------------------------- */

const msgpack_object *troupe_value_get(const troupe_value_t *v)
{
    return v ? &v->root : NULL;
}

const void *troupe_value_data(const troupe_value_t *v, size_t *size)
{
    if (size)
        *size = v ? vsize(v) : 0;
    return v ? vdata((troupe_value_t *)v) : NULL;
}

bool troupe_value_as_int(const troupe_value_t *v, int64_t *out)
{
    return v && out && troupe_as_int(&v->root, out);
}

bool troupe_value_as_double(const troupe_value_t *v, double *out)
{
    return v && out && troupe_as_double(&v->root, out);
}

const char *troupe_value_as_strn(const troupe_value_t *v, size_t *size)
{
    tr_error_clear();
    if (v && v->root.type == MSGPACK_OBJECT_STR) {
        if (size)
            *size = v->root.via.str.size;
        return v->root.via.str.ptr ? v->root.via.str.ptr : "";
    }
    if (v && v->root.type == MSGPACK_OBJECT_BIN) {
        if (size)
            *size = v->root.via.bin.size;
        return v->root.via.bin.ptr ? v->root.via.bin.ptr : "";
    }
    if (size)
        *size = 0;
    return fail_errno(EINVAL, "not a string or binary value");
}

/*  Shared by as_ints and as_doubles: the whole array is checked before
    anything is written, so that out is untouched when the answer is -1. */
static long as_numbers(const troupe_value_t *v, void *out, size_t n, bool ints)
{
    if (!v || v->root.type != MSGPACK_OBJECT_ARRAY) {
        tr_error("not an array");
        errno = EINVAL;
        return -1;
    }
    const msgpack_object_array *a = &v->root.via.array;
    if (!out)
        n = 0;
    int64_t i64;
    double f64;
    for (uint32_t i = 0; i < a->size; i++) {
        bool ok = ints ? troupe_as_int(&a->ptr[i], &i64)
                       : troupe_as_double(&a->ptr[i], &f64);
        if (!ok) {
            tr_error("member %u of the array is not %s", i,
                     ints ? "an integer" : "a number");
            errno = EINVAL;
            return -1;
        }
    }
    for (uint32_t i = 0; i < a->size && i < n; i++) {
        if (ints)
            troupe_as_int(&a->ptr[i], &((int64_t *)out)[i]);
        else
            troupe_as_double(&a->ptr[i], &((double *)out)[i]);
    }
    return (long)a->size;
}

long troupe_value_as_ints(const troupe_value_t *v, int64_t *out, size_t n)
{
    tr_error_clear();
    return as_numbers(v, out, n, true);
}

long troupe_value_as_doubles(const troupe_value_t *v, double *out, size_t n)
{
    tr_error_clear();
    return as_numbers(v, out, n, false);
}

size_t troupe_value_format(const troupe_value_t *v, char *buf, size_t size)
{
    if (!v) {
        if (size)
            buf[0] = '\0';
        return 0;
    }
    return troupe_format(&v->root, buf, size);
}

void troupe_value_destroy(troupe_value_t **v_p)
{
    if (!v_p || !*v_p)
        return;
    if ((*v_p)->kind == KIND_ZONED)
        msgpack_zone_destroy(zone_of(*v_p));
    value_release(*v_p);
    *v_p = NULL;
}

/* ---- the names before the _cstr/_strn rule (troupe.h): one more release ---- */

troupe_value_t *troupe_value_str(const char *string)
{
    return troupe_value_cstr(string);
}

troupe_value_t *troupe_value_strs(const char *const *v, size_t n)
{
    return troupe_value_cstrs(v, n);
}

const char *troupe_value_as_str(const troupe_value_t *v, size_t *size)
{
    return troupe_value_as_strn(v, size);
}

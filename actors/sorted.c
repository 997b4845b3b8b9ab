/*  sorted: a sink that keeps every value and, at the end of its input,
    writes them out sorted, one line each: what `sort` is at the end of a
    shell pipeline, for the results of a keyed stage whose instances each
    hand over their own share (a word count's [word, n] pairs).

    Arguments:
      by  what to sort on: the whole value (default), an array element
          (`by = 0`) or a map field (`by = word`); values without it sort
          first, by themselves;
      as  `text` (default): each value as print writes it; `uniq-c`: a
          [text, count] pair as `uniq -c` writes it ("%7d text").

    The order: nil, booleans, numbers (by value), strings and binaries
    (bytewise, as `LC_ALL=C sort` does), arrays (element by element), maps;
    ties keep the order the values came in. The values are its state: a
    checkpoint holds them, and a restarted instance starts from them.
*/
#include <troupe.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    msgpack_sbuffer kept; /* every value, packed one after another */
    size_t *at;           /* where each starts in kept */
    size_t n, cap;
    const char *by_field; /* by = NAME */
    long by_index;        /* by = N; -1: the whole value */
    bool uniq;            /* as = uniq-c */
} sorted_t;

static int sorted_start(troupe_ctx_t *ctx)
{
    sorted_t *s = calloc(1, sizeof *s);
    troupe_set_state(ctx, s);
    if (!s)
        return TROUPE_ERROR;
    msgpack_sbuffer_init(&s->kept);
    s->by_index = -1;
    const char *by = troupe_arg(ctx, "by", NULL);
    if (by && *by) {
        char *end;
        long i = strtol(by, &end, 10);
        if (*end == '\0' && i >= 0)
            s->by_index = i;
        else
            s->by_field = by;
    }
    const char *as = troupe_arg(ctx, "as", "text");
    if (strcmp(as, "text") && strcmp(as, "uniq-c")) {
        troupe_fail(ctx, "argument 'as': '%s' is not text or uniq-c", as);
        return TROUPE_ERROR;
    }
    s->uniq = !strcmp(as, "uniq-c");
    return TROUPE_OK;
}

static int keep(troupe_ctx_t *ctx, sorted_t *s, const msgpack_object *value)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        size_t *at = realloc(s->at, cap * sizeof *at);
        if (!at) {
            troupe_fail(ctx, "sorted: out of memory");
            return TROUPE_ERROR;
        }
        s->at = at;
        s->cap = cap;
    }
    size_t before = s->kept.size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->kept, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *value) != 0) {
        s->kept.size = before;
        troupe_fail(ctx, "sorted: out of memory");
        return TROUPE_ERROR;
    }
    s->at[s->n++] = before;
    return TROUPE_OK;
}

static int sorted_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    return keep(ctx, troupe_state(ctx), value);
}

/* ==== the order ===================================================================== */

static int rank(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return 0;
    case MSGPACK_OBJECT_BOOLEAN: return 1;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return 2;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: return 3;
    case MSGPACK_OBJECT_ARRAY: return 4;
    default: return 5;
    }
}

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
    int d = memcmp(a, b, na < nb ? na : nb);
    return d ? d : (na > nb) - (na < nb);
}

static int cmp_numbers(const msgpack_object *a, const msgpack_object *b)
{
    int64_t x, y;
    if (troupe_as_int(a, &x) && troupe_as_int(b, &y))
        return (x > y) - (x < y);
    if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER && b->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (a->via.u64 > b->via.u64) - (a->via.u64 < b->via.u64);
    double p = a->type == MSGPACK_OBJECT_FLOAT32 || a->type == MSGPACK_OBJECT_FLOAT64
                   ? a->via.f64
                   : a->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)a->via.u64
                                                                : (double)a->via.i64;
    double q = b->type == MSGPACK_OBJECT_FLOAT32 || b->type == MSGPACK_OBJECT_FLOAT64
                   ? b->via.f64
                   : b->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)b->via.u64
                                                                : (double)b->via.i64;
    return (p > q) - (p < q);
}

static int cmp_values(const msgpack_object *a, const msgpack_object *b)
{
    int ra = rank(a), rb = rank(b);
    if (ra != rb)
        return ra - rb;
    switch (ra) {
    case 1: return (int)a->via.boolean - (int)b->via.boolean;
    case 2: return cmp_numbers(a, b);
    case 3: return cmp_bytes(a->via.str.ptr, a->via.str.size, b->via.str.ptr, b->via.str.size);
    case 4:
        for (uint32_t i = 0; i < a->via.array.size && i < b->via.array.size; i++) {
            int d = cmp_values(&a->via.array.ptr[i], &b->via.array.ptr[i]);
            if (d)
                return d;
        }
        return (a->via.array.size > b->via.array.size) - (a->via.array.size < b->via.array.size);
    default: return 0;
    }
}

typedef struct {
    msgpack_object value;
    const msgpack_object *key; /* NULL: the value has no such part */
    size_t seq;                /* arrival: ties keep it */
} row_t;

static const msgpack_object *key_of(const sorted_t *s, const msgpack_object *v)
{
    if (s->by_index >= 0)
        return v->type == MSGPACK_OBJECT_ARRAY && (uint32_t)s->by_index < v->via.array.size
                   ? &v->via.array.ptr[s->by_index]
                   : NULL;
    if (!s->by_field)
        return v;
    if (v->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen(s->by_field);
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object *k = &v->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
            && !memcmp(k->via.str.ptr, s->by_field, len))
            return &v->via.map.ptr[i].val;
    }
    return NULL;
}

static int cmp_rows(const void *x, const void *y)
{
    const row_t *a = x, *b = y;
    int d = !a->key || !b->key ? (a->key != NULL) - (b->key != NULL) : cmp_values(a->key, b->key);
    if (!d && (!a->key || !b->key))
        d = cmp_values(&a->value, &b->value);
    return d ? d : (a->seq > b->seq) - (a->seq < b->seq);
}

/* ==== writing ======================================================================= */

static int write_all(troupe_ctx_t *ctx, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            troupe_fail(ctx, "write failed: %s", strerror(n < 0 ? errno : EIO));
            return TROUPE_ERROR;
        }
        buf += n;
        len -= (size_t)n;
    }
    return TROUPE_OK;
}

/*  One line into out (grown as needed). */
static int line_of(troupe_ctx_t *ctx, const sorted_t *s, const msgpack_object *v,
                   msgpack_sbuffer *out)
{
    char small[512];
    int64_t count;
    if (s->uniq) {
        if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 2
            || !troupe_as_int(&v->via.array.ptr[1], &count)) {
            troupe_fail(ctx, "sorted: as = uniq-c takes [text, count] pairs");
            return TROUPE_ERROR;
        }
        int n = snprintf(small, sizeof small, "%7" PRId64 " ", count);
        msgpack_sbuffer_write(out, small, (size_t)n);
        v = &v->via.array.ptr[0];
    }
    size_t need = troupe_format(v, small, sizeof small);
    char *text = need < sizeof small ? small : malloc(need + 1);
    if (!text) {
        troupe_fail(ctx, "sorted: out of memory");
        return TROUPE_ERROR;
    }
    if (text != small)
        troupe_format(v, text, need + 1);
    msgpack_sbuffer_write(out, text, need);
    msgpack_sbuffer_write(out, "\n", 1);
    if (text != small)
        free(text);
    return TROUPE_OK;
}

static int sorted_flush(troupe_ctx_t *ctx)
{
    sorted_t *s = troupe_state(ctx);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1 << 16);
    row_t *rows = calloc(s->n + 1, sizeof *rows);
    int rc = rows ? TROUPE_OK : TROUPE_ERROR;
    for (size_t i = 0; rc == TROUPE_OK && i < s->n; i++) {
        size_t end = i + 1 < s->n ? s->at[i + 1] : s->kept.size, off = 0;
        if (msgpack_unpack(s->kept.data + s->at[i], end - s->at[i], &off, &zone,
                           &rows[i].value) != MSGPACK_UNPACK_SUCCESS)
            rc = TROUPE_ERROR;
        rows[i].key = key_of(s, &rows[i].value);
        rows[i].seq = i;
    }
    if (rc == TROUPE_OK)
        qsort(rows, s->n, sizeof *rows, cmp_rows);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    for (size_t i = 0; rc == TROUPE_OK && i < s->n; i++) {
        rc = line_of(ctx, s, &rows[i].value, &out);
        if (rc == TROUPE_OK && out.size >= (1 << 16)) {
            rc = write_all(ctx, out.data, out.size);
            out.size = 0;
        }
    }
    if (rc == TROUPE_OK)
        rc = write_all(ctx, out.data, out.size);
    else if (!troupe_failed(ctx))
        troupe_fail(ctx, "sorted: out of memory");
    msgpack_sbuffer_destroy(&out);
    free(rows);
    msgpack_zone_destroy(&zone);
    return rc;
}

/*  Every value kept so far, as one array. */
static int sorted_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    sorted_t *s = troupe_state(ctx);
    msgpack_pack_array(pk, s->n);
    return pk->callback(pk->data, s->kept.data, s->kept.size) == 0 ? TROUPE_OK
                                                                   : TROUPE_ERROR;
}

static int sorted_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
    sorted_t *s = troupe_state(ctx);
    if (state->type != MSGPACK_OBJECT_ARRAY) {
        troupe_fail(ctx, "sorted: the checkpoint is not an array of values");
        return TROUPE_ERROR;
    }
    for (uint32_t i = 0; i < state->via.array.size; i++)
        if (keep(ctx, s, &state->via.array.ptr[i]) != TROUPE_OK)
            return TROUPE_ERROR;
    return TROUPE_OK;
}

static void sorted_stop(troupe_ctx_t *ctx)
{
    sorted_t *s = troupe_state(ctx);
    if (!s)
        return;
    msgpack_sbuffer_destroy(&s->kept);
    free(s->at);
    free(s);
}

static const char *const sorted_args[] = { "by", "as", NULL };

TROUPE_MODULE(.name = "sorted", .summary = "writes every value at the end, sorted, a line each",
              .args = sorted_args, .flags = TROUPE_STATEFUL, .start = sorted_start,
              .message = sorted_message, .flush = sorted_flush, .stop = sorted_stop,
              .snapshot = sorted_snapshot, .restore = sorted_restore);

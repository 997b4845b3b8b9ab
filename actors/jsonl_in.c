/*  jsonl_in: JSON text to msgpack values, one line at a time. The reading
    (file or stdin, without blocking, shared among instances) is lines.c's,
    built with JSONL_IN defined; this file parses each line with jansson and
    packs what it finds. The mapping is in docs/CONFIG.md, "JSON lines".
*/
#include <troupe.h>

#include <jansson.h>
#include <string.h>

int jsonl_in_line(troupe_ctx_t *ctx, const char *line, size_t len, uint64_t lineno);

/*  Packs `j` and what it holds. jansson has already refused what JSON
    cannot hold (and nests no deeper than its own limit), so every value it
    gives has a msgpack form: nothing here fails. */
static void pack_json(msgpack_packer *pk, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(j));
        for (void *it = json_object_iter((json_t *)j); it;
             it = json_object_iter_next((json_t *)j, it)) {
            msgpack_pack_str_with_body(pk, json_object_iter_key(it),
                                       json_object_iter_key_len(it));
            pack_json(pk, json_object_iter_value(it));
        }
        break;
    }
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            pack_json(pk, json_array_get(j, i));
        break;
    case JSON_STRING:
        msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(j));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(j));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        break;
    }
}

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\f\v", line[i]))
            return false;
    return true;
}

int jsonl_in_line(troupe_ctx_t *ctx, const char *line, size_t len, uint64_t lineno)
{
    if (blank(line, len))
        return TROUPE_OK; /* an item with no value */
    json_error_t error;
    json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!j) {
        troupe_fail(ctx, "line %llu: not JSON: %s (column %d)", (unsigned long long)lineno,
                    error.text, error.column);
        return TROUPE_ERROR;
    }
    msgpack_packer *pk = troupe_emit_begin(ctx);
    if (!pk) {
        json_decref(j);
        troupe_fail(ctx, "line %llu: out of memory", (unsigned long long)lineno);
        return TROUPE_ERROR;
    }
    pack_json(pk, j);
    json_decref(j);
    return troupe_emit_end(ctx);
}

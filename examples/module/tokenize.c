/*  tokenize: one item per word. For each line of text it emits every run
    of ASCII letters in it, as a string, which is how `tr -cs A-Za-z '\n'`
    cuts a text into words; examples/wordcount.zpl counts them with a keyed
    counter. A file whose first character is not a letter makes tr print
    an empty line first: the first line's item emits "" then too, so that
    the count is the same as the shell's to the byte.

    Build:  cc -shared -fPIC -o tokenize.so tokenize.c $(pkg-config --cflags --libs troupe)
*/
#include <troupe.h>

static bool letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int tokenize_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR) {
        troupe_fail(ctx, "tokenize: not text");
        return TROUPE_ERROR;
    }
    const char *s = value->via.str.ptr;
    size_t n = value->via.str.size;
    if (troupe_item_id(ctx) == 0 && (n == 0 || !letter(s[0])) && troupe_emit_strn(ctx, "", 0) < 0)
        return TROUPE_ERROR;
    for (size_t i = 0; i < n;) {
        while (i < n && !letter(s[i]))
            i++;
        size_t start = i;
        while (i < n && letter(s[i]))
            i++;
        if (i > start && troupe_emit_strn(ctx, s + start, i - start) < 0)
            return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

TROUPE_MODULE(.name = "tokenize", .summary = "emits every word (run of ASCII letters) of a line",
              .message = tokenize_message);

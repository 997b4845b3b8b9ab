/*  print and collect: sinks that write one line of text per value
    (troupe_format), in source order unless the config says ordered = false.
    print writes to stdout (or stderr: stream = stderr); collect, built from
    this same file with COLLECT defined, writes to the file named by `file`
    (append = true to add to it). A write error (a closed pipe, a full disk)
    fails the item.
*/
#include <troupe.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    FILE *out;
    bool own; /* we opened it */
    const char *prefix;
    size_t prefix_len;
    char *buf; /* for long values */
    size_t cap;
} sink_t;

static int sink_start(troupe_ctx_t *ctx)
{
    sink_t *s = calloc(1, sizeof *s);
    if (!s)
        return TROUPE_ERROR;
    troupe_set_state(ctx, s);
    s->prefix = troupe_arg(ctx, "prefix", "");
    s->prefix_len = strlen(s->prefix);
#ifdef COLLECT
    const char *file = troupe_arg(ctx, "file", NULL);
    if (!file) {
        troupe_fail(ctx, "collect needs an argument 'file' (args: file = PATH)");
        return TROUPE_ERROR;
    }
    bool append = troupe_arg_bool(ctx, "append", false);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    s->out = fopen(file, append ? "a" : "w");
    if (!s->out) {
        troupe_fail(ctx, "cannot open '%s': %s", file, strerror(errno));
        return TROUPE_ERROR;
    }
    s->own = true;
#else
    const char *stream = troupe_arg(ctx, "stream", "stdout");
    if (!strcmp(stream, "stdout"))
        s->out = stdout;
    else if (!strcmp(stream, "stderr"))
        s->out = stderr;
    else {
        troupe_fail(ctx, "argument 'stream': '%s' is not stdout or stderr", stream);
        return TROUPE_ERROR;
    }
    if (s->out == stdout && !isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOFBF, 1 << 16);
#endif
    return TROUPE_OK;
}

static int write_error(troupe_ctx_t *ctx)
{
    troupe_fail(ctx, "write failed: %s", strerror(errno));
    return TROUPE_ERROR;
}

static int sink_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    sink_t *s = troupe_state(ctx);
    char stack[512];
    char *buf = stack;
    size_t n = troupe_format(value, stack, sizeof stack);
    if (n >= sizeof stack) {
        if (n + 1 > s->cap) {
            char *more = realloc(s->buf, n + 1);
            if (!more) {
                troupe_fail(ctx, "out of memory for a %zu-byte value", n);
                return TROUPE_ERROR;
            }
            s->buf = more;
            s->cap = n + 1;
        }
        buf = s->buf;
        troupe_format(value, buf, n + 1);
    }
    buf[n] = '\n';
    if ((s->prefix_len && fwrite(s->prefix, 1, s->prefix_len, s->out) != s->prefix_len)
        || fwrite(buf, 1, n + 1, s->out) != n + 1)
        return write_error(ctx);
    return TROUPE_OK;
}

static int sink_flush(troupe_ctx_t *ctx)
{
    sink_t *s = troupe_state(ctx);
    if (fflush(s->out) != 0)
        return write_error(ctx);
    return TROUPE_OK;
}

static void sink_stop(troupe_ctx_t *ctx)
{
    sink_t *s = troupe_state(ctx);
    if (!s)
        return;
    if (s->own)
        fclose(s->out);
    else if (s->out)
        fflush(s->out);
    free(s->buf);
    free(s);
}

#ifdef COLLECT
static const char *const sink_args[] = { "file", "append", "prefix", NULL };
TROUPE_MODULE(.name = "collect", .summary = "writes each value as a line to a file",
              .args = sink_args, .flags = TROUPE_ORDERED, .start = sink_start,
              .message = sink_message, .flush = sink_flush, .stop = sink_stop);
#else
static const char *const sink_args[] = { "stream", "prefix", NULL };
TROUPE_MODULE(.name = "print", .summary = "writes each value as a line to stdout",
              .args = sink_args, .flags = TROUPE_ORDERED, .start = sink_start,
              .message = sink_message, .flush = sink_flush, .stop = sink_stop);
#endif

/*  print and collect: sinks that write one line of text per value
    (troupe_format), in source order unless the config says ordered = false.
    print writes to stdout (or stderr: stream = stderr); collect, built from
    this same file with COLLECT defined, writes to the file named by `file`
    (append = true to add to it). A write error (a closed pipe, a full disk)
    fails the item.

    Lines are formatted straight into a 64 KB buffer that goes out with one
    write(2) when full, at the end, and whenever the actor has nothing more
    to do for the moment (the idle hook): a fast stream goes out in big
    writes, a slow one line by line.
*/
#include <troupe.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

typedef struct {
    int fd;
    bool own;  /* we opened it */
    const char *prefix;
    size_t prefix_len;
    char *buf;
    size_t len;
    bool failed_write; /* while idle: reported with the next item */
    bool truncate;     /* collect: empty the file before the first write,
                          unless a checkpoint says how much of it is ours */
} sink_t;

static int sink_start(troupe_ctx_t *ctx)
{
    sink_t *s = calloc(1, sizeof *s);
    if (!s || !(s->buf = malloc(BUF_SIZE))) {
        free(s);
        troupe_fail(ctx, "out of memory");
        return TROUPE_ERROR;
    }
    troupe_set_state(ctx, s);
    s->fd = -1;
    s->prefix = troupe_arg(ctx, "prefix", "");
    s->prefix_len = strlen(s->prefix);
    if (s->prefix_len > 1024) {
        troupe_fail(ctx, "argument 'prefix': longer than 1024 bytes");
        return TROUPE_ERROR;
    }
#ifdef COLLECT
    const char *file = troupe_arg_path(ctx, "file", NULL);
    if (!file) {
        troupe_fail(ctx, "collect needs an argument 'file' (args: file = PATH)");
        return TROUPE_ERROR;
    }
    bool append = troupe_arg_bool(ctx, "append", false);
    if (troupe_failed(ctx))
        return TROUPE_ERROR;
    /* not O_TRUNC: a restarted collect keeps what its predecessor's last
       checkpoint covers (sink_restore); a fresh one empties the file at its
       first write. O_APPEND would not let it cut the tail off. */
    s->fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    s->truncate = !append;
    if (s->fd >= 0 && append && lseek(s->fd, 0, SEEK_END) < 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->fd < 0) {
        troupe_fail(ctx, "cannot open '%s': %s", file, strerror(errno));
        return TROUPE_ERROR;
    }
    s->own = true;
#else
    const char *stream = troupe_arg(ctx, "stream", "stdout");
    if (!strcmp(stream, "stdout"))
        s->fd = STDOUT_FILENO;
    else if (!strcmp(stream, "stderr"))
        s->fd = STDERR_FILENO;
    else {
        troupe_fail(ctx, "argument 'stream': '%s' is not stdout or stderr", stream);
        return TROUPE_ERROR;
    }
#endif
    return TROUPE_OK;
}

static int drain(troupe_ctx_t *ctx, sink_t *s)
{
    size_t done = 0;
    if (s->truncate) {
        s->truncate = false;
        if (ftruncate(s->fd, 0) != 0 && errno != EINVAL) {
            troupe_fail(ctx, "cannot empty the file: %s", strerror(errno));
            return TROUPE_ERROR;
        }
    }
    while (done < s->len) {
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s->len = 0;
            troupe_fail(ctx, "write failed: %s", strerror(n < 0 ? errno : EIO));
            return TROUPE_ERROR;
        }
        done += (size_t)n;
    }
    s->len = 0;
    return TROUPE_OK;
}

static int sink_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    sink_t *s = troupe_state(ctx);
    if (s->failed_write) {
        s->failed_write = false;
        troupe_fail(ctx, "write failed: %s", strerror(EPIPE));
        return TROUPE_ERROR;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t room = BUF_SIZE - s->len;
        if (room > s->prefix_len + 1) {
            char *at = s->buf + s->len;
            memcpy(at, s->prefix, s->prefix_len);
            size_t left = room - s->prefix_len;
            size_t n = troupe_format(value, at + s->prefix_len, left);
            if (n + 1 < left) { /* the line and its newline fit */
                at[s->prefix_len + n] = '\n';
                s->len += s->prefix_len + n + 1;
                return TROUPE_OK;
            }
            if (pass == 1 || n + 1 >= BUF_SIZE - s->prefix_len) {
                /* longer than the whole buffer: on its own */
                if (drain(ctx, s) != TROUPE_OK)
                    return TROUPE_ERROR;
                char *big = malloc(s->prefix_len + n + 2);
                if (!big) {
                    troupe_fail(ctx, "out of memory for a %zu-byte value", n);
                    return TROUPE_ERROR;
                }
                memcpy(big, s->prefix, s->prefix_len);
                troupe_format(value, big + s->prefix_len, n + 1);
                big[s->prefix_len + n] = '\n';
                char *keep = s->buf;
                s->buf = big;
                s->len = s->prefix_len + n + 1;
                int rc = drain(ctx, s);
                s->buf = keep;
                free(big);
                return rc;
            }
        }
        if (drain(ctx, s) != TROUPE_OK)
            return TROUPE_ERROR;
    }
    return TROUPE_OK;
}

static int sink_flush(troupe_ctx_t *ctx)
{
    return drain(ctx, troupe_state(ctx));
}

/*  Nothing more has come for now: what is buffered goes out, so that a
    reader downstream (a pipe, a file being tailed) sees it. A write error
    here shows again at the next item or at the end. */
static void sink_idle(troupe_ctx_t *ctx)
{
    sink_t *s = troupe_state(ctx);
    if (s->len && drain(ctx, s) != TROUPE_OK)
        s->failed_write = true;
}

/*  A checkpoint: everything formatted so far is written out, since what a
    checkpoint covers must be in the output. print's output is its stdout,
    which the run commits up to this point (docs/RELIABILITY.md); collect's
    state is how far its file is written, so that a restarted collect cuts
    off what its predecessor wrote after it, and writes it again. */
static int sink_snapshot(troupe_ctx_t *ctx, msgpack_packer *pk)
{
    sink_t *s = troupe_state(ctx);
    if (drain(ctx, s) != TROUPE_OK)
        return TROUPE_ERROR;
#ifdef COLLECT
    off_t at = lseek(s->fd, 0, SEEK_CUR);
    if (at < 0) {
        troupe_fail(ctx, "cannot tell where the file is: %s", strerror(errno));
        return TROUPE_ERROR;
    }
    msgpack_pack_uint64(pk, (uint64_t)at);
#else
    msgpack_pack_nil(pk);
#endif
    return TROUPE_OK;
}

static int sink_restore(troupe_ctx_t *ctx, const msgpack_object *state)
{
#ifdef COLLECT
    sink_t *s = troupe_state(ctx);
    if (state->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        troupe_fail(ctx, "collect: the checkpoint is not a file offset");
        return TROUPE_ERROR;
    }
    if (ftruncate(s->fd, (off_t)state->via.u64) != 0
        || lseek(s->fd, (off_t)state->via.u64, SEEK_SET) < 0) {
        troupe_fail(ctx, "cannot go back to where the checkpoint left the file: %s",
                    strerror(errno));
        return TROUPE_ERROR;
    }
    s->truncate = false;
#else
    (void)ctx;
    (void)state;
#endif
    return TROUPE_OK;
}

static void sink_stop(troupe_ctx_t *ctx)
{
    sink_t *s = troupe_state(ctx);
    if (!s)
        return;
    if (s->len && s->fd >= 0) /* best effort: the run is ending anyway */
        if (write(s->fd, s->buf, s->len) < 0)
            s->len = 0;
    if (s->own)
        close(s->fd);
    free(s->buf);
    free(s);
}

#ifdef COLLECT
static const char *const sink_args[] = { "file", "append", "prefix", NULL };
TROUPE_MODULE(.name = "collect", .summary = "writes each value as a line to a file",
              .args = sink_args, .flags = TROUPE_ORDERED, .start = sink_start,
              .message = sink_message, .flush = sink_flush, .stop = sink_stop,
              .idle = sink_idle, .snapshot = sink_snapshot, .restore = sink_restore);
#else
static const char *const sink_args[] = { "stream", "prefix", NULL };
TROUPE_MODULE(.name = "print", .summary = "writes each value as a line to stdout",
              .args = sink_args, .flags = TROUPE_ORDERED, .start = sink_start,
              .message = sink_message, .flush = sink_flush, .stop = sink_stop,
              .idle = sink_idle, .snapshot = sink_snapshot, .restore = sink_restore);
#endif

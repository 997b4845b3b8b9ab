/*  lines: a source of the lines of a file (file = PATH, or "-" for stdin,
    the default), without their line ends. With several instances each reads
    the file and keeps its own share; stdin takes one instance.

    It reads with read(2) into its own buffer and never blocks: when the
    next line has not arrived (a pipe, a terminal) it asks the runtime to
    call again once the descriptor is readable, so that each line goes on
    as soon as it is typed and the actor keeps answering meanwhile.

    A regular file's lines are counted up front, for the progress bar
    (troupe_set_total); stdin and pipes have no total.

    jsonl_in is built from this same file with JSONL_IN defined: the same
    reader, each line handed to jsonl_in.c, which parses it as JSON.
*/
#include <troupe.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
/* Counting lines costs a read of the whole file before the first line
   goes out (a quarter of a second for 256 MiB from the page cache);
   beyond this size the bar goes without a total rather than wait. */
#define COUNT_MAX (256u << 20)

#ifdef JSONL_IN
/*  jsonl_in.c: emits line `lineno` (1-based) of the input as the value its
    JSON text stands for, nothing for a blank line; fails the item for one
    that is not JSON. */
int jsonl_in_line(troupe_ctx_t *ctx, const char *line, size_t len, uint64_t lineno);
#endif

typedef struct {
    int fd;
    bool own;
    bool eof;
    uint64_t next; /* index of the next line in the input */
    char *buf;     /* buf[start, end) holds what is read but not taken */
    size_t start, end, cap;
} lines_t;

/*  The lines of a regular file of at most COUNT_MAX bytes, the last one
    counted whether or not it ends with a newline; 0 when not known. Reads
    with pread into buf (CHUNK bytes), leaving the file offset alone. */
static uint64_t count_lines(int fd, char *buf)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)COUNT_MAX)
        return 0;
    uint64_t lines = 0;
    off_t at = 0;
    char last = '\n';
    ssize_t n;
    while ((n = pread(fd, buf, CHUNK, at)) > 0) {
        for (const char *p = buf, *end = buf + n;
             (p = memchr(p, '\n', (size_t)(end - p))); p++)
            lines++;
        last = buf[n - 1];
        at += n;
    }
    if (n < 0)
        return 0;
    return lines + (last != '\n');
}

static int lines_start(troupe_ctx_t *ctx)
{
    lines_t *l = calloc(1, sizeof *l);
    if (!l || !(l->buf = malloc(CHUNK))) {
        free(l);
        return TROUPE_ERROR;
    }
    l->cap = CHUNK;
    troupe_set_state(ctx, l);
    const char *file = troupe_arg_path(ctx, "file", "-");
    if (!strcmp(file, "-")) {
        if (troupe_instances(ctx) > 1) {
            troupe_fail(ctx, "stdin can be read by one instance only");
            return TROUPE_ERROR;
        }
        l->fd = STDIN_FILENO;
        return TROUPE_OK;
    }
    l->fd = open(file, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0) {
        troupe_fail(ctx, "cannot open '%s': %s", file, strerror(errno));
        return TROUPE_ERROR;
    }
    l->own = true;
    troupe_set_total(ctx, troupe_index_share(ctx, count_lines(l->fd, l->buf)));
    return TROUPE_OK;
}

/*  Reads more without blocking. 1: got some; 0: end of input; -1: error
    (failed); 2: nothing yet. */
static int fill(troupe_ctx_t *ctx, lines_t *l)
{
    if (l->start > 0) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    if (l->end == l->cap) {
        char *more = realloc(l->buf, l->cap * 2);
        if (!more) {
            troupe_fail(ctx, "a line longer than %zu bytes", l->cap);
            return -1;
        }
        l->buf = more;
        l->cap *= 2;
    }
    struct pollfd p = { .fd = l->fd, .events = POLLIN };
    if (poll(&p, 1, 0) == 0)
        return 2;
    ssize_t n = read(l->fd, l->buf + l->end, l->cap - l->end);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 2;
    if (n < 0) {
        troupe_fail(ctx, "read failed: %s", strerror(errno));
        return -1;
    }
    l->end += (size_t)n;
    return n > 0;
}

/*  The next whole line (or the unterminated last one at the end), or NULL
    with *rc saying why not. */
static const char *next_line(troupe_ctx_t *ctx, lines_t *l, size_t *len, int *rc)
{
    for (;;) {
        char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
        if (nl || (l->eof && l->end > l->start)) {
            const char *line = l->buf + l->start;
            *len = (size_t)((nl ? nl : l->buf + l->end) - line);
            l->start += *len + (nl != NULL);
            if (*len && line[*len - 1] == '\r')
                (*len)--;
            return line;
        }
        if (l->eof) {
            *rc = TROUPE_DONE;
            return NULL;
        }
        int got = fill(ctx, l);
        if (got == 0)
            l->eof = true;
        else if (got < 0) {
            l->eof = true; /* no more lines after a read error */
            *rc = TROUPE_ERROR;
            return NULL;
        }
        else if (got == 2) {
            *rc = troupe_wait_readable(ctx, l->fd);
            return NULL;
        }
    }
}

static int lines_produce(troupe_ctx_t *ctx, uint64_t index)
{
    lines_t *l = troupe_state(ctx);
    size_t len;
    int rc;
    const char *line;
    do { /* skip the lines that are other instances' share */
        if (!(line = next_line(ctx, l, &len, &rc)))
            return rc;
    } while (l->next++ < index);
#ifdef JSONL_IN
    return jsonl_in_line(ctx, line, len, l->next);
#else
    return troupe_emit_strn(ctx, line, len);
#endif
}

static void lines_stop(troupe_ctx_t *ctx)
{
    lines_t *l = troupe_state(ctx);
    if (!l)
        return;
    if (l->own)
        close(l->fd);
    free(l->buf);
    free(l);
}

static const char *const lines_args[] = { "file", NULL };

#ifdef JSONL_IN
TROUPE_MODULE(.name = "jsonl_in", .summary = "one JSON value per line of a file or stdin",
              .args = lines_args, .start = lines_start, .produce = lines_produce,
              .stop = lines_stop);
#else
TROUPE_MODULE(.name = "lines", .summary = "the lines of a file or stdin",
              .args = lines_args, .start = lines_start, .produce = lines_produce,
              .stop = lines_stop);
#endif

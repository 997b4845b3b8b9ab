/*  lines: a source of the lines of a file (file = PATH, or "-" for stdin,
    the default), without their line ends. With several instances each reads
    the file and keeps its own share; stdin takes one instance.
*/
#include <troupe.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *in;
    bool own;
    uint64_t next; /* index of the line getline reads next */
    bool broken;   /* a read failed: no more lines */
    char *line;
    size_t cap;
} lines_t;

static int lines_start(troupe_ctx_t *ctx)
{
    lines_t *l = calloc(1, sizeof *l);
    if (!l)
        return TROUPE_ERROR;
    troupe_set_state(ctx, l);
    const char *file = troupe_arg(ctx, "file", "-");
    if (!strcmp(file, "-")) {
        if (troupe_instances(ctx) > 1) {
            troupe_fail(ctx, "stdin can be read by one instance only");
            return TROUPE_ERROR;
        }
        l->in = stdin;
        return TROUPE_OK;
    }
    l->in = fopen(file, "r");
    if (!l->in) {
        troupe_fail(ctx, "cannot open '%s': %s", file, strerror(errno));
        return TROUPE_ERROR;
    }
    l->own = true;
    return TROUPE_OK;
}

static int lines_produce(troupe_ctx_t *ctx, uint64_t index)
{
    lines_t *l = troupe_state(ctx);
    ssize_t n;
    if (l->broken)
        return TROUPE_DONE;
    do { /* skip the lines that are other instances' share */
        n = getline(&l->line, &l->cap, l->in);
        if (n < 0) {
            if (ferror(l->in)) {
                l->broken = true;
                troupe_fail(ctx, "read failed: %s", strerror(errno));
                return TROUPE_ERROR;
            }
            return TROUPE_DONE;
        }
    } while (l->next++ < index);
    while (n > 0 && (l->line[n - 1] == '\n' || l->line[n - 1] == '\r'))
        n--;
    return troupe_emit_str(ctx, l->line, (size_t)n);
}

static void lines_stop(troupe_ctx_t *ctx)
{
    lines_t *l = troupe_state(ctx);
    if (!l)
        return;
    if (l->own)
        fclose(l->in);
    free(l->line);
    free(l);
}

static const char *const lines_args[] = { "file", NULL };

TROUPE_MODULE(.name = "lines", .summary = "the lines of a file or stdin",
              .args = lines_args, .start = lines_start, .produce = lines_produce,
              .stop = lines_stop);

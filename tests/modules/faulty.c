/*  faulty: a test module that misbehaves on purpose. Each item passes
    through, emitted `copies` times where copies = item id % (fanout + 1)
    (fanout 0: once), or `copies` times each when that is set, so stages
    that emit zero or several values per input are covered. With probability `chance` per item it first does what
    `mode` says: segv (a NULL write), abort, exit (status 3), hang (an
    endless loop), or fail (the item fails); or, after passing it on,
    unended: it starts a value with troupe_emit_begin, writes half of it
    and never calls troupe_emit_end (the half value must be dropped, and
    nothing else); overrun: it writes one more value through the packer
    after troupe_emit_end, which corrupts its output batch; oom: it emits a
    1 MB string while tests/failmalloc.so (LD_PRELOAD) fails the group
    buffer's growth, then one more value, as a module does that ignores
    what troupe_emit_* returns; late: it emits its copies, then fails the
    item (what it emitted must go with it). Every process draws from its
    own pid-seeded generator, so an item that killed one process is most
    likely handled by the next. With `at = ID` and `marker = PATH` instead,
    it misbehaves exactly once: at item ID, in the first process to get
    there (the one that creates PATH); with `at = ID` and no marker, every
    time any process gets to item ID (a poison item).
*/
#include <troupe.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *mode;
    double chance;
    int64_t fanout;
    int64_t copies;
    int64_t at;
    const char *marker;
    unsigned seed;
} faulty_t;

static int faulty_start(troupe_ctx_t *ctx)
{
    faulty_t *f = calloc(1, sizeof *f);
    if (!f)
        return TROUPE_ERROR;
    troupe_set_state(ctx, f);
    f->mode = troupe_arg(ctx, "mode", "segv");
    f->chance = troupe_arg_double(ctx, "chance", 0.0);
    f->fanout = troupe_arg_int(ctx, "fanout", 0);
    f->copies = troupe_arg_int(ctx, "copies", -1);
    f->at = troupe_arg_int(ctx, "at", -1);
    f->marker = troupe_arg_path(ctx, "marker", NULL);
    f->seed = (unsigned)getpid();
    return troupe_failed(ctx) ? TROUPE_ERROR : TROUPE_OK;
}

static void misbehave(const char *mode)
{
    if (!strcmp(mode, "segv"))
        raise(SIGSEGV);
    else if (!strcmp(mode, "abort"))
        abort();
    else if (!strcmp(mode, "exit"))
        _exit(3);
    else if (!strcmp(mode, "hang"))
        for (;;)
            pause();
}

/*  The oom mode: the next allocation of 1 MB or more on this thread fails,
    which is the group buffer growing to take the string. */
static int emit_without_memory(troupe_ctx_t *ctx)
{
    typedef void arm_fn(const char *fn, size_t min, size_t max, unsigned nth,
                        int this_thread);
    arm_fn *arm = (arm_fn *)dlsym(RTLD_DEFAULT, "failmalloc_arm");
    size_t size = 1 << 20;
    char *big = malloc(size);
    if (!arm || !big) {
        free(big);
        troupe_fail(ctx, "faulty: mode oom needs tests/failmalloc.so in LD_PRELOAD");
        return -1;
    }
    memset(big, 'x', size);
    arm("any", size, SIZE_MAX, 1, 1);
    troupe_emit_strn(ctx, big, size); /* not looked at, on purpose */
    arm("any", 0, 0, 0, 1);          /* disarmed, whatever happened */
    free(big);
    troupe_emit_int(ctx, 7);
    return 0;
}

static int faulty_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    faulty_t *f = troupe_state(ctx);
    bool now = f->chance > 0 && (double)rand_r(&f->seed) / RAND_MAX < f->chance;
    if (f->at >= 0 && (uint64_t)f->at == troupe_item_id(ctx)) {
        if (!f->marker)
            now = true;
        else {
            int fd = open(f->marker, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd >= 0) {
                close(fd);
                now = true;
            }
        }
    }
    if (now && strcmp(f->mode, "unended") && strcmp(f->mode, "overrun")
        && strcmp(f->mode, "oom") && strcmp(f->mode, "late")) {
        if (!strcmp(f->mode, "fail")) {
            troupe_fail(ctx, "faulty: item %llu failed on purpose",
                        (unsigned long long)troupe_item_id(ctx));
            return TROUPE_ERROR;
        }
        misbehave(f->mode);
    }
    uint64_t copies = f->copies >= 0 ? (uint64_t)f->copies
                      : f->fanout ? troupe_item_id(ctx) % (uint64_t)(f->fanout + 1)
                                  : 1;
    for (uint64_t i = 0; i < copies; i++)
        if (troupe_emit_object(ctx, value) < 0)
            return TROUPE_ERROR;
    if (now && !strcmp(f->mode, "late")) {
        troupe_fail(ctx, "faulty: item %llu failed on purpose, after its values",
                    (unsigned long long)troupe_item_id(ctx));
        return TROUPE_ERROR;
    }
    if (now && !strcmp(f->mode, "unended")) {
        msgpack_packer *pk = troupe_emit_begin(ctx);
        if (pk) {
            msgpack_pack_array(pk, 2); /* of which only one element comes */
            msgpack_pack_int(pk, 7);
        }
    }
    if (now && !strcmp(f->mode, "oom") && emit_without_memory(ctx) < 0)
        return TROUPE_ERROR;
    if (now && !strcmp(f->mode, "overrun")) {
        msgpack_packer *pk = troupe_emit_begin(ctx);
        if (pk) {
            msgpack_pack_int(pk, 7);
            troupe_emit_end(ctx);
            msgpack_pack_int(pk, 8); /* a bug: the packer kept after its end */
        }
    }
    return TROUPE_OK;
}

static void faulty_stop(troupe_ctx_t *ctx)
{
    free(troupe_state(ctx));
}

static const char *const faulty_args[] = { "mode", "chance", "fanout", "copies", "at",
                                           "marker", NULL };

TROUPE_MODULE(.name = "faulty", .summary = "misbehaves on purpose, for tests",
              .args = faulty_args, .start = faulty_start, .message = faulty_message,
              .stop = faulty_stop);

/*  host.h: the module context, shared by the host's files (internal.h) and
    the module-facing API (api.c). Modules see only the opaque troupe_ctx_t.
*/
#ifndef TR_HOST_H
#define TR_HOST_H

#include "wire/chan.h"
#include "wire/envelope.h"
#include "troupe.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *key;
    char *value;
} host_arg_t;

typedef struct {
    uint64_t items_in, items_out, batches_in; /* batches out: the outputs' */
    uint64_t failed, malformed, busy_ns;
    uint64_t held;  /* input batches received and not yet acknowledged */
    uint64_t total; /* a source's announced item count (0: not known) */
} host_stats_t;

/*  Maps and arrays opened inside one another, at most: what a batch
    carries. */
#define HOST_NEST_MAX ENV_MAX_DEPTH

struct _troupe_ctx_t {
    /* who */
    char *pipeline;
    char *actor;
    char *id; /* "actor#instance", our name to producers */
    unsigned instance, instances;
    unsigned batch;  /* a source's block of indexes: instances take turns */
    unsigned log;    /* how troupe_log's lines go: CONFIG's CTL_LOG_* */
    uint32_t origin; /* our actor index: items we make start here */
    const troupe_module_t *mod;
    void *state;
    host_arg_t *args;
    int nargs;
    char *base_dir;  /* the config file's folder */
    char **paths;    /* what troupe_arg_path made */
    int npaths;
    /* the group being emitted */
    bool in_hook;
    bool failed;
    char error[512];
    uint64_t item;
    msgpack_sbuffer group_sb;
    msgpack_packer group_pk;
    /* where the group's values go: group_sb, or with one plain output
       (direct_ok) that output's batch itself, from the group's first value
       on (chan_out_direct_open) */
    msgpack_sbuffer *gbuf;
    bool direct_ok;
    /* one keyed output: each value goes to its home's batch as it is
       emitted (chan_out_keyed_put), not split from the group at its end */
    bool keyed_put;
    uint32_t group_n;
    bool group_oom; /* a write into the group failed since the value began */
    bool emit_open; /* between troupe_emit_begin and _end */
    /* keys set by troupe_emit_key: keys[i] is value i's key hash, or 0
       (the channel's key); key_n values have one or 0; next_key is for
       the value emitted next */
    uint64_t *keys;
    uint32_t key_n;
    size_t keys_cap;
    uint64_t next_key;
    /* maps and arrays troupe_emit_map / _array opened, innermost last:
       the pieces each still needs; the outermost starts at nest_at */
    uint32_t nest_left[HOST_NEST_MAX];
    int nest;
    size_t nest_at;
    char topic[256]; /* troupe_set_topic's for this item; "": the actor's */
    size_t emit_at; /* where the value troupe_emit_begin opened starts */
    int wait_fd;    /* a source waits for this to be readable; -1: no */
    /* channels */
    chan_out_t **outs;
    int nouts;
    chan_in_t **ins;
    int nins;
    host_stats_t stats;
};

/*  This process's peak resident memory in kB (VmHWM). */
long host_peak_rss_kb(void);

/*  Clears the group buffer before a hook runs for one item. */
void host_group_reset(troupe_ctx_t *ctx);

/*  At the end of a hook: a value left half made (troupe_emit_begin without
    _end, a map or array short of pieces) is dropped. Returns false when
    the item must fail for it (a container short of pieces; the reason is
    in ctx->error). */
bool host_group_close(troupe_ctx_t *ctx);

/*  The group packer's write callback (data: the ctx): msgpack_sbuffer_write,
    noting a failure, which a module's own packing calls may not look at. */
int host_group_write(void *data, const char *buf, size_t len);

/*  Emits one value already packed (exactly one msgpack value, checked by
    the caller): the embedding API's items. */
int host_emit_packed(troupe_ctx_t *ctx, const void *data, size_t size);

#endif

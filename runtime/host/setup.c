/*  setup.c: set-up and tear-down: CONFIG taken into the host (module,
    arguments, outputs bound, CURVE, stdout, poison slot, the plan's parts,
    a restored checkpoint), inputs connected on START, and everything freed
    at the end.
*/
#define _GNU_SOURCE
#include "host/internal.h"
#include "base/rundir.h"
#include "wire/ctl.h"
#include "base/module.h"
#include "plan/plan.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *new_socket(void *zctx, int type)
{
    void *s = zmq_socket(zctx, type);
    if (!s)
        return NULL;
    int zero = 0, hwm = 100000, ivl = 10;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    return s;
}

/*  On a tcp run, bound sockets are CURVE servers made in the context zauth
    answers for (auth.c says why it must be czmq's). zauth starts before the
    first bind, so no peer ever meets a socket without it. */
static void *new_output_socket(host_t *h, char *err, size_t errlen)
{
    if (!h->curve_secret)
        return new_socket(h->zctx, ZMQ_ROUTER);
    if (!h->auth && !(h->auth = auth_new(h->allow_dir, err, errlen)))
        return NULL;
    void *sock = new_socket(auth_zctx(h->auth), ZMQ_ROUTER);
    if (sock && auth_set_server(sock, h->curve_secret) != 0) {
        snprintf(err, errlen, "cannot make a CURVE server: %s", zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/*  Binds sock at endpoint; a tcp endpoint whose port is '*' takes a port
    from ports [lo, hi] when the run has a range (--data-ports), trying
    each in turn from one that depends on the pid, so that instances
    starting together mostly try different ones first. libzmq has no
    ranges of its own (czmq's zsock_bind has, but actors do not link
    czmq: supervisor/actor_process.c says why). */
static int bind_output(void *sock, const char *name, const char *endpoint,
                       const msgpack_object *ports, char *err, size_t errlen)
{
    size_t len = strlen(endpoint);
    uint64_t lo = ports && ports->type == MSGPACK_OBJECT_ARRAY && ports->via.array.size == 2
                      && ports->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                      ? ports->via.array.ptr[0].via.u64 : 0;
    uint64_t hi = lo && ports->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
                      ? ports->via.array.ptr[1].via.u64 : 0;
    if (!lo || hi < lo || hi > 65535 || strncmp(endpoint, "tcp://", 6) || len < 8
        || strcmp(endpoint + len - 2, ":*")) {
        int rc = zmq_bind(sock, endpoint);
        if (rc != 0)
            snprintf(err, errlen, "cannot bind output '%s' at %s: %s", name, endpoint,
                     zmq_strerror(errno));
        return rc;
    }
    uint64_t n = hi - lo + 1, first = (uint64_t)getpid() % n;
    char ep[300];
    for (uint64_t k = 0; k < n; k++) {
        snprintf(ep, sizeof ep, "%.*s:%llu", (int)(len - 2), endpoint,
                 (unsigned long long)(lo + (first + k) % n));
        if (zmq_bind(sock, ep) == 0)
            return 0;
        if (errno != EADDRINUSE) {
            snprintf(err, errlen, "cannot bind output '%s' at %s: %s", name, ep,
                     zmq_strerror(errno));
            return -1;
        }
    }
    snprintf(err, errlen, "cannot bind output '%s' at %s: every port from %llu to %llu "
             "(--data-ports) is taken", name, endpoint, (unsigned long long)lo,
             (unsigned long long)hi);
    return -1;
}

/*  How an output picks a batch's consumer, from its CONFIG map `o`: by
    credit, or a homed pipe's home (an exact reader's: "home_actor"), or a
    keyed channel's owner of each key ("keyed_actor", "key"). 0, or -1 out
    of memory. */
static int route_output(chan_out_t *out, const msgpack_object *o)
{
    char *home_actor = ctl_map_str(o, "home_actor");
    char *keyed_actor = ctl_map_str(o, "keyed_actor");
    char *key = ctl_map_str(o, "key");
    int rc = 0;
    if (home_actor)
        rc = chan_out_home(out, (unsigned)ctl_map_u64(o, "home", 0), home_actor,
                           ctl_map_u64(o, "block", 0));
    else if (keyed_actor)
        rc = chan_out_keyed(out, (unsigned)ctl_map_u64(o, "keyed", 0), keyed_actor, key);
    free(home_actor);
    free(keyed_actor);
    free(key);
    return rc;
}

static int setup_outputs(host_t *h, const msgpack_object *list, char *err,
                         size_t errlen)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    h->ctx.outs = calloc(list->via.array.size + 1, sizeof *h->ctx.outs);
    if (!h->ctx.outs) {
        snprintf(err, errlen, "out of memory for %u outputs", list->via.array.size);
        return -1;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char *name = ctl_map_str(o, "name");
        char *endpoint = ctl_map_str(o, "endpoint");
        char *topic = ctl_map_str(o, "topic");
        bool broadcast = ctl_map_bool(o, "broadcast", false);
        void *sock = new_output_socket(h, err, errlen);
        int one = 1;
        int rc = -1;
        if (sock && name && endpoint) {
            zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
            rc = bind_output(sock, name, endpoint, ctl_map_get(o, "ports"), err, errlen);
        }
        chan_out_t *out = NULL;
        if (rc == 0) {
            out = chan_out_new((int)ctl_map_u64(o, "chan", 0), name, broadcast,
                               topic, sock, h->window,
                               (uint64_t)h->incarnation << 40);
            sock = NULL;
        }
        if (out && route_output(out, o) < 0)
            chan_out_destroy(&out);
        if (out) {
            out->on_acked = host_on_out_acked;
            out->acked_arg = h;
            out->ordered = ctl_map_bool(o, "ordered", false);
            const msgpack_object *exp = ctl_map_get(o, "expect");
            for (uint32_t j = 0; exp && exp->type == MSGPACK_OBJECT_ARRAY
                                 && j < exp->via.array.size;
                 j++) {
                char *cn = ctl_map_str(&exp->via.array.ptr[j], "consumer");
                char *pre = ctl_map_str(&exp->via.array.ptr[j], "prefix");
                if (cn && chan_out_expect(out, cn, pre ? pre : "") < 0)
                    snprintf(err, errlen, "too many subscribers on '%s'", name);
                free(cn);
                free(pre);
            }
            h->keyed_outs |= out->keyed;
            h->broadcast_outs |= out->broadcast;
            h->ctx.outs[h->ctx.nouts++] = out;
        }
        if (sock)
            zmq_close(sock);
        free(name);
        free(endpoint);
        free(topic);
        if (!out) {
            if (!*err)
                snprintf(err, errlen, "cannot set up an output: %s",
                         zmq_strerror(errno));
            return -1;
        }
    }
    /* one plain output: a hook's values go straight into its batches */
    h->ctx.direct_ok = h->ctx.nouts == 1 && !h->ctx.outs[0]->keyed
                       && !h->ctx.outs[0]->broadcast;
    /* one keyed output: each value to its home's batch as it comes */
    h->ctx.keyed_put = h->ctx.nouts == 1 && h->ctx.outs[0]->keyed;
    return 0;
}

int host_setup_inputs(host_t *h, const msgpack_object *list, char *err,
                        size_t errlen)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    h->ctx.ins = calloc(list->via.array.size + 1, sizeof *h->ctx.ins);
    if (!h->ctx.ins) {
        snprintf(err, errlen, "out of memory for %u inputs", list->via.array.size);
        return -1;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char *endpoint = ctl_map_str(o, "endpoint");
        char *sub = ctl_map_str(o, "subscribe");
        char *producer = ctl_map_str(o, "producer");
        char *server_key = ctl_map_str(o, "server_key");
        void *sock = new_socket(h->zctx, ZMQ_DEALER);
        chan_in_t *in = NULL;
        /* on a tcp run, never a connection in the clear: a producer
           without a key is an error, not a plain socket */
        bool curve_ok = !h->curve_public
                        || auth_set_client(sock, h->curve_public, h->curve_secret,
                                           server_key ? server_key : "")
                               == 0;
        if (sock && endpoint && !curve_ok)
            snprintf(err, errlen, "no good CURVE key for producer %s",
                     producer ? producer : endpoint);
        else if (sock && endpoint) {
            zmq_setsockopt(sock, ZMQ_ROUTING_ID, h->rid, strlen(h->rid));
            if (zmq_connect(sock, endpoint) == 0) {
                in = chan_in_new(sock, endpoint, h->ctx.id, h->credit,
                                 sub ? sub : "");
                if (in) {
                    sock = NULL;
                    in->producer = producer;
                    producer = NULL;
                    in->chan = (int)ctl_map_u64(o, "chan", 0);
                    if (ctl_map_bool(o, "broadcast", false) || ctl_map_bool(o, "keyed", false))
                        in->branch = (int)h->ctx.instance;
                }
            }
        }
        if (!in && !*err)
            snprintf(err, errlen, "cannot connect input %s: %s",
                     endpoint ? endpoint : "?", zmq_strerror(errno));
        if (sock)
            zmq_close(sock);
        free(endpoint);
        free(sub);
        free(producer);
        free(server_key);
        if (!in)
            return -1;
        h->ctx.ins[h->ctx.nins++] = in;
    }
    return 0;
}

/*  "curve" in CONFIG: {public, secret, allow, allow_dir}. The actor uses
    the folder, which holds the allowed keys as zcert public certificates,
    since that is what zauth reads; "allow" lists the same keys. */
static int take_curve(host_t *h, const msgpack_object *curve, char *err, size_t errlen)
{
    h->curve_public = ctl_map_str(curve, "public");
    h->curve_secret = ctl_map_str(curve, "secret");
    h->allow_dir = ctl_map_str(curve, "allow_dir");
    if (!auth_key_ok(h->curve_public) || !auth_key_ok(h->curve_secret)) {
        snprintf(err, errlen, "the config's CURVE keys are not Z85 keys");
        return -1;
    }
    if (h->allow_dir && access(h->allow_dir, R_OK | X_OK) == 0)
        return 0;
    /* the supervisor's folder is on another machine (an instance a node
       runs): write the same keys into a private folder of our own */
    const msgpack_object *allow = ctl_map_get(curve, "allow");
    if (!allow || allow->type != MSGPACK_OBJECT_ARRAY || !allow->via.array.size) {
        snprintf(err, errlen, "the config's CURVE allowlist is empty");
        return -1;
    }
    uint32_t n = allow->via.array.size;
    char **keys = calloc(n, sizeof *keys);
    char dir[128];
    int rc = keys && rundir_make("troupe-allow", dir, sizeof dir) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "cannot make an allowlist folder in %s: %s", rundir_base(),
                 strerror(errno));
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        if (!(keys[i] = strndup(allow->via.array.ptr[i].via.str.ptr,
                                allow->via.array.ptr[i].type == MSGPACK_OBJECT_STR
                                    ? allow->via.array.ptr[i].via.str.size
                                    : 0)))
            rc = -1;
    char sub[160];
    snprintf(sub, sizeof sub, "%s/allow", dir);
    if (rc == 0
        && auth_allow_write(sub, (const char *const *)keys, (int)n, err, errlen) == 0) {
        free(h->allow_dir);
        h->allow_dir = strdup(sub);
        h->own_allow = strdup(dir);
        h->own_nallow = (int)n;
    }
    else if (rc == 0) {
        rmdir(dir);
        rc = -1;
    }
    for (uint32_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    return rc == 0 && h->allow_dir && h->own_allow ? 0 : -1;
}

/*  "stdout": a sink's stdout goes to this file of the run directory, from
    which the supervisor copies what each checkpoint commits to the run's
    real stdout: what a sink wrote for items no checkpoint covers is
    dropped when it dies, and written again by its successor. */
static int take_stdout(host_t *h, const msgpack_object *cfg, char *err, size_t errlen)
{
    char *path = ctl_map_str(cfg, "stdout");
    if (!path) {
        /* or it writes the run's stdout itself, a regular file that the
           supervisor cuts back to its last checkpoint when it dies */
        h->out_file = ctl_map_bool(cfg, "stdout_direct", false);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || (fd != STDOUT_FILENO && dup2(fd, STDOUT_FILENO) < 0)) {
        snprintf(err, errlen, "cannot open the run's output file %s: %s", path,
                 strerror(errno));
        free(path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd != STDOUT_FILENO)
        close(fd);
    free(path);
    h->out_file = true;
    return 0;
}

/*  "items" and "item_slot": where this instance says what it handles. */
static void take_slot(host_t *h, const msgpack_object *cfg)
{
    char *path = ctl_map_str(cfg, "items");
    const msgpack_object *at = ctl_map_get(cfg, "item_slot");
    int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
    free(path);
    struct stat st;
    if (fd < 0 || !at || at->type != MSGPACK_OBJECT_POSITIVE_INTEGER || fstat(fd, &st) < 0
        || (uint64_t)st.st_size < (at->via.u64 + 1) * sizeof(poison_slot_t)) {
        if (fd >= 0)
            close(fd);
        return; /* a node's instance, or an old supervisor: no slot */
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return;
    h->slots_map = map;
    h->slots_len = (size_t)st.st_size;
    h->slot = (poison_slot_t *)map + at->via.u64;
}

/*  CONFIG's parts of the plan (plan/plan.h's codec): the pipeline's fields
    and the actor's. The module's path goes to *path (the caller's). */
static int take_plan(host_t *h, const msgpack_object *cfg, char **path)
{
    troupe_ctx_t *ctx = &h->ctx;
    plan_t pipe;
    memset(&pipe, 0, sizeof pipe);
    plan_defaults(&pipe);
    plan_actor_t a;
    plan_actor_init(&a, NULL);
    bool ok = plan_unpack_pipeline(ctl_map_get(cfg, "pipeline"), &pipe)
              && plan_unpack_actor(ctl_map_get(cfg, "actor"), &a, INT32_MAX)
              && a.module_path;
    if (ok) {
        ctx->pipeline = pipe.name;
        ctx->base_dir = pipe.dir;
        ctx->actor = a.name;
        *path = a.module_path;
        pipe.name = pipe.dir = a.name = a.module_path = NULL;
        ctx->instances = a.instances;
        h->batch = ctx->batch = pipe.batch; /* ctx's: for troupe_index_share */
        h->window = pipe.window;
        h->credit = pipe.credit;
        h->names = pipe.names;
        h->ordered = a.ordered > 0;
        h->retries = a.retries;
        h->retire_after = a.retire_after;
        ok = (ctx->args = calloc((size_t)a.nargs + 1, sizeof *ctx->args)) != NULL;
        for (int i = 0; ok && i < a.nargs; i++) {
            ctx->args[ctx->nargs++] = (host_arg_t){ a.args[i].key, a.args[i].value };
            a.args[i].key = a.args[i].value = NULL;
        }
    }
    free(pipe.name);
    free(pipe.file);
    free(pipe.dir);
    free(pipe.rundir);
    free(pipe.tcp_host);
    plan_actor_clear(&a);
    return ok ? 0 : -1;
}

/*  "restore": the last checkpoint of this instance's predecessor, as it
    packed it: the module's state, the items it had taken, how far an
    ordered actor had handed its input on. */
static int take_restore(host_t *h, const msgpack_object *r, char *err, size_t errlen)
{
    troupe_ctx_t *ctx = &h->ctx;
    const msgpack_object *seen = ctl_map_get(r, "seen");
    if (seen && seen_unpack(&h->seen, seen) < 0) {
        snprintf(err, errlen, "the checkpoint to resume from is damaged (seen)");
        return -1;
    }
    const msgpack_object *order = ctl_map_get(r, "order");
    for (uint32_t i = 0; order && order->type == MSGPACK_OBJECT_ARRAY
                         && i < order->via.array.size; i++) {
        const msgpack_object *e = &order->via.array.ptr[i];
        order_t *o;
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2
            || e->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || e->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || !(o = host_order_for(h, (uint32_t)e->via.array.ptr[0].via.u64))) {
            snprintf(err, errlen, "the checkpoint to resume from is damaged (order)");
            return -1;
        }
        o->next_seq = e->via.array.ptr[1].via.u64;
    }
    const msgpack_object *held = ctl_map_get(r, "held");
    for (uint32_t i = 0; held && held->type == MSGPACK_OBJECT_ARRAY
                         && i < held->via.array.size; i++) {
        const msgpack_object *f = &held->via.array.ptr[i];
        zmq_msg_t msg;
        env_batch_t b;
        msgpack_zone zone;
        msgpack_object root;
        msgpack_zone_init(&zone, 4096);
        bool ok = f->type == MSGPACK_OBJECT_BIN
                  && env_decode(f->via.bin.ptr, f->via.bin.size, &zone, &root) == ENV_OK
                  && env_batch_view(&root, &b) == ENV_OK;
        order_t *o = ok ? host_order_for(h, b.origin) : NULL;
        msgpack_zone_destroy(&zone);
        if (!o || zmq_msg_init_size(&msg, f->via.bin.size) != 0) {
            snprintf(err, errlen, "the checkpoint to resume from is damaged (held)");
            return -1;
        }
        memcpy(zmq_msg_data(&msg), f->via.bin.ptr, f->via.bin.size);
        struct held *x = host_order_hold(h, o, &msg, &b);
        zmq_msg_close(&msg);
        if (!x) {
            snprintf(err, errlen, "out of memory for what the checkpoint holds");
            return -1;
        }
    }
    /* its predecessor died after the checkpoint that followed its flush
       (between that and DONE): what the flush made is in the checkpoint's
       output, or acknowledged downstream, and is not made twice */
    const msgpack_object *flushed = ctl_map_get(r, "flushed");
    if (flushed && flushed->type == MSGPACK_OBJECT_BOOLEAN && flushed->via.boolean)
        h->flushed = h->flush_settled = true;
    const msgpack_object *state = ctl_map_get(r, "state");
    troupe_restore_fn *fn = module_restore(ctx->mod);
    if (!state || state->type == MSGPACK_OBJECT_NIL || !fn)
        return 0;
    host_group_reset(ctx);
    int rc = fn(ctx, state);
    if (rc == TROUPE_ERROR || ctx->failed) {
        snprintf(err, errlen, "restore failed: %.400s",
                 ctx->failed ? ctx->error : "(no message given)");
        return -1;
    }
    return 0;
}

int host_take_config(host_t *h, const msgpack_object *cfg, char *err,
                       size_t errlen)
{
    troupe_ctx_t *ctx = &h->ctx;
    char *path = NULL;
    if (take_plan(h, cfg, &path) < 0) {
        snprintf(err, errlen, "incomplete config from the supervisor");
        free(path);
        return -1;
    }
    ctx->origin = (uint32_t)ctl_map_u64(cfg, "index", 0);
    ctx->instance = (unsigned)ctl_map_u64(cfg, "instance", 0);
    ctx->log = (unsigned)ctl_map_u64(cfg, "log", 0);
    h->incarnation = (unsigned)ctl_map_u64(cfg, "incarnation", 0);
    const msgpack_object *curve = ctl_map_get(cfg, "curve");
    if (curve && take_curve(h, curve, err, errlen) < 0) {
        free(path);
        return -1;
    }
    char id[256];
    snprintf(id, sizeof id, "%s#%u", ctx->actor, ctx->instance);
    ctx->id = strdup(id);
    if (h->embed) {
        ctx->mod = h->embed->module;
        ctx->state = h->embed->arg;
    }
    else
        ctx->mod = module_load(path, &h->dl, err, errlen);
    free(path);
    if (!ctx->mod)
        return -1;
    h->ckpt_on = !h->embed && ctl_map_bool(cfg, "checkpoint", false);
    char *ckpt_path = h->ckpt_on ? ctl_map_str(cfg, "ckpt_file") : NULL;
    if (ckpt_path) {
        h->ckpt_fd = open(ckpt_path, O_RDWR | O_CLOEXEC);
        /* its predecessor's last checkpoint stays until ours replaces it */
        if (h->ckpt_fd >= 0 && ckpt_file_head(h->ckpt_fd, &h->ckpt_head) < 0)
            h->ckpt_head = (ckpt_head_t){ 0 };
        free(ckpt_path);
    }
    take_slot(h, cfg);
    const msgpack_object *poison = ctl_map_get(cfg, "poison");
    for (uint32_t i = 0; poison && poison->type == MSGPACK_OBJECT_ARRAY
                         && i < poison->via.array.size; i++)
        host_take_poison(h, &poison->via.array.ptr[i], 0);
    if (take_stdout(h, cfg, err, errlen) < 0)
        return -1;
    if (ctx->mod->start) {
        host_group_reset(ctx);
        int rc = ctx->mod->start(ctx);
        if (rc == TROUPE_ERROR || ctx->failed) {
            snprintf(err, errlen, "%s", ctx->failed ? ctx->error : "start failed");
            return -1;
        }
    }
    if (setup_outputs(h, ctl_map_get(cfg, "outputs"), err, errlen) < 0)
        return -1;
    /* An item sent again after a crash must not count twice where it leaves
       a mark: in a module's state, or out of the pipeline. An ordered actor
       drops repeats by their place in the order instead. */
    h->dedup = !h->ordered
               && (ctl_map_bool(cfg, "exact", false)
                   || (ctx->mod->flags & TROUPE_STATEFUL) || ctx->nouts == 0);
    const msgpack_object *restore = ctl_map_get(cfg, "restore");
    if (restore && take_restore(h, restore, err, errlen) < 0)
        return -1;
    /* inputs are connected on START, once every producer has bound */
    return 0;
}

/*  The module's stop hook, once. */
static void stop_module(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    if (ctx->mod && ctx->mod->stop && !h->mod_stopped)
        ctx->mod->stop(ctx);
    h->mod_stopped = true;
}

/*  What would outlive the process: the module's stop hook (its files,
    its output) and an allowlist folder of ours. */
static void undo_outside(host_t *h)
{
    stop_module(h);
    if (h->own_allow) {
        auth_allow_remove(h->allow_dir, h->own_nallow);
        rmdir(h->own_allow);
        free(h->own_allow);
        h->own_allow = NULL;
    }
}

void host_end_process(host_t *h, int rc)
{
    const char *clean = getenv("TROUPE_CLEAN_EXIT");
    if (h->embed || (clean && *clean))
        return;
    undo_outside(h);
    fflush(NULL);
    _exit(rc);
}

void host_free(host_t *h)
{
    troupe_ctx_t *ctx = &h->ctx;
    stop_module(h);
    for (int i = 0; i < ctx->nouts; i++)
        chan_out_destroy(&ctx->outs[i]);
    /* after the outputs: czmq's context ends with zauth, and waits for
       every socket in it to be closed */
    auth_destroy(&h->auth);
    undo_outside(h);
    for (int i = 0; i < ctx->nins; i++)
        chan_in_destroy(&ctx->ins[i]);
    free(ctx->outs);
    free(ctx->ins);
    for (int i = 0; i < h->norders; i++)
        while (h->orders[i].list) {
            held_t *x = h->orders[i].list;
            h->orders[i].list = x->next;
            zmq_msg_close(&x->msg);
            free(x);
        }
    free(h->orders);
    while (h->free_held) {
        held_t *x = h->free_held;
        h->free_held = x->next;
        free(x);
    }
    seen_clear(&h->seen);
    ckpt_fini(&h->ckpt);
    if (h->slots_map)
        munmap(h->slots_map, h->slots_len);
    if (h->ckpt_fd >= 0)
        close(h->ckpt_fd);
    msgpack_sbuffer_destroy(&h->ckpt_map);
    for (int i = 0; i < h->npoison; i++)
        free(h->poison[i].text);
    free(h->poison);
    while (h->made_recs) { /* stopped early, some may still be held */
        inrec_t *r = h->made_recs;
        h->made_recs = r->next_made;
        free(r);
    }
    for (int i = 0; i < ctx->nargs; i++) {
        free(ctx->args[i].key);
        free(ctx->args[i].value);
    }
    free(ctx->args);
    for (int i = 0; i < ctx->npaths; i++)
        free(ctx->paths[i]);
    free(ctx->paths);
    free(ctx->keys);
    free(ctx->base_dir);
    free(ctx->pipeline);
    free(ctx->actor);
    free(ctx->id);
    msgpack_sbuffer_destroy(&ctx->group_sb);
    msgpack_zone_destroy(&h->zone);
    if (h->ctl_zone.chunk_list.head)
        msgpack_zone_destroy(&h->ctl_zone);
    if (h->ctl)
        zmq_close(h->ctl);
    if (h->zctx)
        zmq_ctx_term(h->zctx);
    if (h->dl)
        dlclose(h->dl);
    free(h->rid);
    if (h->curve_secret)
        explicit_bzero(h->curve_secret, strlen(h->curve_secret));
    free(h->curve_secret);
    free(h->curve_public);
    free(h->allow_dir);
}

/*  The host's state before it hears from anyone: 0, or -1 (said with
    host_say) when even a zmq socket cannot be made. host_free frees it in
    both cases. */
int host_init(host_t *h, const char *id, const actor_embed_t *embed)
{
    memset(h, 0, sizeof *h);
    h->embed = embed;
    msgpack_sbuffer_init(&h->ctx.group_sb);
    msgpack_packer_init(&h->ctx.group_pk, &h->ctx, host_group_write);
    h->ctx.gbuf = &h->ctx.group_sb;
    msgpack_zone_init(&h->zone, ZONE_FIRST);
    h->zone_size = ZONE_FIRST;
    h->zone_first = h->zone.chunk_list.head;
    h->ctx.wait_fd = -1;
    h->ckpt_fd = -1;
    msgpack_sbuffer_init(&h->ckpt_map);
    msgpack_zone_init(&h->ctl_zone, 1024);
    h->rid = strdup(id);
    h->zctx = zmq_ctx_new();
    h->ctl = h->zctx ? zmq_socket(h->zctx, ZMQ_DEALER) : NULL;
    if (!h->ctl || !h->rid || !h->ctl_zone.chunk_list.head) {
        host_say(h, "cannot make a zmq socket: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

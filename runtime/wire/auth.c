/*  auth.c: CURVE on a run's tcp sockets. The supervisor makes the run's key
    pair (czmq's zcert) and writes the allowlist folder; a producer's bound
    sockets are CURVE servers whose clients czmq's zauth admits by that
    folder; a consumer's sockets are CURVE clients. czmq is dlopen()ed, by
    its soname found at build time, and only here: troupe-actor is built
    without it (1.2 MB and 0.6 ms per actor, docs/ARCHITECTURE.md), so an
    ipc run never maps it, and neither does an actor that binds nothing (a
    CURVE client needs libzmq alone).

    Why the sockets a zauth guards are made in czmq's own zmq context: zauth
    is a czmq actor whose ZAP handler is a REP socket bound, with zsock_new,
    at inproc://zeromq.zap.01 in czmq's process-wide context (the one
    zsys_init () makes and returns). libzmq looks for the ZAP handler of a
    socket in that socket's context only (inproc endpoints are per
    context), and when it finds none it admits every CURVE client that
    knows the server's public key (the "Stonehouse" legacy). So a socket
    made in the actor's own context (zmq_ctx_new) would be encrypted but
    open to anyone: exactly what must not happen. Of the ways out, a ZAP
    handler of our own in our context (it would not be czmq's, which also
    reads the allowlist folders `troupe keygen` makes) and making czmq's
    context the actor's only one (the control socket exists before CONFIG
    says whether the run is on tcp, and an ipc run would pay for czmq), the
    choice is neither: the ROUTERs of a tcp run are made in zsys_init ()'s
    context, beside zauth, and everything else (the control socket, the
    consumers' DEALERs) stays in the actor's own. zmq_poll takes sockets of
    both contexts in one call.

    czmq would catch SIGINT and SIGTERM to set its zsys_interrupted flag: an
    actor must ignore the first and die of the second, so its handlers are
    turned off before zsys_init. czmq is never dlclose()d: it registers an
    atexit handler (zsys_shutdown).

    zauth runs on a thread of ours rather than in a zactor: zactor_destroy
    returns before its detached thread has closed its end of the pipe, and
    zsys_shutdown, finding a socket still open, then sleeps 200 ms; about
    one actor exit in three paid that (measured), and so did every run.
    Our thread runs zauth (a zactor_fn) on a pipe from zsys_create_pipe,
    closes its end, and is joined before czmq's context ends.
*/
#include "wire/auth.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#ifndef TROUPE_CZMQ_SONAME
#define TROUPE_CZMQ_SONAME "libczmq.so.4"
#endif

/*  libzmq 4.3's draft option (zmq.h has it only with ZMQ_BUILD_DRAFT_API):
    a socket with a ZAP domain refuses every peer when no ZAP handler
    answers, instead of admitting them all. A libzmq without it says
    EINVAL, and then zauth being up before the bind is the only guard. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

/* ==== czmq, loaded on first use ================================================ */

/*  The few czmq calls troupe makes, with czmq's types made opaque: zcert_t,
    zactor_t and zsock_t are all `void *` here. */
typedef struct {
    void *(*zcert_new)(void);
    void *(*zcert_load)(const char *filename);
    void *(*zcert_new_from)(const unsigned char *public_key,
                            const unsigned char *secret_key);
    const char *(*zcert_public_txt)(void *cert);
    const char *(*zcert_secret_txt)(void *cert);
    int (*zcert_save_public)(void *cert, const char *filename);
    void (*zcert_destroy)(void **cert_p);
    void (*zsys_handler_set)(void (*handler)(int));
    void *(*zsys_init)(void);
    void (*zsys_shutdown)(void);
    void *(*zsys_create_pipe)(void **backend_p);
    void (*zsock_destroy)(void **sock_p);
    int (*zstr_sendx)(void *dest, const char *string, ...);
    int (*zsock_wait)(void *self);
    void (*zauth)(void *pipe, void *certstore);
} czmq_t;

static czmq_t czmq;
static char czmq_error[512];
static pthread_once_t czmq_once = PTHREAD_ONCE_INIT;

static void czmq_open(void)
{
    void *dl = dlopen(TROUPE_CZMQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(czmq_error, sizeof czmq_error, "CURVE needs czmq (%s): %s",
                 TROUPE_CZMQ_SONAME, dlerror());
        return;
    }
    const char *missing = NULL;
#define CZMQ_SYM(name)                                                  \
    if (!missing && !(czmq.name = (__typeof__(czmq.name))dlsym(dl, #name))) \
        missing = #name;
    CZMQ_SYM(zcert_new)
    CZMQ_SYM(zcert_load)
    CZMQ_SYM(zcert_new_from)
    CZMQ_SYM(zcert_public_txt)
    CZMQ_SYM(zcert_secret_txt)
    CZMQ_SYM(zcert_save_public)
    CZMQ_SYM(zcert_destroy)
    CZMQ_SYM(zsys_handler_set)
    CZMQ_SYM(zsys_init)
    CZMQ_SYM(zsys_shutdown)
    CZMQ_SYM(zsys_create_pipe)
    CZMQ_SYM(zsock_destroy)
    CZMQ_SYM(zstr_sendx)
    CZMQ_SYM(zsock_wait)
    CZMQ_SYM(zauth)
#undef CZMQ_SYM
    if (missing) {
        snprintf(czmq_error, sizeof czmq_error, "CURVE needs czmq: %s has no %s",
                 TROUPE_CZMQ_SONAME, missing);
        memset(&czmq, 0, sizeof czmq);
    }
}

/*  czmq's calls, or NULL with the reason in err. */
static const czmq_t *czmq_get(char *err, size_t errlen)
{
    pthread_once(&czmq_once, czmq_open);
    if (!czmq.zauth) {
        snprintf(err, errlen, "%s", czmq_error);
        return NULL;
    }
    return &czmq;
}

/* ==== keys ================================================================== */

bool auth_key_ok(const char *s)
{
    uint8_t bin[32];
    return s && strlen(s) == 40 && zmq_z85_decode(bin, s) != NULL;
}

int auth_keys_new(auth_keys_t *keys, char *err, size_t errlen)
{
    const czmq_t *z = czmq_get(err, errlen);
    if (!z)
        return -1;
    void *cert = z->zcert_new();
    if (!cert) {
        snprintf(err, errlen, "cannot make a CURVE key pair (zcert_new)");
        return -1;
    }
    snprintf(keys->public_txt, sizeof keys->public_txt, "%s", z->zcert_public_txt(cert));
    snprintf(keys->secret_txt, sizeof keys->secret_txt, "%s", z->zcert_secret_txt(cert));
    z->zcert_destroy(&cert);
    return 0;
}

int auth_keys_load(const char *path, auth_keys_t *keys, bool need_secret, char *err,
                   size_t errlen)
{
    memset(keys, 0, sizeof *keys);
    const czmq_t *z = czmq_get(err, errlen);
    if (!z)
        return -1;
    /* zcert_load says nothing of why it failed: a missing file is the
       likely reason, and a more useful message */
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "cannot read the key file %s: %s", path, strerror(errno));
        return -1;
    }
    /* zcert_load reads PATH_secret first when it exists, else PATH */
    void *cert = z->zcert_load(path);
    if (!cert) {
        snprintf(err, errlen, "%s is not a certificate (troupe keygen makes them)", path);
        return -1;
    }
    snprintf(keys->public_txt, sizeof keys->public_txt, "%s", z->zcert_public_txt(cert));
    snprintf(keys->secret_txt, sizeof keys->secret_txt, "%s", z->zcert_secret_txt(cert));
    z->zcert_destroy(&cert);
    if (!auth_key_ok(keys->public_txt)) {
        snprintf(err, errlen, "%s holds no valid public key", path);
        auth_keys_clear(keys);
        return -1;
    }
    /* a public certificate loads with a secret key of zeros */
    uint8_t bin[32], zero[32] = { 0 };
    bool has_secret = auth_key_ok(keys->secret_txt)
                   && memcmp(zmq_z85_decode(bin, keys->secret_txt), zero, 32) != 0;
    if (need_secret && !has_secret) {
        snprintf(err, errlen, "%s holds no secret key: give the secret certificate "
                 "(NAME_secret, as troupe keygen writes it)", path);
        auth_keys_clear(keys);
        return -1;
    }
    if (!need_secret)
        auth_keys_clear(keys);
    explicit_bzero(bin, sizeof bin);
    return 0;
}

void auth_keys_clear(auth_keys_t *keys)
{
    explicit_bzero(keys->secret_txt, sizeof keys->secret_txt);
}

/* ==== the allowlist folder =================================================== */

static void allow_path(const char *dir, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/key-%d", dir, i);
}

void auth_allow_remove(const char *dir, int n)
{
    char path[PATH_MAX];
    for (int i = 0; i < n; i++) {
        allow_path(dir, i, path, sizeof path);
        unlink(path);
    }
    rmdir(dir);
}

int auth_allow_write(const char *dir, const char *const *allow, int n, char *err,
                     size_t errlen)
{
    const czmq_t *z = czmq_get(err, errlen);
    if (!z)
        return -1;
    /* a new folder of our own: nobody else's certificate can be in it */
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot make the allowlist folder %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        /* a public certificate carries no secret: zcert_save_public writes
           only the public key, so the secret given here is never read */
        uint8_t pub[32], none[32] = { 0 };
        char path[PATH_MAX];
        allow_path(dir, i, path, sizeof path);
        if (!auth_key_ok(allow[i])) {
            snprintf(err, errlen, "allowlist entry %d is not a Z85 key", i);
            auth_allow_remove(dir, i);
            return -1;
        }
        zmq_z85_decode(pub, allow[i]);
        void *cert = z->zcert_new_from(pub, none);
        errno = 0;
        int rc = cert ? z->zcert_save_public(cert, path) : -1;
        int e = errno;
        z->zcert_destroy(&cert);
        if (rc != 0) {
            snprintf(err, errlen, "cannot write allowlist entry %s: %s", path,
                     e ? strerror(e) : "zcert_save_public failed");
            auth_allow_remove(dir, i + 1);
            return -1;
        }
    }
    return 0;
}

/* ==== zauth ================================================================= */

struct auth {
    void *zctx;           /* czmq's context */
    void *pipe, *backend; /* zsock_t: ours, and zauth's until it ends */
    pthread_t thread;
    bool running;
};

static void *zauth_thread(void *arg)
{
    auth_t *self = arg;
    czmq.zauth(self->backend, NULL); /* until $TERM */
    czmq.zsock_destroy(&self->backend);
    return NULL;
}

auth_t *auth_new(const char *allow_dir, char *err, size_t errlen)
{
    const czmq_t *z = czmq_get(err, errlen);
    if (!z)
        return NULL;
    /* zauth reads a folder that is not there as an empty allowlist, which
       would refuse everyone without saying why */
    struct stat st;
    if (!allow_dir || stat(allow_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "no CURVE allowlist folder at %s",
                 allow_dir ? allow_dir : "(none given)");
        return NULL;
    }
    auth_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    z->zsys_handler_set(NULL);
    self->zctx = z->zsys_init();
    if (self->zctx)
        self->pipe = z->zsys_create_pipe(&self->backend);
    if (self->pipe) {
        /* the thread takes no signal: a process that blocks its signals
           to read them from a signalfd (the supervisor) would otherwise
           die of one delivered here */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        self->running = pthread_create(&self->thread, NULL, zauth_thread, self) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    /* zauth signals once its handler is bound, and again once it has read
       the folder */
    if (!self->running || z->zsock_wait(self->pipe) != 0
        || z->zstr_sendx(self->pipe, "CURVE", allow_dir, NULL) != 0
        || z->zsock_wait(self->pipe) != 0) {
        snprintf(err, errlen, "cannot start czmq's zauth");
        auth_destroy(&self);
        return NULL;
    }
    return self;
}

void *auth_zctx(const auth_t *self)
{
    return self->zctx;
}

void auth_destroy(auth_t **self_p)
{
    auth_t *self = *self_p;
    if (!self)
        return;
    if (self->running) {
        czmq.zstr_sendx(self->pipe, "$TERM", NULL);
        pthread_join(self->thread, NULL);
    }
    else if (self->backend)
        czmq.zsock_destroy(&self->backend);
    if (self->pipe)
        czmq.zsock_destroy(&self->pipe);
    /* what atexit would do, done now while we know every socket of the
       context is closed: zmq_ctx_term waits for any that is not */
    if (self->zctx)
        czmq.zsys_shutdown();
    free(self);
    *self_p = NULL;
}

/* ==== sockets ================================================================ */

int auth_set_server(void *sock, const char *secret_txt)
{
    int one = 1;
    if (!auth_key_ok(secret_txt)) {
        errno = EINVAL;
        return -1;
    }
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN, strlen(AUTH_DOMAIN)) != 0
        || zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_txt, 40) != 0)
        return -1;
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0
        && errno != EINVAL)
        return -1;
    return 0;
}

int auth_set_client(void *sock, const char *public_txt, const char *secret_txt,
                    const char *server_txt)
{
    if (!auth_key_ok(public_txt) || !auth_key_ok(secret_txt) || !auth_key_ok(server_txt)) {
        errno = EINVAL;
        return -1;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_txt, 40) != 0
        || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_txt, 40) != 0
        || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_txt, 40) != 0)
        return -1;
    return 0;
}

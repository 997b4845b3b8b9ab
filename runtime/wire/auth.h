/*  auth.h: CURVE on the tcp sockets of a run. Key pairs and allowlists are
    czmq's (zcert, zauth), and czmq is loaded (dlopen) only by a process of
    a run that needs it: an ipc run, and every actor that binds nothing,
    never maps it. See auth.c for why the sockets a zauth guards live in
    czmq's own zmq context.
*/
#ifndef TR_AUTH_H
#define TR_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/*  A Z85 key: 40 characters and a NUL. */
#define AUTH_KEY_LEN 41

typedef struct {
    char public_txt[AUTH_KEY_LEN];
    char secret_txt[AUTH_KEY_LEN];
} auth_keys_t;

/*  The ZAP domain a bound socket asks zauth about. */
#define AUTH_DOMAIN "troupe"

/*  A new key pair, made by czmq's zcert_new. Returns 0, or -1 with a
    message in err (czmq missing, say). */
int auth_keys_new(auth_keys_t *keys, char *err, size_t errlen);

/*  Loads a key pair from a certificate file that czmq's zcert_save wrote
    (troupe keygen): PATH_secret when it exists, else PATH. With
    need_secret, a file with no secret key (a public certificate) is an
    error; without it, only the public key is kept (secret_txt is wiped).
    Returns 0, or -1 with a message in err. */
int auth_keys_load(const char *path, auth_keys_t *keys, bool need_secret, char *err,
                   size_t errlen);

/*  Wipes the secret key. */
void auth_keys_clear(auth_keys_t *keys);

/*  Makes the folder `dir` (mode 0700; it must not exist) and writes each of
    the n Z85 public keys in `allow` into it as a zcert public certificate
    (zcert_save_public), which is what zauth's CURVE allowlist reads.
    Returns 0, or -1 with a message in err; on failure nothing is left. */
int auth_allow_write(const char *dir, const char *const *allow, int n, char *err,
                     size_t errlen);

/*  Removes what auth_allow_write made (n keys) and the folder. */
void auth_allow_remove(const char *dir, int n);

/*  A zauth that admits, on CURVE sockets made in auth_zctx () and given
    auth_set_server, the public keys of the certificates in `allow_dir`
    and nobody else. Owned by the caller: auth_destroy. NULL with a message
    in err. */
typedef struct auth auth_t;
auth_t *auth_new(const char *allow_dir, char *err, size_t errlen);

/*  The zmq context zauth answers for: czmq's own. Valid until
    auth_destroy. */
void *auth_zctx(const auth_t *self);

/*  Stops zauth and ends czmq's context. Every socket made in auth_zctx
    must be closed first (zmq_ctx_term waits for them). Nulls *self_p. */
void auth_destroy(auth_t **self_p);

/*  Makes sock a CURVE server with this secret key, asking zauth (domain
    AUTH_DOMAIN) whom to admit; and, where libzmq has the option, refusing
    everyone if no zauth answers rather than admitting everyone. Call
    before bind. Returns 0, or -1 (a bad key) with errno set. */
int auth_set_server(void *sock, const char *secret_txt);

/*  Makes sock a CURVE client with its own pair, of a server whose public
    key is server_txt. Call before connect. Returns 0 or -1. */
int auth_set_client(void *sock, const char *public_txt, const char *secret_txt,
                    const char *server_txt);

/*  Whether s is a Z85 key (40 characters of Z85's alphabet). */
bool auth_key_ok(const char *s);

#endif

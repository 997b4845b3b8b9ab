/*  keygen.c: the key pairs of `troupe keygen`. czmq's zcert makes the pair
    and writes both certificate files; this file chooses where they go and
    makes sure of what zcert_save leaves to chance.
*/
#include "cli/keygen.h"
#include "troupe.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Why not zcert_save (cert, path) alone: it ignores a failure to write the
   public file, cuts NAME_secret to 255 characters, writes to stdout for a
   NAME of "-", and, over an existing NAME_secret, keeps that file's mode
   (zsys_file_mode_private only narrows the umask, which matters for new
   files), so a --force over a 0644 secret would leave it 0644. Each file is
   instead written by zcert_save_public / zcert_save_secret into a fresh
   hidden file beside it, read back with zcert_load, and renamed over NAME
   or NAME_secret: the secret is 0600 from its first byte, a failed write
   leaves the old pair as it was, and a head reading its allowlist folder
   meanwhile never sees half a certificate (zcertstore, like every zdir
   listing, skips hidden files). */

static int fail(char *err, size_t errlen, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Leaves the message in err and errno set last (formatting may change it);
   returns -1. */
static int fail(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    errno = errnum;
    return -1;
}

/* zconfig_save puts a value between double quotes as it is: a '"' or a
   line break in it makes a file zcert_load no longer reads. */
static bool meta_ok(const char *value)
{
    if (!*value)
        return false;
    for (const unsigned char *c = (const unsigned char *)value; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '"')
            return false;
    return true;
}

/* A new hidden file beside base in folder, with the given mode, for a
   certificate to be written into and renamed into place. Returns the path
   (the caller frees it), or NULL with errno set. */
static char *temp_new(const char *folder, const char *base, mode_t mode)
{
    char *path = zsys_sprintf("%s/.%s.XXXXXX", folder, base);
    if (!path) {
        errno = ENOMEM;
        return NULL;
    }
    int fd = mkstemp(path); /* mode 0600 */
    if (fd < 0 || fchmod(fd, mode) < 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        free(path);
        errno = e;
        return NULL;
    }
    close(fd);
    return path;
}

/* Reads back the certificate zcert wrote to path: zconfig_save checks no
   write (a full disk gives a short file and rc 0), so a file is only put in
   place once it loads with the keys it should hold. with_secret: the file
   must hold the secret key too, or else none. */
static bool saved_ok(const char *path, zcert_t *cert, bool with_secret)
{
    /* zcert_load tries path_secret first; no such file is beside a temp */
    zcert_t *back = zcert_load(path);
    if (!back)
        return false;
    static const char no_secret[] = "0000000000000000000000000000000000000000";
    const char *name = zcert_meta(back, "name");
    bool ok = streq(zcert_public_txt(back), zcert_public_txt(cert))
           && streq(zcert_secret_txt(back),
                    with_secret ? zcert_secret_txt(cert) : no_secret)
           && name && streq(name, zcert_meta(cert, "name"));
    zcert_destroy(&back);
    return ok;
}

/* NAME and the certificate's name, checked before anything is touched:
   base is the last part of NAME, name what goes in the "name" metadata.
   Returns 0, or -1 with the message in err. */
static int check_names(const keygen_opts_t *opts, const char *base,
                       const char *name, char *err, size_t errlen)
{
    const char *path = opts->path;
    if (!*path)
        return fail(err, errlen, EINVAL,
                    "an empty NAME: give the file to write, e.g. keys/node1");
    if (!*base)
        return fail(err, errlen, EINVAL,
                    "'%s' is a folder: NAME is the file to write, e.g. %snode1",
                    path, path);
    /* NAME is the file that goes into allowlist folders, and zcertstore
       (what zauth reads them with) passes over both of these in silence */
    size_t len = strlen(base);
    if (*base == '.' || (len >= 7 && streq(base + len - 7, "_secret")))
        return fail(err, errlen, EINVAL,
                    "'%s': allowlist folders skip files whose name %s; "
                    "choose another NAME", path,
                    *base == '.' ? "starts with '.'" : "ends in _secret");
    if (!meta_ok(name))
        return fail(err, errlen, EINVAL,
                    "%s '%s' cannot be a certificate's name: it must not be "
                    "empty or hold '\"' or control characters%s",
                    opts->name ? "--name" : "the name", name,
                    opts->name ? "" : " (--name TEXT gives another)");
    return 0;
}

/* The folder of NAME must exist already. Returns 0, or -1 with the message
   in err. */
static int check_folder(const char *folder, char *err, size_t errlen)
{
    struct stat st;
    if (stat(folder, &st) < 0) {
        int e = errno;
        if (e == ENOENT)
            return fail(err, errlen, e,
                        "folder '%s' does not exist (keygen makes no folders)",
                        folder);
        return fail(err, errlen, e, "folder '%s': %s", folder, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return fail(err, errlen, ENOTDIR, "'%s' is not a folder", folder);
    return 0;
}

/* Neither NAME nor NAME_secret may be a folder, nor, without force, exist.
   Checked before anything is written, so that a refusal leaves no trace; a
   file that appears between this check and the rename is replaced, which
   only two keygens racing on one NAME could cause. Returns 0, or -1 with
   the message in err. */
static int check_targets(const char *path, const char *secret, bool force,
                         char *err, size_t errlen)
{
    const char *finals[] = { path, secret };
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (lstat(finals[i], &st) == 0) {
            if (S_ISDIR(st.st_mode))
                return fail(err, errlen, EISDIR, "'%s' is a folder", finals[i]);
            if (!force)
                return fail(err, errlen, EEXIST, "'%s' exists", finals[i]);
        }
        else if (errno != ENOENT) {
            int e = errno;
            return fail(err, errlen, e, "'%s': %s", finals[i], strerror(e));
        }
    }
    return 0;
}

/* A new key pair with its metadata: name, created-by and, when it can be
   told, hostname. Returns it, or NULL with the message in err. */
static zcert_t *cert_make(const char *name, char *err, size_t errlen)
{
    /* without CURVE, zcert_new gives a pair of zero keys, not NULL */
    if (!zsys_has_curve()) {
        fail(err, errlen, ENOTSUP, "libzmq was built without CURVE: no key pairs");
        return NULL;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        fail(err, errlen, EIO, "zcert_new could not make a key pair");
        return NULL;
    }
    zcert_set_meta(cert, "name", "%s", name);
    zcert_set_meta(cert, "created-by", "troupe %d.%d.%d", TROUPE_VERSION_MAJOR,
                   TROUPE_VERSION_MINOR, TROUPE_VERSION_PATCH);
    /* not zsys_hostname: it asks the resolver for the canonical name, and
       gives none on a machine that cannot resolve its own */
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        if (meta_ok(host))
            zcert_set_meta(cert, "hostname", "%s", host);
    }
    return cert;
}

/* The two hidden files in folder that NAME_secret and NAME are first
   written to: the secret one 0600, the public one with the mode zcert_save
   would give it. Returns 0, or -1 with the message in err. */
static int temps_make(const char *folder, const char *base, const char *secret,
                      char **tmp_secret, char **tmp_public, char *err,
                      size_t errlen)
{
    mode_t mask = umask(0);
    umask(mask);
    const char *secret_base = strrchr(secret, '/') ? strrchr(secret, '/') + 1 : secret;
    *tmp_secret = temp_new(folder, secret_base, 0600);
    *tmp_public = *tmp_secret ? temp_new(folder, base, 0666 & ~mask) : NULL;
    if (!*tmp_public) {
        int e = errno;
        return fail(err, errlen, e, "cannot write in folder '%s': %s", folder,
                    strerror(e));
    }
    return 0;
}

/* Writes the secret certificate to tmp_secret and the public one to
   tmp_public, each read back. Returns 0, or -1 with the message in err
   (naming the file it stands for, secret or path). */
static int temps_fill(zcert_t *cert, const char *tmp_secret,
                      const char *tmp_public, const char *path,
                      const char *secret, char *err, size_t errlen)
{
    errno = 0; /* zconfig_save sets it only when fopen fails */
    if (zcert_save_secret(cert, tmp_secret) < 0 || !saved_ok(tmp_secret, cert, true)) {
        int e = errno ? errno : EIO;
        return fail(err, errlen, e, "cannot write %s: %s", secret, strerror(e));
    }
    errno = 0;
    if (zcert_save_public(cert, tmp_public) < 0 || !saved_ok(tmp_public, cert, false)) {
        int e = errno ? errno : EIO;
        return fail(err, errlen, e, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

/* Renames the filled temporaries over NAME_secret and NAME, freeing and
   nulling each one once it is in place. Returns 0, or -1 with the message
   in err. */
static int temps_place(char **tmp_secret, char **tmp_public, const char *path,
                       const char *secret, char *err, size_t errlen)
{
    /* the secret first: a public key goes nowhere without its secret */
    if (rename(*tmp_secret, secret) < 0) {
        int e = errno;
        return fail(err, errlen, e, "cannot write %s: %s", secret, strerror(e));
    }
    free(*tmp_secret);
    *tmp_secret = NULL;
    if (rename(*tmp_public, path) < 0) {
        int e = errno;
        return fail(err, errlen, e, "cannot write %s: %s (%s is written)", path,
                    strerror(e), secret);
    }
    free(*tmp_public);
    *tmp_public = NULL;
    return 0;
}

/* Writes cert as NAME_secret and NAME through hidden temporaries in
   folder, removing what is left of them on failure. Returns 0, or -1 with
   the message in err and errno set. */
static int pair_write(zcert_t *cert, const char *folder, const char *base,
                      const char *path, const char *secret, char *err,
                      size_t errlen)
{
    char *tmp_secret = NULL, *tmp_public = NULL;
    int rc = temps_make(folder, base, secret, &tmp_secret, &tmp_public, err, errlen);
    if (rc == 0)
        rc = temps_fill(cert, tmp_secret, tmp_public, path, secret, err, errlen);
    if (rc == 0)
        rc = temps_place(&tmp_secret, &tmp_public, path, secret, err, errlen);
    int e = errno;
    if (tmp_secret)
        unlink(tmp_secret);
    if (tmp_public)
        unlink(tmp_public);
    free(tmp_secret);
    free(tmp_public);
    errno = e;
    return rc;
}

int keygen_write(const keygen_opts_t *opts, char public_txt[41], char *err,
                 size_t errlen)
{
    const char *path = opts->path;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *name = opts->name ? opts->name : base;
    if (check_names(opts, base, name, err, errlen) < 0)
        return -1;

    int rc = -1;
    char *folder = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
                         : strdup(".");
    char *secret = zsys_sprintf("%s_secret", path);
    zcert_t *cert = NULL;
    if (!folder || !secret)
        fail(err, errlen, ENOMEM, "out of memory");
    else if (check_folder(folder, err, errlen) == 0
             && check_targets(path, secret, opts->force, err, errlen) == 0
             && (cert = cert_make(name, err, errlen))
             && pair_write(cert, folder, base, path, secret, err, errlen) == 0) {
        snprintf(public_txt, 41, "%s", zcert_public_txt(cert));
        rc = 0;
    }
    int e = errno;
    zcert_destroy(&cert);
    free(secret);
    free(folder);
    errno = e;
    return rc;
}

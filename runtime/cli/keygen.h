/*  keygen.h: CURVE key pairs for `troupe keygen`, made and written by
    czmq's zcert in the files zcert_save writes: NAME (public) and
    NAME_secret. Part of the troupe command, not of libtroupe.
*/
#ifndef TROUPE_KEYGEN_H
#define TROUPE_KEYGEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path; /* NAME: the public certificate; the secret one is NAME_secret */
    const char *name; /* the certificate's "name" metadata; NULL: the last part of path */
    bool force;       /* replace NAME and NAME_secret when they exist */
} keygen_opts_t;

/* Makes a new key pair and writes NAME and NAME_secret (mode 0600), each
   whole or not at all. Returns 0 and copies the Z85 public key (40
   characters and a NUL) into public_txt; or -1, with a message in err and
   errno set to EEXIST (a file is there and force is off), ENOENT or ENOTDIR
   (the folder of NAME is missing), EISDIR or EINVAL (a bad NAME or name);
   any other errno means writing failed. */
int keygen_write(const keygen_opts_t *opts, char public_txt[41], char *err,
                 size_t errlen);

#endif

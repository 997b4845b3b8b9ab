/*  top.h: `troupe top`, a live view of a running pipeline, read from the
    snapshots its supervisor publishes (watch.c).
*/
#ifndef TR_TOP_H
#define TR_TOP_H

#include "wire/auth.h"

#include <stdbool.h>

typedef struct {
    const char *target;       /* a pipeline's name or a run directory; NULL:
                                 the one run going on */
    bool once;                /* one snapshot as text, then exit */
    bool list;                /* the runs going on, one a line */
    const char *head;         /* tcp://HOST:PORT: a head's listen endpoint */
    const auth_keys_t *keys;  /* with head: our pair (CURVE), or NULL */
    const char *head_public;  /* with keys: the head's public key */
} top_opts_t;

/*  Runs until `q`, Ctrl-C or the run's end. Returns 0, 1 (no such run, or
    it went silent), or 2 (the target names several runs). */
int top_run(const top_opts_t *opts);

#endif

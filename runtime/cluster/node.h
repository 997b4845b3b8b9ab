/*  node.h: `troupe node`, a daemon that joins a head (`troupe run
    --listen`) and runs the actor instances the head places on it. It is a
    relay: it forks troupe-actor processes (through a zygote) that talk to
    its own control socket, and passes their control messages to and from
    the head unchanged.
*/
#ifndef TR_NODE_H
#define TR_NODE_H

#include "wire/auth.h"

typedef struct {
    const char *head;  /* the head's listen endpoint, tcp://HOST:PORT */
    const char *name;  /* how the head calls this node (NULL: the host name) */
    unsigned cores;    /* announced to the head for placement (0: online CPUs) */
    int verbose;
    const auth_keys_t *keys;  /* this node's pair (--key): the link is CURVE;
                                 NULL: in the clear (--insecure) */
    const char *head_public;  /* with keys: the head's public key (--head-key) */
    double first_wait;        /* seconds for the head's first word (0: 30) */
} node_opts_t;

/*  Serves the head until it says BYE (returns 0), is lost (1), or a signal
    N ends the node (128+N). Actors are killed and the node's run
    directory removed in every case. Messages go to stderr. */
int node_run(const node_opts_t *opts);

#endif

/*  wiring.h: endpoints of a run, and the CONFIG message that tells an actor
    instance its module, arguments, and what to bind and connect. */
#ifndef TR_WIRING_H
#define TR_WIRING_H

#include "plan.h"

#include <msgpack.h>
#include <stddef.h>

/*  The ipc socket file of a producer instance's output channel. */
void wiring_socket_path(const char *rundir, int actor, unsigned instance, int chan,
                        char *buf, size_t len);
/*  The same as a zmq endpoint ("ipc://..."). */
void wiring_endpoint(const char *rundir, int actor, unsigned instance, int chan,
                     char *buf, size_t len);
/*  Packs the CONFIG map for one instance of `actor`. */
void wiring_pack_config(msgpack_packer *pk, const plan_t *p, const char *rundir,
                        int actor, unsigned instance, unsigned incarnation);

#endif

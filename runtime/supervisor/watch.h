/*  watch.h: the supervisor's stats socket, read by `troupe top` (watch.c
    says what it publishes and why the data path pays nothing for it).
    Internal to the supervisor.
*/
#ifndef TR_WATCH_H
#define TR_WATCH_H

#include "supervisor/supervise.h"

#include <msgpack.h>
#include <stdbool.h>

/*  Binds ipc://RUNDIR/stats and writes RUNDIR/info. -1 (said as a
    warning) when it cannot: the run goes on unwatched. */
int watch_open(sup_t *s);
/*  From the supervisor's loop: every 250 ms, rates and a snapshot. */
void watch_tick(sup_t *s);
/*  A `troupe top --head` said WATCH over the node link: it gets snapshots
    for the next few seconds. */
void watch_watcher(sup_t *s, const void *id, size_t idlen);
/*  The last snapshot (the run's end), then the socket and files go. */
void watch_close(sup_t *s);
/*  The snapshot as one msgpack map; final: the run is over. */
void watch_pack(sup_t *s, msgpack_sbuffer *sb, bool final);

#endif

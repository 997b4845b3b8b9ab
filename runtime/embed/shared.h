/*  shared.h: the memory troupe_process_start's processes share (shared.c),
    for Python's Value, Array, Lock, RLock, Event and Semaphore (troupe.h).

    One memfd per program tree, the arena: made by the first process that
    needs it, mapped whole by each, inherited across exec by every process
    troupe_process_start starts (spawn_t.share_fd, its number in
    SHARED_ENV_FD). Objects are carved from it, never given back, and found
    in another process by their offset in it (their address).
*/
#ifndef TR_SHARED_H
#define TR_SHARED_H

#define SHARED_ENV_FD "TROUPE_SHARED_FD"

/*  The arena's descriptor for a process about to be started, made now if
    this process has none yet: -1 when it cannot be (the process starts
    without, and its troupe_*_open calls say so). */
int shared_arena_fd(void);

/*  In a process troupe_process_start started: maps the arena its parent
    passed (SHARED_ENV_FD), if any. */
void shared_attach(void);

#endif

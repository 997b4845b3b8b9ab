/*  rundir.h: the private directories troupe makes for a run, a pool, a
    queue, a node and an allowlist: where they go, and what happens to
    those whose owner died without removing its own.
*/
#ifndef TR_RUNDIR_H
#define TR_RUNDIR_H

#include <stddef.h>

/*  Where they go: $XDG_RUNTIME_DIR (a tmpfs of the user's own) when it is
    set, absolute, writable and short enough for the ipc paths under it
    (108 bytes in all), else /dev/shm (a tmpfs on Linux) when it has 1 GiB
    free, else /tmp. */
const char *rundir_base(void);

/*  Makes BASE/KIND-PID-XXXXXX (KIND is "troupe", "troupe-pool", ...; PID
    this process's), mode 0700, into dir (len bytes). First removes the
    directories of that form, of this user, whose PID is no longer a
    process: what a process killed with SIGKILL could not remove. Returns
    0, or -1 with errno set (dir then holds the base, for a message). */
int rundir_make(const char *kind, char *dir, size_t len);

/*  Removes what rundir_make removes first: the KIND directories of this
    user's whose process is gone (a process that made one reaps its
    children, then sweeps what those killed could not remove). */
void rundir_sweep(const char *kind);

/*  Removes dir and everything in it (it holds sockets, small files and at
    most a folder of certificates). Returns 0 or -1. */
int rundir_remove(const char *dir);

/*  The pid in a directory name that rundir_make made, or 0. */
int rundir_owner(const char *name);

#endif

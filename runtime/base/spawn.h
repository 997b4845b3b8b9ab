/*  spawn.h: the one place troupe starts a program (fork, then exec): actor
    processes (supervisor, node), the zygote, a pool's supervisor, and
    troupe_process_start's copies of the calling program.

    Between the fork and the exec the child makes async-signal-safe calls
    only, since the parent may have threads: it puts every caught signal
    back to its default (ignored ones stay ignored, as exec keeps them),
    sets the signal mask it is given, asks to die with its parent, keeps
    the descriptors it is given open across exec, and execs. All
    signals are blocked in the parent around the fork, so that no handler
    of the caller's runs in the child. The child reports a failure before
    or at exec on a close-on-exec pipe, so the caller learns it now, with
    the reason, rather than from an exit status 127 later; and once
    spawn_exec returns the child has its death signal.
*/
#ifndef TR_SPAWN_H
#define TR_SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    const char *path;        /* the program's file */
    char *const *argv;
    char *const *envp;       /* NULL: this process's environment */
    const sigset_t *mask;    /* the child's signal mask; NULL: none blocked */
    int pdeathsig;           /* sent to the child when its parent thread ends; 0: none */
    int keep_fd;             /* a descriptor that survives exec; -1: none */
    int share_fd;            /* another (troupe_process_start's shared memory);
                                0, as a zero-initialised spawn_t has it: none */
} spawn_t;

/*  Starts the program. Returns its pid once it has reached exec, or -1 with
    errno set and the reason in `err` ("cannot execute PATH: ..."). */
pid_t spawn_exec(const spawn_t *sp, char *err, size_t errlen);

#endif

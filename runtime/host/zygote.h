/*  zygote.h: starting actor processes quickly. Exec and dynamic linking
    cost an actor process about 2 ms of CPU; the zygote pays them once. It
    is troupe-actor exec'd in zygote mode at the start of a run: a process
    that has loaded everything an actor needs but holds no zmq context, so
    it may fork. For each actor it clones itself with CLONE_PARENT, so that
    the actor is the supervisor's child from its first instant: the
    supervisor waits for it, signals it and sees it die like any child of
    its own. When the zygote is unavailable the supervisor falls back to
    fork+exec.
*/
#ifndef TR_ZYGOTE_H
#define TR_ZYGOTE_H

#include <signal.h>
#include <sys/types.h>

typedef struct zygote zygote_t;

/*  Supervisor side. Starts the zygote from the troupe-actor at `exe`; `mask`
    is the signal mask the zygote (and so every actor) gets. Its title in ps
    is "troupe: PIPELINE/(zygote)" once it has the first request. NULL when
    it cannot. */
zygote_t *zygote_start(const char *exe, const sigset_t *mask);
/*  Starts the zygote before anything else, so that its exec overlaps
    loading the config: the troupe-actor found where base/paths.h says,
    the calling thread's signal mask. NULL when it cannot or
    TROUPE_NO_ZYGOTE is set; supervisor_run then starts one itself or
    starts each actor with base/spawn.h. */
zygote_t *zygote_prestart(void);
/*  Has the zygote start an actor; returns its pid, or -1 (then the caller
    should fork+exec itself; the zygote is stopped). */
pid_t zygote_spawn(zygote_t *self, const char *control, const char *rid,
                   const char *title);
/*  zygote_spawn in two halves, so that several can be asked for at once
    and the zygote clones one after another without waiting for us in
    between (a round trip each took 0.5 ms of an 8-actor start on 2
    cores): zygote_ask sends the request (0, or -1 when it cannot);
    zygote_answer reads the answer to the oldest request not yet answered,
    the new process's pid, or -1 when it failed. Every request asked must
    be answered before the zygote is stopped: a clone made for a request
    nobody reads would be a process nobody knows. */
int zygote_ask(zygote_t *self, const char *control, const char *rid, const char *title);
pid_t zygote_answer(zygote_t *self);
pid_t zygote_pid(const zygote_t *self);
/*  Closes the zygote's channel and waits for it to exit. */
void zygote_stop(zygote_t **self_p);
/*  Closes the channel only, once nothing more will be spawned, so that the
    zygote exits while the actors end; zygote_stop then only reaps it.
    Spawning after it fails (the caller falls back to fork+exec). */
void zygote_release(zygote_t *self);

/*  Zygote side, from troupe-actor's main: serves spawn requests on fd until
    it closes. Returns in each new actor process with the actor's exit
    code; in the zygote itself, never (it exits). */
int zygote_main(int fd, int argc, char **argv);

/*  Writes `title` over the process's argv area so that ps shows it. */
void zygote_set_title(int argc, char **argv, const char *title);

#endif

/*  actor.h: the actor host, run by `troupe actor` in each actor process. */
#ifndef TR_ACTOR_H
#define TR_ACTOR_H

/*  Connects to the supervisor at `control`, introduces itself as `id`
    ("ACTOR.INSTANCE.INCARNATION"), takes its config, runs its module until
    told to stop. Returns the process exit code: 0 when the actor finished,
    1 when it failed. */
int actor_main(const char *control, const char *id);

/*  This process's peak resident memory in kB (VmHWM from /proc). */
long host_peak_rss_kb(void);

#endif

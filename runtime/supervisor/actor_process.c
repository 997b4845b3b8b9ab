/*  actor_process.c: what the troupe-actor program runs, inside libtroupe.
    The supervisor execs it as
        troupe-actor CONTROL_ENDPOINT ID TITLE
    It is the actor host alone: no czmq, no config loader, so that an actor
    process loads libzmq, msgpack-c, libtroupe and its module, and nothing
    else (docs/ARCHITECTURE.md). Run as
        troupe-actor --zygote FD PADDING
    it is the zygote that forks actors instead (zygote.h). Run as
        troupe-actor --supervise FD
    it is the supervisor of a pool that a program started (troupe.h's
    embedding API): it reads the packed plan from FD and runs it.
    runtime/cli/troupe_actor.c is only a main () that calls this, so that
    the actor process and every module it loads share the one libtroupe
    (actor_process.h).
*/
#include "supervisor/actor_process.h"
#include "host/actor.h"
#include "plan/plan.h"
#include "supervisor/supervisor.h"
#include "host/zygote.h"

#include <unistd.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  [plan, verbose, hang] from fd, then the run. */
static int supervise(int fd)
{
    zygote_t *zygote = zygote_prestart();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        msgpack_sbuffer_write(&sb, buf, (size_t)n);
    close(fd);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    plan_t *plan = NULL;
    supervisor_opts_t opts = { .verbose = 0, .grace = 2, .hang = 10, .embedded = true };
    if (msgpack_unpack_next(&up, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS
        && up.data.type == MSGPACK_OBJECT_ARRAY && up.data.via.array.size == 3) {
        const msgpack_object *v = up.data.via.array.ptr;
        plan = plan_unpack(&v[0]);
        if (v[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            opts.verbose = (int)v[1].via.u64;
        if (v[2].type == MSGPACK_OBJECT_FLOAT64 && v[2].via.f64 > 0)
            opts.hang = v[2].via.f64;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    if (!plan) {
        fprintf(stderr, "troupe-actor --supervise: no plan on fd %d\n", fd);
        zygote_stop(&zygote);
        return 2;
    }
    int rc = supervisor_run(plan, &opts, zygote);
    plan_destroy(&plan);
    return rc;
}

int troupe__actor_process_main(int argc, char **argv)
{
    host_tune_malloc();
    /* Ctrl-C reaches the whole process group: the supervisor decides */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && !strcmp(argv[1], "--zygote"))
        return zygote_main(atoi(argv[2]), argc, argv);
    if (argc == 3 && !strcmp(argv[1], "--supervise"))
        return supervise(atoi(argv[2]));
    if (argc != 4) {
        fprintf(stderr, "troupe-actor is started by troupe run, not by hand\n");
        return 2;
    }
    char *control = strdup(argv[1]);
    char *id = strdup(argv[2]);
    if (!control || !id)
        return 1;
    zygote_set_title(argc, argv, argv[3]);
    int rc = actor_main(control, id);
    free(control);
    free(id);
    return rc;
}

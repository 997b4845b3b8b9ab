/*  actor_main.c: troupe-actor, the program each actor process runs. The
    supervisor execs it as
        troupe-actor CONTROL_ENDPOINT ID TITLE
    It is the actor host alone: no czmq, no config loader, so that an actor
    process loads libzmq, msgpack-c, libtroupe and its module, and nothing
    else (docs/ARCHITECTURE.md). Run as
        troupe-actor --zygote FD PADDING
    it is the zygote that forks actors instead (zygote.h).
*/
#include "actor.h"
#include "zygote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* Ctrl-C reaches the whole process group: the supervisor decides */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && !strcmp(argv[1], "--zygote"))
        return zygote_main(atoi(argv[2]), argc, argv);
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

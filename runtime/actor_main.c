/*  actor_main.c: troupe-actor, the program each actor process runs. The
    supervisor execs it as
        troupe-actor CONTROL_ENDPOINT ID TITLE
    It is the actor host alone: no czmq, no config loader, so that an actor
    process loads libzmq, msgpack-c, libtroupe and its module, and nothing
    else (docs/ARCHITECTURE.md).
*/
#include "actor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

/*  Writes the title over the whole argv area so that ps shows it; the
    supervisor passes the title itself as the last argument, so the area is
    always long enough. */
static void set_title(int argc, char **argv, const char *title)
{
    char *start = argv[0];
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t room = (size_t)(end - start);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", title);
    memset(start, 0, room);
    memcpy(start, copy, strlen(copy) < room ? strlen(copy) : room);
    const char *slash = strrchr(copy, '/');
    prctl(PR_SET_NAME, slash ? slash + 1 : copy);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "troupe-actor is started by troupe run, not by hand\n");
        return 2;
    }
    char *control = strdup(argv[1]);
    char *id = strdup(argv[2]);
    if (!control || !id)
        return 1;
    set_title(argc, argv, argv[3]);
    /* Ctrl-C reaches the whole process group: the supervisor decides */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int rc = actor_main(control, id);
    free(control);
    free(id);
    return rc;
}

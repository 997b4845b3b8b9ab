/*  init.c: troupe_init, the hand-over in a program that is started again as
    a worker. Two kinds of worker run the caller's own code:
    - an actor of a module the program defines (troupe_pool_new_module):
      the supervisor execs the program as `PROGRAM CONTROL ID TITLE` with
      TROUPE_WORKER set, and it runs the actor host as troupe-actor would;
    - a process (troupe_process_start): TROUPE_PROCESS names the function.
    Anything else returns at once: this is the program itself.
*/
#include "troupe.h"

#include "host/actor.h"
#include "embed/process.h"
#include "host/zygote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_ENV "TROUPE_WORKER"

void troupe_init(int argc, char **argv)
{
    if (getenv(PROCESS_ENV_FN))
        process_child_main();
    if (!getenv(WORKER_ENV))
        return;
    /* what this worker starts in turn is not a worker */
    unsetenv(WORKER_ENV);
    if (argc != 4) {
        fprintf(stderr, "troupe: %s started as a worker without its arguments\n",
                argc ? argv[0] : "program");
        exit(2);
    }
    host_tune_malloc();
    /* Ctrl-C reaches the whole process group: the supervisor decides */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    char *control = strdup(argv[1]), *id = strdup(argv[2]);
    if (!control || !id)
        exit(1);
    zygote_set_title(argc, argv, argv[3]);
    int rc = actor_main(control, id);
    free(control);
    free(id);
    exit(rc);
}

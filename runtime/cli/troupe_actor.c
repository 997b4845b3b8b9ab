/*  troupe_actor.c: the troupe-actor program. All of it is in libtroupe
    (supervisor/actor_process.c), so that an actor process holds one copy
    of the runtime, the one its module binds to. */
#include "supervisor/actor_process.h"

int main(int argc, char **argv)
{
    return troupe__actor_process_main(argc, argv);
}

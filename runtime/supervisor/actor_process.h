/*  actor_process.h: the one private entry point libtroupe exports.
    troupe-actor is a main () over it and nothing more: every process that
    runs actors then has a single libtroupe, the shared one, which the
    modules it loads bind to as well. It is exported under its own version
    node (TROUPE_PRIVATE_<version> in runtime/libtroupe.map, the full
    version), so a troupe-actor runs only with the libtroupe of its own
    build. Not part of the API: troupe.h does not declare it.
*/
#ifndef TR_ACTOR_PROCESS_H
#define TR_ACTOR_PROCESS_H

#include "troupe.h"

/*  troupe-actor's main: an actor, the zygote (--zygote) or a pool's
    supervisor (--supervise), after argv. Returns the exit status. */
TROUPE_EXPORT int troupe__actor_process_main(int argc, char **argv);

#endif

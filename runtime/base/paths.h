/*  paths.h: where troupe's own files are, found one way by everyone: the
    troupe-actor program (supervisor, node, pool) and the built-in modules
    (config checks, the actor host, `troupe modules`).

    One search order for both:
      1. the environment: $TROUPE_ACTOR, a program; $TROUPE_MODULE_PATH, a
         list of folders separated by ':';
      2. beside the running program: a build tree's build/troupe-actor and
         build/actors/;
      3. one folder up from the runtime's object: the same files seen from
         a program of the user's that loads a build tree's
         build/runtime/libtroupe.so;
      4. the folders of the installation the runtime belongs to, found from
         where its object is (libtroupe.so in PREFIX/LIBDIR, or the troupe
         command, which holds the runtime itself, in PREFIX/BINDIR), so
         that a prefix installed with DESTDIR, or moved, finds its own;
         then those the build configured (TROUPE_LIBEXEC_DIR,
         TROUPE_MODULE_DIR).
*/
#ifndef TR_PATHS_H
#define TR_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/*  Calls fn with each folder where built-in modules are looked for, in the
    order above, until it returns true. */
void paths_module_dirs(bool (*fn)(const char *dir, void *arg), void *arg);

/*  The troupe-actor program's path into exe. Returns 0, or -1 with the
    places looked at in `err` (when err is not NULL). */
int paths_actor_exe(char *exe, size_t len, char *err, size_t errlen);

/*  The folder of the object this code is in: the loaded libtroupe (a
    build tree's runtime/, or the installed libdir), or the program when it
    holds the runtime itself. Returns 0, or -1. */
int paths_lib_dir(char *buf, size_t len);

#endif

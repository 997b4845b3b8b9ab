/*  module.h: finding and loading actor modules (shared objects). */
#ifndef TR_MODULE_H
#define TR_MODULE_H

#include "troupe.h"

#include <stddef.h>

/*  Finds the file for a module name as written in a config: a path (it has a
    '/'; relative to `base_dir` when not absolute) or a built-in name looked
    up in $TROUPE_MODULE_PATH, the `actors` folder beside the running
    executable, then the module folder of the installation libtroupe was
    loaded from, then the one the build configured. Returns a new string the
    caller frees, or NULL with the reason in err. */
char *module_resolve(const char *name, const char *base_dir, char *err,
                     size_t errlen);

/*  The folder libtroupe was loaded from (a build tree's runtime/, or the
    installed libdir). Returns 0, or -1. */
int module_lib_dir(char *buf, size_t len);

/*  `rel`, a path relative to the install prefix (meson's libexecdir/troupe
    ...), in the installation libtroupe was loaded from: that
    libtroupe is PREFIX/LIBDIR/libtroupe.so, so a prefix installed with
    DESTDIR or moved finds its own files. Returns 0, or -1 when libtroupe is
    not in an installed libdir (a build tree) or `rel` is absolute. */
int module_installed_path(const char *rel, char *buf, size_t len);

/*  Loads a module file and checks its descriptor. Returns the descriptor
    (owned by the loaded object; keep *handle_p open while using it), or NULL
    with the reason in err. */
const troupe_module_t *module_load(const char *path, void **handle_p, char *err,
                                   size_t errlen);

/*  The checkpoint hooks (ABI 2), NULL when the module has none or was built
    for ABI 1, whose descriptor has no such fields. */
troupe_snapshot_fn *module_snapshot(const troupe_module_t *mod);
troupe_restore_fn *module_restore(const troupe_module_t *mod);

/*  Calls fn once for every module file found where built-in names are
    looked up (module_resolve's folders, in its order; a name found twice
    counts once), with the file's path and its name. Returns how many. */
int module_each(void (*fn)(const char *path, const char *name, void *arg), void *arg);

/*  True when the module declares `arg` (or declares no list at all). */
bool module_takes_arg(const troupe_module_t *mod, const char *arg);

#endif

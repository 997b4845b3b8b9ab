#define _GNU_SOURCE
/*  module.c: finds an actor module by name or path, loads it with dlopen and
    refuses one built for another ABI (as Redis does with its modules).
*/
#include "base/module.h"

#include "base/paths.h"
#include "base/selfref.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *try_dir(const char *dir, size_t dirlen, const char *name)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%.*s/%s.so", (int)dirlen, dir, name);
    if (n <= 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0)
        return NULL;
    return strdup(path);
}

static bool valid_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

typedef struct {
    const char *name;
    char *found;
} lookup_t;

static bool lookup_in(const char *dir, void *arg)
{
    lookup_t *l = arg;
    l->found = try_dir(dir, strlen(dir), l->name);
    return l->found != NULL;
}

char *module_resolve(const char *name, const char *base_dir, char *err,
                     size_t errlen)
{
    if (strchr(name, '/')) {
        char path[PATH_MAX];
        if (name[0] == '/' || !base_dir)
            snprintf(path, sizeof path, "%s", name);
        else
            snprintf(path, sizeof path, "%s/%s", base_dir, name);
        if (access(path, R_OK) != 0) {
            snprintf(err, errlen, "module file '%s' not found", path);
            return NULL;
        }
        return strdup(path);
    }
    if (!valid_name(name)) {
        snprintf(err, errlen, "'%s' is not a module name or a path", name);
        return NULL;
    }
    lookup_t l = { name, NULL };
    paths_module_dirs(lookup_in, &l);
    char *found = l.found;
    if (!found)
        snprintf(err, errlen,
                 "unknown module '%s' (not a built-in; a module of your own is "
                 "named by its path, e.g. ./%s.so)",
                 name, name);
    return found;
}

/*  The descriptor's ABI version and hooks; NULL with the reason in err. */
static const troupe_module_t *module_check(const troupe_module_t *mod, const char *path,
                                           char *err, size_t errlen)
{
    if (mod->abi_version < TROUPE_ABI_MIN || mod->abi_version > TROUPE_ABI_VERSION) {
        snprintf(err, errlen,
                 "module '%s' was built for troupe ABI %u, this troupe speaks "
                 "ABI %u to %u: rebuild it against this troupe.h",
                 path, mod->abi_version, TROUPE_ABI_MIN, TROUPE_ABI_VERSION);
        return NULL;
    }
    if (!mod->message && !mod->produce) {
        snprintf(err, errlen,
                 "module '%s' has neither a message nor a produce hook", path);
        return NULL;
    }
    return mod;
}

/*  A field past ABI 1's end exists only in a descriptor built for the ABI
    that added it: an older module's descriptor ends before it. */
troupe_snapshot_fn *module_snapshot(const troupe_module_t *mod)
{
    return mod->abi_version >= 2 ? mod->snapshot : NULL;
}

troupe_restore_fn *module_restore(const troupe_module_t *mod)
{
    return mod->abi_version >= 2 ? mod->restore : NULL;
}

const troupe_module_t *module_load(const char *path, void **handle_p, char *err,
                                   size_t errlen)
{
    *handle_p = NULL;
    void *handle = NULL;
    const troupe_module_t *mod;
    if (selfref_is(path)) { /* a module the embedding program defines */
        if (!(mod = selfref_resolve(path, err, errlen)))
            return NULL;
        return module_check(mod, path, err, errlen);
    }
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(err, errlen, "cannot load module: %s", dlerror());
        return NULL;
    }
    mod = dlsym(handle, "troupe_module");
    if (!mod) {
        snprintf(err, errlen,
                 "'%s' is not a troupe module (no troupe_module descriptor; "
                 "declare one with TROUPE_MODULE)",
                 path);
        dlclose(handle);
        return NULL;
    }
    if (!module_check(mod, path, err, errlen)) {
        dlclose(handle);
        return NULL;
    }
    *handle_p = handle;
    return mod;
}

typedef struct {
    char name[128];
    char path[PATH_MAX];
} found_t;

/*  Adds dir's *.so files to the list, but for names it already holds. */
static void scan_dir(const char *dir, size_t len, found_t **list, int *n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s", (int)len, dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || l - 3 >= sizeof((found_t *)0)->name
            || strcmp(e->d_name + l - 3, ".so"))
            continue;
        bool dup = false;
        for (int i = 0; i < *n && !dup; i++)
            dup = strlen((*list)[i].name) == l - 3
                  && !strncmp((*list)[i].name, e->d_name, l - 3);
        found_t *more = dup ? NULL : realloc(*list, (*n + 1) * sizeof *more);
        if (!more)
            continue;
        *list = more;
        snprintf(more[*n].name, sizeof more[*n].name, "%.*s", (int)(l - 3), e->d_name);
        snprintf(more[*n].path, sizeof more[*n].path, "%.*s/%s", (int)(sizeof path - 260),
                 path, e->d_name);
        (*n)++;
    }
    closedir(d);
}

typedef struct {
    found_t **list;
    int *n;
} scan_t;

static bool scan_in(const char *dir, void *arg)
{
    scan_t *sc = arg;
    scan_dir(dir, strlen(dir), sc->list, sc->n);
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const found_t *)a)->name, ((const found_t *)b)->name);
}

int module_each(void (*fn)(const char *path, const char *name, void *arg), void *arg)
{
    found_t *list = NULL;
    int n = 0;
    scan_t sc = { &list, &n };
    paths_module_dirs(scan_in, &sc);
    if (n)
        qsort(list, (size_t)n, sizeof *list, by_name);
    for (int i = 0; i < n; i++)
        fn(list[i].path, list[i].name, arg);
    free(list);
    return n;
}

bool module_takes_arg(const troupe_module_t *mod, const char *arg)
{
    if (!mod->args)
        return true;
    for (const char *const *a = mod->args; *a; a++)
        if (strcmp(*a, arg) == 0)
            return true;
    return false;
}

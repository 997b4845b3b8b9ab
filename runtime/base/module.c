#define _GNU_SOURCE
/*  module.c: finds an actor module by name or path, loads it with dlopen and
    refuses one built for another ABI (as Redis does with its modules).
*/
#include "base/module.h"

#include "base/selfref.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TROUPE_MODULE_DIR
#define TROUPE_MODULE_DIR "/usr/local/lib/troupe/actors"
#endif
/*  The libdir, as meson's option says it: relative to the prefix, unless
    it was set to a folder outside it. */
#ifndef TROUPE_LIBDIR
#define TROUPE_LIBDIR "lib"
#endif

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

int module_lib_dir(char *buf, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)module_lib_dir, &info) || !info.dli_fname)
        return -1;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real))
        return -1;
    char *slash = strrchr(real, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int n = snprintf(buf, len, "%s", real);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int module_installed_path(const char *rel, char *buf, size_t len)
{
    char dir[PATH_MAX];
    size_t l = strlen(TROUPE_LIBDIR);
    if (rel[0] == '/' || TROUPE_LIBDIR[0] == '/' || module_lib_dir(dir, sizeof dir) < 0)
        return -1;
    size_t n = strlen(dir);
    if (n <= l || strcmp(dir + n - l, TROUPE_LIBDIR) != 0 || dir[n - l - 1] != '/')
        return -1; /* not an installed libdir: a build tree */
    dir[n - l - 1] = '\0'; /* the prefix */
    int w = snprintf(buf, len, "%s/%s", dir, rel);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/*  The module folder of the installation libtroupe was loaded from, which
    is where a moved prefix has its built-in modules (before the folder
    the build configured). -1 when libtroupe is not installed. */
static int installed_module_dir(char *buf, size_t len)
{
    return module_installed_path(TROUPE_LIBDIR "/troupe/actors", buf, len);
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
    char *found = NULL;
    const char *env = getenv("TROUPE_MODULE_PATH");
    while (env && *env && !found) {
        size_t len = strcspn(env, ":");
        if (len)
            found = try_dir(env, len, name);
        env += len + (env[len] == ':');
    }
    if (!found) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) {
                strcpy(slash, "/actors");
                found = try_dir(exe, strlen(exe), name);
            }
        }
    }
    if (!found) { /* a program of the caller's: beside libtroupe in a build tree */
        char dir[PATH_MAX];
        if (module_lib_dir(dir, sizeof dir - 16) == 0) {
            strcat(dir, "/../actors");
            found = try_dir(dir, strlen(dir), name);
        }
    }
    if (!found) {
        char dir[PATH_MAX];
        if (installed_module_dir(dir, sizeof dir) == 0)
            found = try_dir(dir, strlen(dir), name);
    }
    if (!found)
        found = try_dir(TROUPE_MODULE_DIR, strlen(TROUPE_MODULE_DIR), name);
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

static int by_name(const void *a, const void *b)
{
    return strcmp(((const found_t *)a)->name, ((const found_t *)b)->name);
}

int module_each(void (*fn)(const char *path, const char *name, void *arg), void *arg)
{
    found_t *list = NULL;
    int n = 0;
    const char *env = getenv("TROUPE_MODULE_PATH");
    while (env && *env) {
        size_t len = strcspn(env, ":");
        if (len)
            scan_dir(env, len, &list, &n);
        env += len + (env[len] == ':');
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (l > 0) {
        exe[l] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash, "/actors");
            scan_dir(exe, strlen(exe), &list, &n);
        }
    }
    char dir[PATH_MAX];
    if (installed_module_dir(dir, sizeof dir) == 0)
        scan_dir(dir, strlen(dir), &list, &n);
    scan_dir(TROUPE_MODULE_DIR, strlen(TROUPE_MODULE_DIR), &list, &n);
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

/*  paths.c: where troupe's own files are (paths.h says in which order). */
#define _GNU_SOURCE
#include "base/paths.h"

#include "base/selfref.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TROUPE_MODULE_DIR
#define TROUPE_MODULE_DIR "/usr/local/lib/troupe/actors"
#endif
#ifndef TROUPE_LIBEXEC_DIR
#define TROUPE_LIBEXEC_DIR "/usr/local/libexec/troupe"
#endif
/*  The same two relative to the prefix, the libdir and the bindir
    (meson's options):
    a prefix installed with DESTDIR or moved finds its own files from
    where libtroupe is. */
#ifndef TROUPE_LIBEXEC_REL
#define TROUPE_LIBEXEC_REL "libexec/troupe"
#endif
#ifndef TROUPE_LIBDIR
#define TROUPE_LIBDIR "lib"
#endif
#ifndef TROUPE_BINDIR
#define TROUPE_BINDIR "bin"
#endif
#define TROUPE_MODULE_REL TROUPE_LIBDIR "/troupe/actors"

int paths_lib_dir(char *buf, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)paths_lib_dir, &info) || !info.dli_fname)
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

/*  The running program's folder. The program's file rather than
    /proc/self/exe itself: under valgrind that is valgrind. */
static int program_dir(char *buf, size_t len)
{
    if (selfref_program(buf, len) != 0)
        return -1;
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/*  The prefix, when `dir` is one of its folders `sub` (relative): -1 when
    dir does not end in "/SUB" or sub is absolute. */
static int strip_folder(char *dir, const char *sub)
{
    size_t n = strlen(dir), l = strlen(sub);
    if (sub[0] == '/' || n <= l || strcmp(dir + n - l, sub) != 0 || dir[n - l - 1] != '/')
        return -1;
    dir[n - l - 1] = '\0';
    return 0;
}

/*  `rel` (relative to the prefix) in the installation the runtime was
    loaded from: libtroupe.so in PREFIX/LIBDIR, or a program that holds
    the runtime itself in PREFIX/BINDIR (the troupe command) or
    PREFIX/LIBEXEC_REL (troupe-actor). -1 from a build tree or when a
    folder option is absolute. */
static int installed(const char *rel, char *buf, size_t len)
{
    char dir[PATH_MAX];
    if (rel[0] == '/' || paths_lib_dir(dir, sizeof dir) < 0)
        return -1;
    if (strip_folder(dir, TROUPE_LIBDIR) < 0 && strip_folder(dir, TROUPE_BINDIR) < 0
        && strip_folder(dir, TROUPE_LIBEXEC_REL) < 0)
        return -1;
    int w = snprintf(buf, len, "%s/%s", dir, rel);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/*  Calls fn on the folders of steps 2 to 4, each followed by `sub`; step
    4 is the installation libtroupe belongs to (`rel` in its prefix), then
    the folder the build configured (`configured`). */
static void each_dir(const char *sub, const char *rel, const char *configured,
                     bool (*fn)(const char *dir, void *arg), void *arg)
{
    char base[PATH_MAX - 64], dir[PATH_MAX];
    if (program_dir(base, sizeof base) == 0) {
        snprintf(dir, sizeof dir, "%s%s", base, sub);
        if (fn(dir, arg))
            return;
    }
    if (paths_lib_dir(base, sizeof base) == 0) {
        snprintf(dir, sizeof dir, "%s/..%s", base, sub);
        if (fn(dir, arg))
            return;
    }
    if (installed(rel, dir, sizeof dir) == 0 && strcmp(dir, configured) && fn(dir, arg))
        return;
    fn(configured, arg);
}

void paths_module_dirs(bool (*fn)(const char *dir, void *arg), void *arg)
{
    const char *env = getenv("TROUPE_MODULE_PATH");
    while (env && *env) {
        size_t len = strcspn(env, ":");
        if (len && len < PATH_MAX) {
            char dir[PATH_MAX];
            memcpy(dir, env, len);
            dir[len] = '\0';
            if (fn(dir, arg))
                return;
        }
        env += len + (env[len] == ':');
    }
    each_dir("/actors", TROUPE_MODULE_REL, TROUPE_MODULE_DIR, fn, arg);
}

typedef struct {
    char *exe;
    size_t len;
    char *err;
    size_t errlen, used;
} actor_search_t;

static bool try_actor_dir(const char *dir, void *arg)
{
    actor_search_t *a = arg;
    int n = snprintf(a->exe, a->len, "%s/troupe-actor", dir);
    if (n > 0 && (size_t)n < a->len && access(a->exe, X_OK) == 0)
        return true;
    if (a->err && a->used < a->errlen) {
        int w = snprintf(a->err + a->used, a->errlen - a->used, "%s%s",
                         a->used ? ", " : "looked in ", dir);
        if (w > 0)
            a->used += (size_t)w;
    }
    a->exe[0] = '\0';
    return false;
}

int paths_actor_exe(char *exe, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    const char *env = getenv("TROUPE_ACTOR");
    if (env && *env) {
        if (access(env, X_OK) == 0 && snprintf(exe, len, "%s", env) < (int)len)
            return 0;
        if (err)
            snprintf(err, errlen, "TROUPE_ACTOR=%s is not an executable file", env);
        return -1;
    }
    actor_search_t a = { exe, len, err, errlen, 0 };
    exe[0] = '\0';
    each_dir("", TROUPE_LIBEXEC_REL, TROUPE_LIBEXEC_DIR, try_actor_dir, &a);
    if (exe[0])
        return 0;
    if (err && a.used < errlen)
        snprintf(err + a.used, errlen - a.used, " (set TROUPE_ACTOR)");
    return -1;
}

/*  rundir.c: troupe's private directories: a run's ipc sockets, a pool's,
    a queue's, a node's, a producer's allowlist folder. Each process
    removes its own when it ends; one killed with SIGKILL cannot, so the
    owner's pid is in the name (KIND-PID-XXXXXX) and whoever makes the next
    directory of that kind removes those whose owner is gone. A pid that
    has been reused keeps its directory a while longer: a directory is
    never removed while a process with its owner's pid lives.
*/
#define _XOPEN_SOURCE 700
#include "base/rundir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SHM_ROOM (1ull << 30) /* bytes free in /dev/shm to use it */

static bool usable(const char *base)
{
    return base && base[0] == '/' && strlen(base) <= 40 && access(base, W_OK | X_OK) == 0;
}

const char *rundir_base(void)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (usable(base))
        return base;
    /* a tmpfs: a socket or a file made there costs no disk inode (on an
       ext4 /tmp, the bind(2) of each ipc socket searched the inode
       bitmaps: 1.8 ms of a 20 ms run of 8 actors). Only a roomy one: the
       directory also holds checkpoints and sinks' output not yet
       committed, and a container's /dev/shm may be 64 MB. */
    struct statvfs st;
    if (usable("/dev/shm") && statvfs("/dev/shm", &st) == 0
        && (unsigned long long)st.f_bavail * st.f_frsize >= SHM_ROOM)
        return "/dev/shm";
    return "/tmp";
}

int rundir_owner(const char *name)
{
    /* ...-PID-XXXXXX */
    size_t len = strlen(name);
    if (len < 9 || name[len - 7] != '-')
        return 0;
    size_t end = len - 7, start = end;
    while (start > 0 && isdigit((unsigned char)name[start - 1]))
        start--;
    if (start == end || start == 0 || name[start - 1] != '-' || end - start > 9)
        return 0;
    return atoi(name + start);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int rundir_remove(const char *dir)
{
    return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/*  KIND-PID-XXXXXX directories of ours in base whose PID is gone. */
static void sweep(const char *base, const char *kind)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    size_t klen = strlen(kind);
    struct dirent *e;
    while ((e = readdir(d))) {
        /* exactly KIND-PID-XXXXXX: troupe-PID-... must not take
           troupe-pool-PID-... for its own */
        int pid = rundir_owner(e->d_name);
        if (pid <= 0 || strncmp(e->d_name, kind, klen) || e->d_name[klen] != '-'
            || !isdigit((unsigned char)e->d_name[klen + 1]))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        rundir_remove(path);
    }
    closedir(d);
}

void rundir_sweep(const char *kind)
{
    sweep(rundir_base(), kind);
}

int rundir_make(const char *kind, char *dir, size_t len)
{
    const char *base = rundir_base();
    sweep(base, kind);
    int n = snprintf(dir, len, "%s/%s-%d-XXXXXX", base, kind, (int)getpid());
    if (n < 0 || (size_t)n >= len || !mkdtemp(dir)) {
        int err = n < 0 || (size_t)n >= len ? ENAMETOOLONG : errno;
        snprintf(dir, len, "%s", base);
        errno = err;
        return -1;
    }
    chmod(dir, 0700);
    return 0;
}

/*  alloc_count.c: an LD_PRELOAD shim that counts a process's heap calls,
    for bench/run --only allocations (what the hot path allocates per batch).

    TROUPE_ALLOC_COUNT=FILE: at exit every process appends one line,
    "PID TITLE mallocs callocs reallocs frees", TITLE being its argv[0] as
    it is then (an actor writes its "troupe: PIPELINE/ACTOR#N" over it). A
    process that leaves by _exit (a forked child that fails to exec) or a
    signal writes nothing. Counts only: every call goes on to glibc's own.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern char *program_invocation_name;

static unsigned long n_malloc, n_calloc, n_realloc, n_free;

void *malloc(size_t size)
{
    __atomic_add_fetch(&n_malloc, 1, __ATOMIC_RELAXED);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    __atomic_add_fetch(&n_calloc, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    __atomic_add_fetch(&n_realloc, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("TROUPE_ALLOC_COUNT");
    if (!path)
        return;
    int saved = errno;
    char line[512];
    int n = snprintf(line, sizeof line, "%d %s %lu %lu %lu %lu\n", (int)getpid(),
                     program_invocation_name, n_malloc, n_calloc, n_realloc, n_free);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && n > 0) {
        /* one write with O_APPEND: lines of processes ending together
           do not interleave */
        ssize_t w = write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
        (void)w;
    }
    if (fd >= 0)
        close(fd);
    errno = saved;
}

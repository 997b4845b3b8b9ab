/*  process.c: troupe_process_*, Python's multiprocessing.Process with the
    "spawn" start method. The child is this program executed again (never a
    bare fork: the caller may hold threads, locks and a zmq context), told by
    its environment which function to run (a selfref) and where its packed
    args are (a memfd). troupe_init sees TROUPE_PROCESS and calls
    process_child_main, which runs the function and exits with its value.
*/
#define _GNU_SOURCE
#include "embed/process.h"

#include "base/clock.h"
#include "base/error.h"
#include "base/selfref.h"
#include "base/spawn.h"
#include "embed/shared.h"
#include "troupe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct troupe_process {
    pid_t pid;
    int pidfd;  /* readable once the process has exited; -1: poll waitpid */
    int status; /* its wait status, once reaped */
    bool reaped;
    bool lost;  /* someone else reaped it (SIGCHLD ignored, waitpid (-1)) */
};


/* ==== the parent: starting ===================================================== */

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/*  A memfd holding the packed args (msgpack nil for NULL), close-on-exec so
    that no other child of this program inherits it; the child of
    troupe_process_start clears the flag for its own copy. */
static int args_memfd(const troupe_value_t *args)
{
    static const unsigned char nil = 0xc0;
    const void *data = &nil;
    size_t size = 1;
    if (args && !(data = troupe_value_data(args, &size)))
        return tr_error("troupe_process_start: args hold no packed value");
    int fd = memfd_create("troupe-process-args", MFD_CLOEXEC);
    if (fd < 0)
        return tr_error("troupe_process_start: memfd_create: %s", strerror(errno));
    if (write_all(fd, data, size) != 0) {
        int err = errno;
        close(fd);
        return tr_error("troupe_process_start: writing the args: %s", strerror(err));
    }
    return fd;
}

static bool env_is(const char *entry, const char *name)
{
    size_t len = strlen(name);
    return !strncmp(entry, name, len) && entry[len] == '=';
}

/*  The child's environment: ours, less any stale TROUPE_PROCESS* or
    TROUPE_SHARED_FD, plus the three entries it is to read. The array is
    the caller's (free it, not the strings but the last three); the other strings are environ's own, which
    setenv and unsetenv never free. */
static char **child_env(const char *ref, int args_fd, int share_fd)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **envp = calloc(n + 4, sizeof *envp);
    size_t ref_len = strlen(PROCESS_ENV_FN) + 1 + strlen(ref) + 1;
    char *fn_var = malloc(ref_len), *fd_var = malloc(sizeof PROCESS_ENV_ARGS_FD + 16),
         *share_var = malloc(sizeof SHARED_ENV_FD + 16);
    if (!envp || !fn_var || !fd_var || !share_var) {
        free(envp);
        free(fn_var);
        free(fd_var);
        free(share_var);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_is(environ[i], PROCESS_ENV_FN) && !env_is(environ[i], PROCESS_ENV_ARGS_FD)
            && !env_is(environ[i], SHARED_ENV_FD))
            envp[k++] = environ[i];
    snprintf(fn_var, ref_len, "%s=%s", PROCESS_ENV_FN, ref);
    snprintf(fd_var, sizeof PROCESS_ENV_ARGS_FD + 16, "%s=%d", PROCESS_ENV_ARGS_FD, args_fd);
    snprintf(share_var, sizeof SHARED_ENV_FD + 16, "%s=%d", SHARED_ENV_FD, share_fd);
    envp[k++] = fn_var;
    envp[k++] = fd_var;
    envp[k++] = share_var;
    envp[k] = NULL;
    return envp;
}

static void free_env(char **envp)
{
    if (!envp)
        return;
    size_t n = 0;
    while (envp[n])
        n++;
    free(envp[n - 1]); /* the three entries child_env added */
    free(envp[n - 2]);
    free(envp[n - 3]);
    free(envp);
}

static int open_pidfd(pid_t pid)
{
    if (getenv("TROUPE_NO_PIDFD"))
        return -1; /* tests the waitpid loop of kernels before 5.3 */
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

troupe_process_t *troupe_process_start(troupe_process_fn *fn, const troupe_value_t *args)
{
    tr_error_clear();
    if (!fn) {
        errno = EINVAL;
        tr_error("troupe_process_start: no function");
        return NULL;
    }
    /*  Here, TROUPE_PROCESS still set means that troupe_init did not run in
        this copy of the program: its main started over and would start its
        own copies in turn, without end. */
    if (getenv(PROCESS_ENV_FN)) {
        errno = EPERM;
        tr_error("troupe_process_start: this program is a process started by "
                 "troupe_process_start whose main did not call troupe_init first");
        return NULL;
    }
    char ref[PATH_MAX + 64], path[PATH_MAX];
    if (selfref_make((const void *)(uintptr_t)fn, ref, sizeof ref) != 0) {
        errno = EINVAL;
        tr_error("troupe_process_start: %p is not a function of this program or of "
                 "a library it has loaded",
                 (const void *)(uintptr_t)fn);
        return NULL;
    }
    /*  The file's path rather than "/proc/self/exe" itself: under valgrind
        the latter is valgrind, while readlink is answered for the program. */
    if (selfref_program(path, sizeof path) != 0) {
        tr_error("troupe_process_start: cannot find this program's file: %s",
                 strerror(errno));
        return NULL;
    }

    /* everything the child needs is made before the fork */
    troupe_process_t *p = calloc(1, sizeof *p);
    int args_fd = args_memfd(args);
    if (!p || args_fd < 0) {
        if (!p)
            tr_error("troupe_process_start: out of memory");
        free(p);
        if (args_fd >= 0)
            close(args_fd);
        return NULL;
    }
    p->pidfd = -1;
    /* the memory shared objects live in (shared.h), made now if it is not
       yet, so that this process can open any object made later too */
    int share_fd = shared_arena_fd();
    char **envp = child_env(ref, args_fd, share_fd);
    if (!envp) {
        tr_error("troupe_process_start: out of memory");
        close(args_fd);
        free(p);
        return NULL;
    }
    /*  Dies with the thread that started it: PR_SET_PDEATHSIG fires when
        the parent *thread* ends, not the parent process (troupe.h says
        so). Waiting for the exec (spawn_exec does) costs little and buys
        two things: a program that cannot be executed is an error here
        rather than an exit status 127 later, and the child has its
        PDEATHSIG before this returns. */
    char *argv[] = { path, NULL };
    spawn_t sp = { .path = path, .argv = argv, .envp = envp, .pdeathsig = SIGKILL,
                   .keep_fd = args_fd, .share_fd = share_fd > 2 ? share_fd : 0 };
    char why[PATH_MAX + 128];
    pid_t pid = spawn_exec(&sp, why, sizeof why);
    close(args_fd); /* the child has its own copy */
    free_env(envp);
    if (pid < 0) {
        free(p);
        tr_error("troupe_process_start: %s", why);
        return NULL;
    }
    p->pid = pid;
    p->pidfd = open_pidfd(pid); /* our unreaped child: its pid cannot be reused */
    return p;
}

/* ==== the parent: waiting, signalling ========================================= */

/*  Reaps p if it has exited (or waits until it has, if block). Returns 1
    once reaped, 0 while it runs, -1 when it was reaped by someone else. */
static int reap(troupe_process_t *p, bool block)
{
    if (p->reaped)
        return 1;
    if (p->lost)
        return -1;
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r == p->pid) {
        p->status = status;
        p->reaped = true;
    } else {
        p->lost = true;
    }
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    return p->reaped ? 1 : -1;
}

/*  Waits up to timeout seconds (< 0: forever) for p to exit and reaps it.
    Returns 1 once reaped, 0 on timeout, -1 when lost. */
static int wait_exit(troupe_process_t *p, double timeout)
{
    bool forever = !(timeout >= 0); /* NaN too */
    uint64_t start = now_ns(), deadline = UINT64_MAX;
    if (!forever && timeout < 1e9)
        deadline = start + (uint64_t)(timeout * 1e9);
    uint64_t nap = 500000; /* the waitpid loop's first sleep, ns */
    for (;;) {
        int r = reap(p, false);
        if (r != 0)
            return r;
        uint64_t now = now_ns();
        if (now >= deadline)
            return 0;
        uint64_t left = deadline - now;
        if (p->pidfd >= 0) {
            struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
            uint64_t ms = (left + 999999) / 1000000;
            int n = poll(&pfd, 1, forever ? -1 : ms > INT_MAX ? INT_MAX : (int)ms);
            if (n > 0)
                return reap(p, true); /* exited: waitpid returns at once */
            if (n < 0 && errno != EINTR) {
                close(p->pidfd); /* ENOMEM: go on with the waitpid loop */
                p->pidfd = -1;
            }
        } else {
            /*  No pidfd (Linux < 5.3): short sleeps that grow to 10 ms, so a
                quick process is seen quickly and a slow one costs little. */
            struct timespec ts = { 0, (long)(nap < left ? nap : left) };
            nanosleep(&ts, NULL);
            if (nap < 10000000)
                nap *= 2;
        }
    }
}

/*  join (p, 0) polls: 0 once p has exited, as Python's is_alive () is
    false. exitcode does not reap (it takes p as const), so a process that
    has finished but was not joined still reads as TROUPE_RUNNING: join it
    to learn how it ended, as in Python, where exitcode is None until
    join () or is_alive () has seen it end. */
int troupe_process_join(troupe_process_t *p, double timeout)
{
    tr_error_clear();
    if (!p) {
        errno = EINVAL;
        return tr_error("troupe_process_join: no process");
    }
    int r = wait_exit(p, timeout);
    if (r == 1)
        return 0;
    if (r == 0) {
        tr_error("troupe_process_join: process %d still runs after %g s", (int)p->pid,
                 timeout);
        errno = ETIMEDOUT;
        return -1;
    }
    tr_error("troupe_process_join: process %d was reaped by someone else (is SIGCHLD "
             "ignored, or does the program call waitpid (-1)?): its status is lost",
             (int)p->pid);
    errno = ECHILD;
    return -1;
}

/*  TROUPE_RUNNING until join has seen the end (see troupe_process_join). */
int troupe_process_exitcode(const troupe_process_t *p)
{
    if (!p || !p->reaped)
        return TROUPE_RUNNING; /* a lost status too: it is unknown */
    if (WIFSIGNALED(p->status))
        return -WTERMSIG(p->status);
    return WEXITSTATUS(p->status);
}

int troupe_process_pid(const troupe_process_t *p)
{
    return p ? (int)p->pid : -1;
}

/*  Through the pidfd when there is one, which can never reach another
    process that got the pid again. */
static int send_signal(troupe_process_t *p, int sig)
{
    if (p->reaped || p->lost)
        return 0; /* already gone: nothing to end */
    int rc = -1;
#ifdef SYS_pidfd_send_signal
    if (p->pidfd >= 0)
        rc = (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
    if (p->pidfd < 0 || (rc < 0 && errno == ENOSYS))
#endif
        rc = kill(p->pid, sig);
    if (rc < 0 && errno == ESRCH)
        return 0; /* it has exited meanwhile */
    return rc;
}

static int signal_process(troupe_process_t *p, int sig, const char *fn)
{
    tr_error_clear();
    if (!p) {
        errno = EINVAL;
        return tr_error("%s: no process", fn);
    }
    if (send_signal(p, sig) != 0)
        return tr_error("%s: process %d: %s", fn, (int)p->pid, strerror(errno));
    return 0;
}

int troupe_process_terminate(troupe_process_t *p)
{
    return signal_process(p, SIGTERM, "troupe_process_terminate");
}

int troupe_process_kill(troupe_process_t *p)
{
    return signal_process(p, SIGKILL, "troupe_process_kill");
}

/*  Python's is_alive: reaps a process that has ended (then exitcode has
    its status), so that it does not stay a zombie. */
bool troupe_process_is_alive(troupe_process_t *p)
{
    return p && reap(p, false) == 0;
}

void troupe_process_destroy(troupe_process_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    troupe_process_t *p = *p_p;
    if (reap(p, false) == 0) {
        send_signal(p, SIGTERM);
        if (wait_exit(p, 1.0) == 0) {
            send_signal(p, SIGKILL);
            reap(p, true);
        }
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    free(p);
    *p_p = NULL;
}

/* ==== the child ================================================================== */

static void child_fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

/*  One line on stderr and PROCESS_EXIT_SETUP: the function never ran. */
static void child_fail(const char *format, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    fprintf(stderr, "troupe: process: %s\n", line);
    exit(PROCESS_EXIT_SETUP);
}

/*  The packed args from the parent's memfd, whole; the caller frees. */
static char *read_args(int fd, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NULL;
    if (st.st_size <= 0) {
        errno = ENODATA;
        return NULL;
    }
    /*  The parent wrote it through the same open file: the offset is at the
        end. */
    if (lseek(fd, 0, SEEK_SET) != 0)
        return NULL;
    char *buf = malloc((size_t)st.st_size);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENODATA;
            free(buf);
            return NULL;
        }
        got += (size_t)n;
    }
    *size = got;
    return buf;
}

void process_child_main(void)
{
    const char *ref_env = getenv(PROCESS_ENV_FN), *fd_env = getenv(PROCESS_ENV_ARGS_FD);
    char ref[PATH_MAX + 64];
    snprintf(ref, sizeof ref, "%s", ref_env ? ref_env : "");
    char *end = NULL;
    long fd = fd_env ? strtol(fd_env, &end, 10) : -1;
    bool fd_ok = fd_env && end != fd_env && !*end && fd >= 0 && fd <= INT_MAX;
    /* what this process starts in turn gets its own */
    unsetenv(PROCESS_ENV_FN);
    unsetenv(PROCESS_ENV_ARGS_FD);
    shared_attach();
    if (!fd_ok)
        child_fail("cannot read its arguments: %s is '%s'", PROCESS_ENV_ARGS_FD,
                   fd_env ? fd_env : "(unset)");

    size_t size = 0;
    /*  Static, so that the args a process killed during fn was holding
        read as reachable to valgrind (--trace-children=yes), not lost. */
    static char *data;
    data = read_args((int)fd, &size);
    int err = errno;
    close((int)fd);
    if (!data)
        child_fail("cannot read its arguments: %s", strerror(err));
    msgpack_unpacked args;
    msgpack_unpacked_init(&args);
    size_t off = 0;
    /* freed before every exit, so that valgrind on a child finds no leak */
    if (msgpack_unpack_next(&args, data, size, &off) != MSGPACK_UNPACK_SUCCESS
        || off != size) {
        msgpack_unpacked_destroy(&args);
        free(data);
        child_fail("cannot read its arguments: its %zu bytes are not one msgpack value",
                   size);
    }

    char why[PATH_MAX + 128];
    troupe_process_fn *fn = (troupe_process_fn *)(uintptr_t)selfref_resolve(ref, why,
                                                                            sizeof why);
    if (!fn) {
        msgpack_unpacked_destroy(&args);
        free(data);
        child_fail("cannot find its function: %s", why);
    }
    int rc = fn(&args.data);
    /* strings in args point into data: both live until fn has returned */
    msgpack_unpacked_destroy(&args);
    free(data);
    exit(rc & 0xff); /* exit, not _exit: what fn left in stdio buffers is written */
}

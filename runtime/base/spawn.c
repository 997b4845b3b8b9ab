/*  spawn.c: starting a program (spawn.h says how and why so). */
#define _GNU_SOURCE
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int stage; /* STAGE_* */
    int err;   /* its errno */
} report_t;

enum { STAGE_PDEATHSIG, STAGE_ORPHAN, STAGE_KEEP_FD, STAGE_EXEC };

static const char *const stages[] = {
    [STAGE_PDEATHSIG] = "cannot ask to die with its parent",
    [STAGE_ORPHAN] = "its parent exited",
    [STAGE_KEEP_FD] = "cannot keep its descriptors open",
    [STAGE_EXEC] = "cannot execute",
};

static void default_handlers(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
            continue;
        sa.sa_handler = SIG_DFL;
        sa.sa_flags = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
    }
}

/*  In the child, never returns. The parent's pid is passed in: getppid
    differing from it means the parent is gone before the prctl. */
static void child(const spawn_t *sp, pid_t parent, int report_fd) __attribute__((noreturn));
static void child(const spawn_t *sp, pid_t parent, int report_fd)
{
    extern char **environ;
    report_t r = { STAGE_EXEC, 0 };
    if (sp->pdeathsig && prctl(PR_SET_PDEATHSIG, sp->pdeathsig) != 0) {
        r = (report_t){ STAGE_PDEATHSIG, errno };
        goto fail;
    }
    if (sp->pdeathsig && getppid() != parent) {
        r = (report_t){ STAGE_ORPHAN, ESRCH };
        goto fail;
    }
    if ((sp->keep_fd >= 0 && fcntl(sp->keep_fd, F_SETFD, 0) != 0)
        || (sp->share_fd > 0 && fcntl(sp->share_fd, F_SETFD, 0) != 0)) {
        r = (report_t){ STAGE_KEEP_FD, errno };
        goto fail;
    }
    default_handlers();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, sp->mask ? sp->mask : &none, NULL);
    execve(sp->path, sp->argv, sp->envp ? sp->envp : environ);
    r.err = errno;
fail:
    while (write(report_fd, &r, sizeof r) < 0 && errno == EINTR)
        ;
    _exit(127);
}

/*  The child's report: 0 when it reached exec (the pipe closed empty). */
static int read_report(int fd, const char *path, char *err, size_t errlen)
{
    report_t r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fd, (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == 0)
        return 0;
    if (got < sizeof r || r.stage < 0 || r.stage > STAGE_EXEC) {
        snprintf(err, errlen, "%s failed before exec", path);
        errno = ECHILD;
        return -1;
    }
    if (r.stage == STAGE_EXEC)
        snprintf(err, errlen, "%s %s: %s", stages[r.stage], path, strerror(r.err));
    else
        snprintf(err, errlen, "starting %s: %s: %s", path, stages[r.stage],
                 strerror(r.err));
    errno = r.err ? r.err : ECHILD;
    return -1;
}

pid_t spawn_exec(const spawn_t *sp, char *err, size_t errlen)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot start %s: %s", sp->path, strerror(errno));
        return -1;
    }
    fflush(stdout); /* not written twice by the child's copy of the buffer */
    fflush(stderr);
    sigset_t all, old;
    sigfillset(&all);
    pid_t parent = getpid();
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        child(sp, parent, report[1]);
    }
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        snprintf(err, errlen, "cannot fork for %s: %s", sp->path, strerror(fork_err));
        errno = fork_err;
        return -1;
    }
    int rc = read_report(report[0], sp->path, err, errlen);
    close(report[0]);
    if (rc != 0) {
        int saved = errno;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = saved;
        return -1;
    }
    return pid;
}

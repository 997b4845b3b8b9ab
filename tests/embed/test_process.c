/*  test_process.c: troupe_process_* runs a function of this program in a
    new process (this program started again), hands it its args, and
    reports how it ended: exit status, signal, timeout; it refuses what it
    cannot start and never leaves a zombie. Each test_* names what it
    proves; any failed check makes the program exit 1.
*/
#define _GNU_SOURCE
#include "troupe.h"
#include "embed_check.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static int64_t arg_int(const msgpack_object *args, uint32_t i)
{
    if (args->type != MSGPACK_OBJECT_ARRAY || i >= args->via.array.size)
        return -1;
    const msgpack_object *o = &args->via.array.ptr[i];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return -1;
}

/* ==== the processes' bodies ====================================================== */

/*  No fflush: the line reaches the file only if the process leaves with
    exit (), which flushes stdio, and not _exit (). */
static int print_worker(const msgpack_object *args)
{
    if (args->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return 200;
    printf("worker %d\n", (int)args->via.u64);
    return (int)args->via.u64;
}

static int sleeper(const msgpack_object *args)
{
    (void)args;
    for (int i = 0; i < 100; i++)
        usleep(100000);
    return 0;
}

/*  Ignores SIGTERM, then says so on the pipe whose write end is args[0]. */
static int stubborn(const msgpack_object *args)
{
    signal(SIGTERM, SIG_IGN);
    int fd = (int)arg_int(args, 0);
    if (write(fd, "!", 1) != 1)
        return 201;
    return sleeper(args);
}

static int self_signal(const msgpack_object *args)
{
    (void)args;
    raise(SIGUSR1);
    return 0;
}

static int sum_ints(const msgpack_object *args)
{
    if (args->type != MSGPACK_OBJECT_ARRAY)
        return 200;
    int64_t sum = 0;
    for (uint32_t i = 0; i < args->via.array.size; i++)
        sum += arg_int(args, i);
    return (int)(sum & 0xff);
}

static int is_nil(const msgpack_object *args)
{
    return args->type == MSGPACK_OBJECT_NIL ? 42 : 1;
}

static int echo_int(const msgpack_object *args)
{
    return args->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)args->via.u64 : 200;
}

/*  Starts echo_int (args) in turn: troupe_process_start works in a
    process, and the grandchild's status comes back through two exits. */
static int nested(const msgpack_object *args)
{
    troupe_value_t *v = troupe_value_int(echo_int(args) + 1);
    troupe_process_t *p = troupe_process_start(echo_int, v);
    troupe_value_destroy(&v);
    if (!p || troupe_process_join(p, 10) != 0)
        return 201;
    int code = troupe_process_exitcode(p);
    troupe_process_destroy(&p);
    return code;
}

static int return_259(const msgpack_object *args)
{
    (void)args;
    return 259;
}

/*  0 when the process sees neither troupe's variables nor a descriptor its
    parent did not have (args: the parent's open descriptors); 100 when a
    variable is left, else the first stray descriptor. */
static int clean_start(const msgpack_object *args)
{
    if (getenv("TROUPE_PROCESS") || getenv("TROUPE_PROCESS_ARGS_FD")
        || getenv("TROUPE_SHARED_FD"))
        return 100;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 101;
    int stray = 0;
    struct dirent *e;
    while (!stray && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        bool known = fd == dirfd(d);
        for (uint32_t i = 0; i < args->via.array.size; i++)
            known = known || arg_int(args, i) == fd;
        if (!known)
            stray = fd;
    }
    closedir(d);
    return stray;
}

/* ==== tests ======================================================================== */

static void test_five_workers_print_once_and_exit_with_their_number(void)
{
    char path[] = "/tmp/troupe-test-process-XXXXXX";
    int out = mkstemp(path);
    CHECK(out >= 0);
    if (out < 0)
        return;
    unlink(path);
    fcntl(out, F_SETFL, O_APPEND);
    fflush(stdout);
    int saved = dup(1);
    dup2(out, 1);

    troupe_process_t *ps[5];
    for (int i = 0; i < 5; i++) {
        troupe_value_t *n = troupe_value_int(i);
        ps[i] = troupe_process_start(print_worker, n);
        troupe_value_destroy(&n);
        CHECK(n == NULL);
        CHECK(ps[i] != NULL);
    }
    for (int i = 0; i < 5; i++) {
        if (!ps[i])
            continue;
        CHECK(troupe_process_pid(ps[i]) > 0 && troupe_process_pid(ps[i]) != getpid());
        CHECK(troupe_process_join(ps[i], 10) == 0);
        CHECK(troupe_process_exitcode(ps[i]) == i);
        troupe_process_destroy(&ps[i]);
        CHECK(ps[i] == NULL);
    }

    dup2(saved, 1);
    close(saved);
    char text[256] = "";
    ssize_t n = pread(out, text, sizeof text - 1, 0);
    close(out);
    CHECK(n > 0);
    text[n > 0 ? n : 0] = '\0';
    /* any order, each line once */
    int seen[5] = { 0 };
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        int k;
        char tail;
        if (sscanf(line, "worker %d%c", &k, &tail) == 1 && k >= 0 && k < 5)
            seen[k]++;
        else
            fprintf(stderr, "unexpected line: '%s'\n", line);
    }
    CHECK(lines == 5);
    for (int i = 0; i < 5; i++)
        CHECK(seen[i] == 1);
}

static void test_join_times_out_then_terminate_reports_sigterm(void)
{
    troupe_process_t *p = troupe_process_start(sleeper, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    double t0 = embed_now();
    errno = 0;
    CHECK(troupe_process_join(p, 0.2) == -1);
    CHECK(errno == ETIMEDOUT);
    double took = embed_now() - t0;
    CHECK(took >= 0.19 && took < 2.0);
    CHECK(strstr(troupe_error(), "still runs") != NULL);
    CHECK(troupe_process_exitcode(p) == TROUPE_RUNNING);
    errno = 0;
    CHECK(troupe_process_join(p, 0) == -1 && errno == ETIMEDOUT); /* a poll */

    t0 = embed_now();
    CHECK(troupe_process_terminate(p) == 0);
    CHECK(troupe_process_join(p, 5) == 0);
    CHECK(embed_now() - t0 < 2.0);
    CHECK(troupe_process_exitcode(p) == -SIGTERM);
    /* once ended, it stays ended */
    CHECK(troupe_process_join(p, 0) == 0);
    CHECK(troupe_process_terminate(p) == 0);
    CHECK(troupe_process_exitcode(p) == -SIGTERM);
    troupe_process_destroy(&p);
}

/*  Starting, joining and terminating leave troupe_error () "" when they
    succeed, even right after a call that failed. */
static void test_a_success_clears_the_last_error(void)
{
    troupe_process_t *p = NULL;
    CHECK(troupe_value_cstr(NULL) == NULL && *troupe_error() != '\0');
    CHECK((p = troupe_process_start(sleeper, NULL)) != NULL);
    CHECK(*troupe_error() == '\0');
    if (!p)
        return;
    CHECK(troupe_value_cstr(NULL) == NULL && *troupe_error() != '\0');
    CHECK(troupe_process_terminate(p) == 0);
    CHECK(*troupe_error() == '\0');
    CHECK(troupe_value_cstr(NULL) == NULL && *troupe_error() != '\0');
    CHECK(troupe_process_join(p, 30) == 0);
    CHECK(*troupe_error() == '\0');
    troupe_process_destroy(&p);
}

static void test_death_by_signal_reports_minus_the_signal(void)
{
    troupe_process_t *p = troupe_process_start(self_signal, NULL);
    CHECK(p != NULL);
    if (p) {
        CHECK(troupe_process_join(p, 10) == 0);
        CHECK(troupe_process_exitcode(p) == -SIGUSR1);
        troupe_process_destroy(&p);
    }
    p = troupe_process_start(sleeper, NULL);
    CHECK(p != NULL);
    if (p) {
        CHECK(kill(troupe_process_pid(p), SIGKILL) == 0);
        CHECK(troupe_process_join(p, 10) == 0);
        CHECK(troupe_process_exitcode(p) == -SIGKILL);
        troupe_process_destroy(&p);
    }
}

/*  CPython's test_terminate / test_kill: is_alive while it runs, false
    once the signal has ended it (is_alive reaps it: no join needed), and
    the exit code is minus the signal. */
static void test_kill_and_is_alive(void)
{
    troupe_process_t *p = troupe_process_start(sleeper, NULL);
    CHECK(p && troupe_process_is_alive(p));
    CHECK(p && troupe_process_exitcode(p) == TROUPE_RUNNING);
    CHECK(troupe_process_kill(p) == 0);
    for (int i = 0; i < 1000 && troupe_process_is_alive(p); i++)
        usleep(10000);
    CHECK(!troupe_process_is_alive(p));
    CHECK(troupe_process_exitcode(p) == -SIGKILL);
    CHECK(troupe_process_join(p, 0) == 0);
    CHECK(troupe_process_kill(p) == 0); /* gone already: nothing to do, no error */
    troupe_process_destroy(&p);
    CHECK(!troupe_process_is_alive(NULL));
    CHECK(troupe_process_kill(NULL) == -1);
}

/*  Starts fn(args), joins it and returns its exit code (or -9999). */
static int run(troupe_process_fn *fn, troupe_value_t *args)
{
    troupe_process_t *p = troupe_process_start(fn, args);
    troupe_value_destroy(&args);
    CHECK(p != NULL);
    if (!p)
        return -9999;
    CHECK(troupe_process_join(p, 30) == 0);
    int code = troupe_process_exitcode(p);
    troupe_process_destroy(&p);
    return code;
}

static void test_args_round_trip(void)
{
    int64_t few[] = { 100, -3, 50, 7 };
    CHECK(run(sum_ints, troupe_value_ints(few, 4)) == 154);
    CHECK(run(is_nil, NULL) == 42);
    CHECK(run(echo_int, troupe_value_int(77)) == 77);
    CHECK(run(sum_ints, troupe_value_ints(NULL, 0)) == 0);

    /* more than a pipe's worth: 100000 ints, about 300 kB packed */
    size_t n = 100000;
    int64_t *many = malloc(n * sizeof *many), sum = 0;
    CHECK(many != NULL);
    if (!many)
        return;
    for (size_t i = 0; i < n; i++)
        sum += many[i] = (int64_t)(i * 7919 % 100003) - 50000;
    CHECK(run(sum_ints, troupe_value_ints(many, n)) == (int)(sum & 0xff));
    free(many);

    CHECK(run(nested, troupe_value_int(20)) == 21);

    /* the status is the return value's low byte */
    CHECK(run(return_259, NULL) == 3);
}

static void test_function_not_in_the_program_is_refused(void)
{
    void *heap = malloc(64);
    int on_stack = 0;
    troupe_process_fn *from_heap = (troupe_process_fn *)(uintptr_t)heap;
    troupe_process_fn *from_stack = (troupe_process_fn *)(uintptr_t)&on_stack;

    CHECK(troupe_process_start(from_heap, NULL) == NULL);
    CHECK(strstr(troupe_error(), "is not a function of this program") != NULL);
    CHECK(troupe_process_start(from_stack, NULL) == NULL);
    CHECK(strstr(troupe_error(), "is not a function of this program") != NULL);
    CHECK(troupe_process_start(NULL, NULL) == NULL);
    CHECK(strcmp(troupe_error(), "troupe_process_start: no function") == 0);
    free(heap);
}

static bool is_gone(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}

static void test_destroy_ends_and_reaps_a_running_process(void)
{
    /* one that obeys SIGTERM: at once */
    troupe_process_t *p = troupe_process_start(sleeper, NULL);
    CHECK(p != NULL);
    if (p) {
        pid_t pid = troupe_process_pid(p);
        double t0 = embed_now();
        troupe_process_destroy(&p);
        CHECK(p == NULL);
        CHECK(embed_now() - t0 < 0.9);
        CHECK(is_gone(pid));
    }

    /* one that ignores it: killed after a second */
    int ready[2];
    CHECK(pipe(ready) == 0);
    int64_t fd = ready[1];
    troupe_value_t *args = troupe_value_ints(&fd, 1);
    p = troupe_process_start(stubborn, args);
    troupe_value_destroy(&args);
    close(ready[1]);
    CHECK(p != NULL);
    if (p) {
        char c;
        CHECK(read(ready[0], &c, 1) == 1); /* SIGTERM is ignored from now on */
        pid_t pid = troupe_process_pid(p);
        double t0 = embed_now();
        troupe_process_destroy(&p);
        double took = embed_now() - t0;
        CHECK(took >= 0.9 && took < 3.0);
        CHECK(is_gone(pid));
    }
    close(ready[0]);

    /* NULL, twice, and after join: harmless */
    troupe_process_destroy(&p);
    troupe_process_destroy(NULL);
    p = troupe_process_start(is_nil, NULL);
    CHECK(p && troupe_process_join(p, 10) == 0);
    troupe_process_destroy(&p);

    /* no child of ours is left, zombie or not */
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

static void test_children_inherit_no_troupe_descriptor_or_variable(void)
{
    int64_t fds[256];
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            fds[n++] = atoi(e->d_name);
    closedir(d);
    CHECK(run(clean_start, troupe_value_ints(fds, n)) == 0);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_the_parent_keeps_no_descriptor_of_a_destroyed_process(void)
{
    int before = count_fds();
    troupe_process_t *done = troupe_process_start(is_nil, NULL);
    troupe_process_t *running = troupe_process_start(sleeper, NULL);
    CHECK(done && running);
    CHECK(done && troupe_process_join(done, 10) == 0);
    troupe_process_destroy(&done);
    troupe_process_destroy(&running);
    CHECK(count_fds() == before);
}

static void *start_in_thread(void *arg)
{
    (void)arg;
    return troupe_process_start(sleeper, NULL);
}

static void test_the_end_of_its_thread_kills_a_process(void)
{
    pthread_t t;
    void *ret = NULL;
    CHECK(pthread_create(&t, NULL, start_in_thread, NULL) == 0);
    CHECK(pthread_join(t, &ret) == 0);
    troupe_process_t *p = ret;
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK(troupe_process_join(p, 5) == 0);
    CHECK(troupe_process_exitcode(p) == -SIGKILL);
    troupe_process_destroy(&p);
}

/*  Threads that start and join their own processes at the same time. */
static void *start_five(void *arg)
{
    int base = (int)(intptr_t)arg, bad = 0;
    troupe_process_t *ps[5];
    for (int i = 0; i < 5; i++) {
        troupe_value_t *v = troupe_value_int(base + i);
        ps[i] = troupe_process_start(echo_int, v);
        troupe_value_destroy(&v);
    }
    for (int i = 0; i < 5; i++) {
        if (!ps[i] || troupe_process_join(ps[i], 30) != 0
            || troupe_process_exitcode(ps[i]) != base + i)
            bad++;
        troupe_process_destroy(&ps[i]);
    }
    return (void *)(intptr_t)bad;
}

static void test_threads_start_processes_at_once(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, start_five, (void *)(intptr_t)(10 * i)) == 0);
    for (int i = 0; i < 4; i++) {
        void *bad = NULL;
        CHECK(pthread_join(t[i], &bad) == 0);
        CHECK(bad == NULL);
    }
}

/*  Runs this program as troupe_process_start's child would be run, with
    the environment given; returns its exit status and what it wrote on
    stderr. A program whose troupe_init did not take over would run these
    tests again instead. */
static int run_as_child(const char *fn_ref, const char *args_fd, char *err, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        if (fn_ref)
            setenv("TROUPE_PROCESS", fn_ref, 1);
        if (args_fd)
            setenv("TROUPE_PROCESS_ARGS_FD", args_fd, 1);
        execl(self, self, (char *)NULL);
        _exit(99);
    }
    close(pipefd[1]);
    size_t got = 0;
    while (got < len - 1 && (n = read(pipefd[0], err + got, len - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = '\0';
    close(pipefd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_a_child_that_cannot_run_its_function_exits_126(void)
{
    char err[1024];
    CHECK(run_as_child("self::zz", NULL, err, sizeof err) == 126);
    CHECK(!strcmp(err, "troupe: process: cannot read its arguments: "
                       "TROUPE_PROCESS_ARGS_FD is '(unset)'\n"));

    CHECK(run_as_child("self::zz", "999", err, sizeof err) == 126);
    CHECK(!strcmp(err, "troupe: process: cannot read its arguments: Bad file descriptor\n"));

    /* 0xc1 is no msgpack value; 0xc0 (nil) is */
    char path[] = "/tmp/troupe-test-process-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    unlink(path);
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", fd);
    CHECK(write(fd, "\xc1", 1) == 1);
    CHECK(run_as_child("self::zz", fdtext, err, sizeof err) == 126);
    CHECK(!strcmp(err, "troupe: process: cannot read its arguments: "
                       "its 1 bytes are not one msgpack value\n"));

    CHECK(pwrite(fd, "\xc0", 1, 0) == 1);
    CHECK(run_as_child("self::zz", fdtext, err, sizeof err) == 126);
    CHECK(!strcmp(err, "troupe: process: cannot find its function: 'self::zz': bad offset\n"));
    close(fd);
}

int main(int argc, char **argv)
{
    troupe_init(argc, argv);
    const embed_test_t tests[] = {
#define T(name) { #name, name }
        T(test_five_workers_print_once_and_exit_with_their_number),
        T(test_join_times_out_then_terminate_reports_sigterm),
        T(test_death_by_signal_reports_minus_the_signal),
        T(test_kill_and_is_alive),
        T(test_a_success_clears_the_last_error),
        T(test_args_round_trip),
        T(test_function_not_in_the_program_is_refused),
        T(test_children_inherit_no_troupe_descriptor_or_variable),
        T(test_the_parent_keeps_no_descriptor_of_a_destroyed_process),
        T(test_the_end_of_its_thread_kills_a_process),
        T(test_threads_start_processes_at_once),
        T(test_a_child_that_cannot_run_its_function_exits_126),
        /* last: it checks that no child at all is left */
        T(test_destroy_ends_and_reaps_a_running_process),
#undef T
    };
    embed_run(tests, sizeof tests / sizeof *tests, NULL, &failures);
    return failures ? 1 : 0;
}

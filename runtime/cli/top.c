/*  top.c: `troupe top`. It finds a run by the info file its supervisor
    keeps in the run directory, subscribes to the stats socket beside it
    (or, with --head, asks a head for snapshots over its node link), and
    draws one row per actor instance each time a snapshot comes, a few
    times a second.

    Watching costs the run nothing and changes nothing in it: the
    supervisor publishes whether anyone listens, and a SUB that comes and
    goes is invisible to it. The SUB keeps only the newest snapshot
    (ZMQ_CONFLATE), so a terminal slower than the run never lags behind it.
*/
#include "cli/top.h"

#include "base/clock.h"
#include "wire/ctl.h"
#include "wire/nodelink.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <zmq.h>

#define SILENT_MS 3000  /* no snapshot this long: say so */
#define LOST_MS 10000   /* a head silent this long: give up */
#define WATCH_EVERY_MS 1000

/* ==== finding a run ================================================================ */

typedef struct {
    char dir[PATH_MAX];
    char pipeline[128];
    int pid;
} run_t;

static bool read_info(const char *dir, run_t *r)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/info", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256];
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "pipeline ", 9))
            snprintf(r->pipeline, sizeof r->pipeline, "%.127s", line + 9);
        else if (!strncmp(line, "pid ", 4))
            r->pid = atoi(line + 4);
    }
    fclose(f);
    /* a supervisor killed with -9 leaves its directory: not a run */
    return r->pipeline[0] && r->pid > 0 && (kill(r->pid, 0) == 0 || errno == EPERM);
}

/*  Run directories are made where the supervisor makes them
    (supervisor.c, make_rundir; pool.c): $XDG_RUNTIME_DIR or /tmp. */
static int find_runs(run_t **runs)
{
    const char *bases[2] = { getenv("XDG_RUNTIME_DIR"), "/tmp" };
    int n = 0, cap = 0;
    *runs = NULL;
    for (int b = 0; b < 2; b++) {
        if (!bases[b] || (b == 1 && bases[0] && !strcmp(bases[0], "/tmp")))
            continue;
        DIR *d = opendir(bases[b]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, "troupe-", 7))
                continue;
            char dir[PATH_MAX];
            struct stat st;
            snprintf(dir, sizeof dir, "%s/%s", bases[b], e->d_name);
            if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
                continue;
            if (n == cap) {
                run_t *more = realloc(*runs, (size_t)(cap = cap ? cap * 2 : 8) * sizeof **runs);
                if (!more)
                    break;
                *runs = more;
            }
            if (read_info(dir, &(*runs)[n]))
                n++;
        }
        if (d)
            closedir(d);
    }
    return n;
}

static void print_runs(FILE *f, const run_t *runs, int n)
{
    fprintf(f, "%-24s %8s  %s\n", "PIPELINE", "PID", "RUN DIRECTORY");
    for (int i = 0; i < n; i++)
        fprintf(f, "%-24s %8d  %s\n", runs[i].pipeline, runs[i].pid, runs[i].dir);
}

/*  Picks the run to watch. 0, or an exit code having said why. */
static int choose(const top_opts_t *o, run_t *out)
{
    struct stat st;
    if (o->target && strchr(o->target, '/') && stat(o->target, &st) == 0
        && S_ISDIR(st.st_mode)) {
        if (!read_info(o->target, out)) {
            fprintf(stderr, "troupe: top: %s is not the directory of a run going on "
                    "(no info file, or its supervisor is gone)\n", o->target);
            return 1;
        }
        return 0;
    }
    run_t *runs;
    int n = find_runs(&runs), match = 0, which = -1;
    for (int i = 0; i < n; i++)
        if (!o->target || !strcmp(runs[i].pipeline, o->target)) {
            match++;
            which = i;
        }
    int rc = 0;
    if (match == 1)
        *out = runs[which];
    else if (match == 0 && o->target)
        fprintf(stderr, "troupe: top: no run of a pipeline named '%s' is going on%s\n",
                o->target, n ? " (troupe top --list shows those that are)" : "");
    else if (match == 0)
        fprintf(stderr, "troupe: top: no troupe run is going on\n");
    else {
        fprintf(stderr, "troupe: top: %d runs%s%s%s are going on: name one by its run "
                "directory\n\n", match, o->target ? " of '" : "", o->target ? o->target : "",
                o->target ? "'" : "");
        for (int i = 0; i < n; i++)
            if (!o->target || !strcmp(runs[i].pipeline, o->target))
                print_runs(stderr, &runs[i], 1);
    }
    if (match != 1)
        rc = match == 0 ? 1 : 2;
    free(runs);
    return rc;
}

/* ==== a snapshot ==================================================================== */

static double get_d(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = ctl_map_get(map, key);
    if (v && (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32))
        return v->via.f64;
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64 : 0;
}

/*  A string field, as "%.*s" takes it. */
static int get_s(const msgpack_object *map, const char *key, const char **s)
{
    const msgpack_object *v = ctl_map_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR) {
        *s = "?";
        return 1;
    }
    *s = v->via.str.ptr;
    return (int)v->via.str.size;
}

/*  Lines of text, built up for one screen. */
typedef struct {
    char *buf;
    size_t len, cap;
    int lines;
} screen_t;

static void put(screen_t *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(screen_t *sc, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sc->buf ? sc->buf + sc->len : NULL,
                          sc->buf ? sc->cap - sc->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (sc->buf && sc->len + (size_t)n < sc->cap) {
            sc->len += (size_t)n;
            return;
        }
        size_t cap = (sc->cap ? sc->cap * 2 : 4096) + (size_t)n;
        char *more = realloc(sc->buf, cap);
        if (!more)
            return;
        sc->buf = more;
        sc->cap = cap;
    }
}

/*  The snapshot in data as text lines: a header, then a row per instance.
    Returns the run's state ("running", ..., "done", "failed") in state. */
static int render(const void *data, size_t size, screen_t *sc, char *state,
                  size_t statelen, const char *note)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, data, size, NULL) != MSGPACK_UNPACK_SUCCESS
        || u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    const msgpack_object *m = &u.data;
    const char *name, *st;
    int namelen = get_s(m, "pipeline", &name), stlen = get_s(m, "state", &st);
    snprintf(state, statelen, "%.*s", stlen, st);
    double elapsed = get_d(m, "elapsed");
    uint64_t total = ctl_map_u64(m, "total", 0), done = ctl_map_u64(m, "done", 0);
    put(sc, "troupe top: %.*s (pid %llu), %.*s, %d:%02d elapsed%s\n", namelen, name,
        (unsigned long long)ctl_map_u64(m, "pid", 0), stlen, st, (int)elapsed / 60,
        (int)elapsed % 60, note);
    if (total)
        put(sc, "sources: %llu of %llu items (%.0f%%)\n", (unsigned long long)done,
            (unsigned long long)total, done >= total ? 100.0 : 100.0 * (double)done / (double)total);
    else
        put(sc, "sources: %llu items (total not known)\n", (unsigned long long)done);
    put(sc, "\n%-12s %3s %-8s %7s %-10s %9s %9s %8s %4s %5s %5s %3s %5s\n", "ACTOR", "#",
        "NODE", "PID", "STATE", "IN", "OUT", "RATE/s", "HELD", "UNACK", "FAIL", "RST",
        "CPU%");
    const msgpack_object *actors = ctl_map_get(m, "actors"), *rows = ctl_map_get(m, "rows");
    if (rows && rows->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < rows->via.array.size; i++) {
            const msgpack_object *r = &rows->via.array.ptr[i];
            uint64_t a = ctl_map_u64(r, "actor", 0);
            const char *an = "?", *node, *rs;
            int anlen = 1;
            if (actors && actors->type == MSGPACK_OBJECT_ARRAY && a < actors->via.array.size)
                anlen = get_s(&actors->via.array.ptr[a], "name", &an);
            int nodelen = get_s(r, "node", &node), rslen = get_s(r, "state", &rs);
            put(sc, "%-12.*s %3llu %-8.*s %7llu %-10.*s %9llu %9llu %8.0f %4llu %5llu "
                "%5llu %3llu %5.1f\n", anlen, an, (unsigned long long)ctl_map_u64(r, "instance", 0),
                nodelen > 8 ? 8 : nodelen, node, (unsigned long long)ctl_map_u64(r, "pid", 0),
                rslen, rs, (unsigned long long)ctl_map_u64(r, "in", 0),
                (unsigned long long)ctl_map_u64(r, "out", 0), get_d(r, "rate"),
                (unsigned long long)ctl_map_u64(r, "held", 0), (unsigned long long)ctl_map_u64(r, "unacked", 0),
                (unsigned long long)ctl_map_u64(r, "failed", 0), (unsigned long long)ctl_map_u64(r, "restarts", 0),
                get_d(r, "cpu"));
        }
    msgpack_unpacked_destroy(&u);
    return 0;
}

/* ==== the terminal ================================================================== */

static volatile sig_atomic_t stop_signal, resized;

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        resized = 1;
    else
        stop_signal = sig;
}

typedef struct {
    bool tty;
    struct termios saved;
    bool raw;
} term_t;

static void term_enter(term_t *t)
{
    if (!t->tty)
        return;
    if (tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs("\033[?1049h\033[?25l", stdout); /* the alternate screen, no cursor */
    fflush(stdout);
}

static void term_leave(term_t *t)
{
    if (!t->tty)
        return;
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    if (t->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

/*  Draws the screen from the top left, each line cut to the width, as
    many lines as fit. */
static void draw(const screen_t *sc)
{
    struct winsize ws = { 0 };
    int cols = 120, rows = 40;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
    fputs("\033[H", stdout);
    const char *p = sc->buf, *end = sc->buf + sc->len;
    int line = 0, total = 0;
    for (const char *q = p; q < end; q++)
        total += *q == '\n';
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line == rows - 2 && total > rows - 1) {
            printf("... %d more rows (a taller terminal shows them)\033[K\n",
                   total - line);
            line++;
            break;
        }
        printf("%.*s\033[K\n", (int)(len > (size_t)cols ? (size_t)cols : len), p);
        line++;
        p = nl ? nl + 1 : end;
    }
    printf("\033[Kq: quit\033[J");
    fflush(stdout);
}

/* ==== watching ====================================================================== */

typedef struct {
    void *ctx, *sock;
    bool remote;
    uint64_t next_watch;
    msgpack_unpacked outer; /* remote: the [SNAPSHOT, bin] last read */
} feed_t;

static int feed_open(feed_t *f, const top_opts_t *o, const run_t *run)
{
    msgpack_unpacked_init(&f->outer);
    f->ctx = zmq_ctx_new();
    f->remote = o->head != NULL;
    f->sock = f->ctx ? zmq_socket(f->ctx, f->remote ? ZMQ_DEALER : ZMQ_SUB) : NULL;
    if (!f->sock)
        return -1;
    int zero = 0, one = 1;
    zmq_setsockopt(f->sock, ZMQ_LINGER, &zero, sizeof zero);
    if (!f->remote) {
        char ep[PATH_MAX + 16];
        zmq_setsockopt(f->sock, ZMQ_CONFLATE, &one, sizeof one);
        zmq_setsockopt(f->sock, ZMQ_SUBSCRIBE, "", 0);
        snprintf(ep, sizeof ep, "ipc://%s/stats", run->dir);
        return zmq_connect(f->sock, ep);
    }
    if (o->keys && auth_set_client(f->sock, o->keys->public_txt, o->keys->secret_txt,
                                   o->head_public)
                       != 0)
        return -1;
    return zmq_connect(f->sock, o->head);
}

/*  The next snapshot's bytes into msg (remote: unwrapped from [SNAPSHOT,
    bin]), waiting up to timeout ms; also keeps a remote lease alive.
    1: one came; 0: none; -1: interrupted by a key or signal (check). */
static int feed_next(feed_t *f, zmq_msg_t *msg, const void **data, size_t *size,
                     long timeout, bool keys)
{
    uint64_t now = now_ms();
    if (f->remote && now >= f->next_watch) {
        ctl_send_kind(f->sock, NULL, NODE_WATCH);
        f->next_watch = now + WATCH_EVERY_MS;
    }
    if (f->remote && timeout > (long)(f->next_watch - now))
        timeout = (long)(f->next_watch - now);
    zmq_pollitem_t items[2] = { { .socket = f->sock, .events = ZMQ_POLLIN },
                                { .fd = STDIN_FILENO, .events = ZMQ_POLLIN } };
    int rc = zmq_poll(items, keys ? 2 : 1, timeout);
    if (rc < 0)
        return -1;
    if (keys && (items[1].revents & ZMQ_POLLIN))
        return -1;
    if (!(items[0].revents & ZMQ_POLLIN))
        return 0;
    if (zmq_msg_recv(msg, f->sock, ZMQ_DONTWAIT) < 0)
        return 0;
    if (!f->remote) {
        *data = zmq_msg_data(msg);
        *size = zmq_msg_size(msg);
        return 1;
    }
    /* [SNAPSHOT, bin]: the bin's bytes stay in msg and f->outer */
    msgpack_unpacked_destroy(&f->outer);
    msgpack_unpacked_init(&f->outer);
    const msgpack_object *v = &f->outer.data;
    if (msgpack_unpack_next(&f->outer, zmq_msg_data(msg), zmq_msg_size(msg), NULL)
            != MSGPACK_UNPACK_SUCCESS
        || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 2
        || v->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || v->via.array.ptr[0].via.u64 != NODE_SNAPSHOT
        || v->via.array.ptr[1].type != MSGPACK_OBJECT_BIN)
        return 0;
    *data = v->via.array.ptr[1].via.bin.ptr;
    *size = v->via.array.ptr[1].via.bin.size;
    return 1;
}

static void feed_close(feed_t *f)
{
    msgpack_unpacked_destroy(&f->outer);
    if (f->sock)
        zmq_close(f->sock);
    if (f->ctx)
        zmq_ctx_term(f->ctx);
}

/*  --list: the runs going on, or a word that there are none. Returns the
    exit code. */
static int list_runs(void)
{
    run_t *runs;
    int n = find_runs(&runs);
    if (n)
        print_runs(stdout, runs, n);
    else
        fprintf(stderr, "troupe: top: no troupe run is going on\n");
    free(runs);
    return n ? 0 : 1;
}

/*  SIGINT, SIGTERM and SIGHUP end the watch; SIGWINCH redraws. */
static void catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/*  What the watch has seen so far. */
typedef struct {
    screen_t sc;        /* the last snapshot, as text */
    char state[32];     /* its run's state; "lost" once the run went silent */
    bool seen;          /* a snapshot has come */
    bool entered;       /* the full-screen view is up */
    uint64_t began;     /* when the watch began */
    uint64_t last;      /* when the last snapshot came */
} view_t;

/*  Whether the key waiting on stdin is one that quits: q, Q or Ctrl-C. */
static bool quit_key(void)
{
    char c;
    return read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q' || c == 3);
}

/*  A snapshot came at now: renders it into the view and, on a terminal,
    draws it. Returns true when the watch ends: the run is over (shown
    afterwards, on the ordinary screen), or without a terminal that one
    view was all (--once). */
static bool show(view_t *v, term_t *term, const void *data, size_t size,
                 uint64_t now)
{
    v->sc.len = 0;
    if (render(data, size, &v->sc, v->state, sizeof v->state, "") < 0)
        return false;
    v->seen = true;
    v->last = now;
    if (!strcmp(v->state, "done") || !strcmp(v->state, "failed"))
        return true;
    if (!term->tty)
        return true;
    if (!v->entered) {
        term_enter(term);
        v->entered = true;
    }
    draw(&v->sc);
    return false;
}

/*  No snapshot this time round. Returns 1 having said so when none ever
    came (the run is gone or sends none), 0 with the state "lost" when they
    stopped coming, or -1 to go on waiting. */
static int silence(const top_opts_t *o, const run_t *run, view_t *v, uint64_t now,
                   const char *what)
{
    bool gone = !o->head && kill(run->pid, 0) != 0 && errno == ESRCH;
    if (!v->seen && (gone || now - v->began > SILENT_MS)) {
        fprintf(stderr, "troupe: top: %s sends no stats%s\n", what,
                gone ? " (its supervisor has ended)" : " (is it a troupe run?)");
        return 1;
    }
    if (v->seen && (gone || now - v->last > (o->head ? LOST_MS : SILENT_MS))) {
        snprintf(v->state, sizeof v->state, "lost");
        return 0;
    }
    return -1;
}

/*  Shows each snapshot the feed brings until q, a signal, the run's end,
    --once's one view or silence. Returns 0, or 1 when no snapshot came. */
static int watch(const top_opts_t *o, const run_t *run, feed_t *f, term_t *term,
                 view_t *v, const char *what)
{
    int rc = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (!stop_signal) {
        const void *data;
        size_t size;
        int got = feed_next(f, &msg, &data, &size, 250, v->entered);
        if (got < 0 && v->entered) { /* a key */
            if (quit_key())
                break;
            continue;
        }
        uint64_t now = now_ms();
        if (got == 1) {
            if (show(v, term, data, size, now))
                break;
            continue;
        }
        if (resized && v->entered) {
            resized = 0;
            fputs("\033[2J", stdout);
            draw(&v->sc);
        }
        int end = silence(o, run, v, now, what);
        if (end >= 0) {
            rc = end;
            break;
        }
    }
    zmq_msg_close(&msg);
    return rc;
}

int top_run(const top_opts_t *o)
{
    run_t run = { 0 };
    if (o->list)
        return list_runs();
    if (!o->head) {
        int rc = choose(o, &run);
        if (rc)
            return rc;
    }
    const char *what = o->head ? o->head : run.pipeline;
    feed_t f = { 0 };
    if (feed_open(&f, o, &run) != 0) {
        fprintf(stderr, "troupe: top: cannot reach %s: %s\n", what, zmq_strerror(errno));
        feed_close(&f);
        return 1;
    }
    term_t term = { .tty = !o->once && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) };
    catch_signals();
    view_t v = { .began = now_ms() };
    v.last = v.began;
    int rc = watch(o, &run, &f, &term, &v, what);
    term_leave(&term);
    if (v.seen && v.sc.len) /* the last view stays on the screen */
        fwrite(v.sc.buf, 1, v.sc.len, stdout);
    if (!strcmp(v.state, "lost")) {
        fprintf(stderr, "troupe: top: %s went silent; its run may have ended\n", what);
        rc = 1;
    }
    fflush(stdout);
    free(v.sc.buf);
    feed_close(&f);
    return rc;
}

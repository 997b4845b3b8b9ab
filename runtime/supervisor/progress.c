/*  progress.c: how far a run has come, on stderr, for whoever watches it:
    a one-line bar redrawn in place when stderr is a terminal, a plain line
    a second with `troupe run --progress` when it is not.

    What counts as done is kept simple on purpose: the items that have come
    out of the source actors (items out, over every instance and
    incarnation), against the totals the sources announced
    (troupe_set_total). That is how far the input has been read, not how
    much of it has gone all the way through. Credit and windows keep a
    source at most a few batches ahead of the slowest stage, so the two
    differ by little, but the bar reaches 100% a little before the run
    ends. Items a restarted source makes again count twice; the total
    grows to match, so the percent never passes 100. The rate is over the
    last two seconds; the ETA is what is left at that rate.
*/
#include "supervisor/progress.h"

#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_MS 250    /* a sample, and a bar, this often */
#define WINDOW 9         /* samples kept: the rate is over the last 2 s */
#define BAR_AFTER_MS 500 /* a run done sooner never flashes a bar */
#define LINE_MS 1000     /* a plain line this often */
#define BAR_MAX 40       /* the bar's own cells at most */

struct progress {
    bool bar;       /* a bar on a terminal; else plain lines */
    bool drawn;     /* the bar is on the screen now */
    bool cleared;   /* ... was erased for a line, and comes back after it */
    char line[512]; /* the bar as last drawn */
    uint64_t next_sample, next_draw;
    struct {
        uint64_t t_ms, done;
    } samples[WINDOW];
    unsigned nsamples, newest; /* a ring */
};

/*  Whether stdout is the terminal stderr is. The sinks' output then lands
    on the line the bar is on, and each redraw would leave a torn line
    behind: the bar stays off unless asked for (--progress). */
static bool same_terminal(void)
{
    struct stat out, err;
    return isatty(STDOUT_FILENO) && fstat(STDOUT_FILENO, &out) == 0
           && fstat(STDERR_FILENO, &err) == 0 && out.st_rdev == err.st_rdev;
}

void progress_start(sup_t *s)
{
    const supervisor_opts_t *o = s->opts;
    if (o->verbose < 0 || o->embedded || o->progress < 0)
        return;
    bool tty = isatty(STDERR_FILENO);
    if (o->progress == 0 && (!tty || same_terminal()))
        return;
    if ((s->progress = calloc(1, sizeof *s->progress)))
        s->progress->bar = tty;
}

bool progress_bar(const sup_t *s)
{
    return s->progress && s->progress->bar;
}

/*  The items out of the sources so far, and their total: 0 until every
    instance of every source has announced one or ended (an instance that
    has ended made what it made, whatever it announced). */
void progress_tally(sup_t *s, uint64_t *done, uint64_t *total)
{
    uint64_t sum = 0, all = 0;
    bool known = true;
    for (int i = 0; i < s->ninsts; i++) {
        const inst_t *in = &s->insts[i];
        if (s->plan->actors[in->actor].ninputs)
            continue;
        uint64_t out = in->past[1] + in->stats[1];
        sum += out;
        if (in->finished || in->state == I_GONE)
            all += out;
        else if (in->total)
            all += in->total > out ? in->total : out;
        else
            known = false;
    }
    *done = sum;
    *total = known ? all : 0;
}

/*  Items per second over the samples kept. */
static double rate_of(const struct progress *p)
{
    if (p->nsamples < 2)
        return 0;
    unsigned oldest = (p->newest + WINDOW - (p->nsamples - 1)) % WINDOW;
    uint64_t dt = p->samples[p->newest].t_ms - p->samples[oldest].t_ms;
    uint64_t dn = p->samples[p->newest].done - p->samples[oldest].done;
    return dt ? (double)dn * 1000.0 / (double)dt : 0;
}

/*  v with commas between the thousands: 12,345,678. */
static const char *grouped(uint64_t v, char *buf, size_t len)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

/*  Seconds as M:SS or H:MM:SS. */
static const char *clock_text(uint64_t secs, char *buf, size_t len)
{
    if (secs >= 3600)
        snprintf(buf, len, "%llu:%02u:%02u", (unsigned long long)(secs / 3600),
                 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    else
        snprintf(buf, len, "%u:%02u", (unsigned)(secs / 60), (unsigned)(secs % 60));
    return buf;
}

static int columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/*  `[#####.....]  45%  45,000/100,000 items  12,345/s  ETA 0:04`, or with
    no total `45,000 items  12,345/s  0:12 elapsed`, cut to the terminal's
    width less one column (writing the last one makes some terminals wrap).
    One write, so that the line never shows half drawn. */
static void draw_bar(sup_t *s, struct progress *p, uint64_t done, uint64_t total,
                     double rate, uint64_t now)
{
    char d[32], t[32], r[32], c[32], text[256];
    grouped(done, d, sizeof d);
    grouped((uint64_t)(rate + 0.5), r, sizeof r);
    if (total) {
        unsigned pct = (unsigned)(done * 100 / total);
        const char *eta = done >= total ? clock_text(0, c, sizeof c)
                          : rate > 0    ? clock_text((uint64_t)((double)(total - done) / rate
                                                                + 0.5),
                                                     c, sizeof c)
                                        : "?";
        /* the counts padded to the total's width, so that the bar keeps
           its length as they grow */
        int w = (int)strlen(grouped(total, t, sizeof t));
        snprintf(text, sizeof text, "%3u%%  %*s/%s items  %*s/s  ETA %s", pct, w, d, t,
                 w, r, eta);
    }
    else
        snprintf(text, sizeof text, "%s items  %s/s  %s elapsed", d, r,
                 clock_text((now - s->t_run) / 1000, c, sizeof c));
    int room = columns() - 1;
    int cells = total ? room - (int)strlen(text) - 3 : 0; /* "[", "] " */
    if (cells > BAR_MAX)
        cells = BAR_MAX;
    int k = 0;
    if (cells >= 10) {
        int full = (int)((uint64_t)cells * done / total);
        p->line[k++] = '[';
        for (int i = 0; i < cells; i++)
            p->line[k++] = i < full ? '#' : '.';
        p->line[k++] = ']';
        p->line[k++] = ' ';
    }
    snprintf(p->line + k, sizeof p->line - (size_t)k, "%.*s", room > k ? room - k : 0, text);
    fprintf(stderr, "\r%s\033[K", p->line);
    p->drawn = true;
}

/*  The same news as a line of its own, as the supervisor's events are
    written (time, pipeline, level), for a log rather than a screen. */
static void plain_line(sup_t *s, uint64_t done, uint64_t total, double rate, uint64_t now)
{
    char text[256];
    if (total) {
        char eta[32] = "?";
        if (done >= total)
            snprintf(eta, sizeof eta, "0 s");
        else if (rate > 0)
            snprintf(eta, sizeof eta, "%.0f s", (double)(total - done) / rate);
        snprintf(text, sizeof text, "%llu/%llu items (%u%%), %.0f/s, ETA %s",
                 (unsigned long long)done, (unsigned long long)total,
                 (unsigned)(done * 100 / total), rate, eta);
    }
    else
        snprintf(text, sizeof text, "%llu items, %.0f/s, %llu s elapsed",
                 (unsigned long long)done, rate,
                 (unsigned long long)((now - s->t_run) / 1000));
    char stamp[24];
    fprintf(stderr, "%s troupe: %s: progress: %s\n", log_stamp(stamp), s->plan->name, text);
}

void progress_tick(sup_t *s)
{
    struct progress *p = s->progress;
    if (!p || !s->started)
        return;
    uint64_t now = now_ms();
    if (!p->next_sample)
        p->next_draw = s->t_run + (p->bar ? BAR_AFTER_MS : LINE_MS);
    if (now < p->next_sample)
        return;
    p->next_sample = now + SAMPLE_MS;
    uint64_t done, total;
    progress_tally(s, &done, &total);
    p->newest = p->nsamples ? (p->newest + 1) % WINDOW : 0;
    p->samples[p->newest].t_ms = now;
    p->samples[p->newest].done = done;
    if (p->nsamples < WINDOW)
        p->nsamples++;
    if (now < p->next_draw)
        return;
    /* a little early rather than a whole sample late */
    p->next_draw = now + (p->bar ? SAMPLE_MS : LINE_MS) - SAMPLE_MS / 2;
    if (p->bar)
        draw_bar(s, p, done, total, rate_of(p), now);
    else
        plain_line(s, done, total, rate_of(p), now);
}

void progress_clear(sup_t *s)
{
    struct progress *p = s->progress;
    if (!p || !p->drawn)
        return;
    fputs("\r\033[K", stderr);
    p->drawn = false;
    p->cleared = true;
}

void progress_restore(sup_t *s)
{
    struct progress *p = s->progress;
    if (!p || !p->cleared)
        return;
    fprintf(stderr, "\r%s\033[K", p->line);
    p->drawn = true;
    p->cleared = false;
}

void progress_end(sup_t *s)
{
    progress_clear(s);
    free(s->progress);
    s->progress = NULL;
}

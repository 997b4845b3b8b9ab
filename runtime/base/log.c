/*  log.c: troupe's log line (log.h says its format). */
#include "base/log.h"

#include "base/clock.h"

#include <stdio.h>
#include <unistd.h>

const char *log_level_name(log_level_t level)
{
    return level == LOG_ERROR ? "error" : level == LOG_WARNING ? "warning" : "info";
}

void log_vwrite(const char *erase, const char *who, log_level_t level, char *text,
                size_t len, const char *fmt, va_list ap)
{
    vsnprintf(text, len, fmt, ap);
    char stamp[24], line[2048];
    int n = snprintf(line, sizeof line, "%s%s %s: %s: %s\n", erase ? erase : "",
                     log_stamp(stamp), who, log_level_name(level), text);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) { /* cut, still one line */
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    fflush(stderr); /* what was written by stdio before stays before */
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w <= 0)
            return;
        off += w;
    }
}

void log_write(const char *who, log_level_t level, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(NULL, who, level, text, sizeof text, fmt, ap);
    va_end(ap);
}

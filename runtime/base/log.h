/*  log.h: the one format of every line troupe writes to stderr, from any
    process:

        HH:MM:SS.mmm WHO: LEVEL: TEXT

    WHO names the process: "troupe: PIPELINE" for a run's supervisor,
    "PIPELINE/ACTOR#N" for an actor instance (troupe_log and friends),
    "troupe node NAME" for a node. LEVEL is error, warning or info. A line
    is one write(2), so lines of processes sharing a terminal or a file
    never interleave.
*/
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_ERROR, LOG_WARNING, LOG_INFO } log_level_t;

const char *log_level_name(log_level_t level);

/*  Formats the text into `text` (for a caller that keeps it) and writes
    the line; `erase`, when not NULL, is written first on the same line
    (a progress bar's clearing sequence). */
void log_vwrite(const char *erase, const char *who, log_level_t level, char *text,
                size_t len, const char *fmt, va_list ap);
void log_write(const char *who, log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

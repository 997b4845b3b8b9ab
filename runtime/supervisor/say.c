/*  say.c: the supervisor's lines on stderr (base/log.h's format). */
#include "supervisor/supervise.h"

#include "supervisor/progress.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*  One line per event on stderr: time, level, the pipeline, the message
    (which names the actor and instance it is about). The last error is
    kept: it is what an external actor is told when the run fails. */
static void vsay(sup_t *s, log_level_t level, const char *fmt, va_list ap)
{
    /* a pool's supervisor says nothing unless asked: its caller gets the
       error (last_said); -q hides warnings, info needs -v */
    bool quiet = (s->opts->embedded && s->opts->verbose <= 0)
                 || (level == LOG_WARNING && s->opts->verbose < 0)
                 || (level == LOG_INFO && s->opts->verbose <= 0);
    char who[256], text[sizeof s->last_said];
    if (quiet) {
        vsnprintf(text, sizeof text, fmt, ap);
    } else {
        snprintf(who, sizeof who, "troupe: %s", s->plan->name);
        progress_clear(s); /* the line goes where the bar was, the bar below it */
        log_vwrite(NULL, who, level, text, sizeof text, fmt, ap);
        progress_restore(s);
    }
    if (level == LOG_ERROR)
        memcpy(s->last_said, text, sizeof text);
}

void say(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, LOG_ERROR, fmt, ap);
    va_end(ap);
}

void say_warn(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, LOG_WARNING, fmt, ap);
    va_end(ap);
}

void say_info(sup_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, LOG_INFO, fmt, ap);
    va_end(ap);
}

const char *actor_name(sup_t *s, inst_t *in)
{
    return s->plan->actors[in->actor].name;
}

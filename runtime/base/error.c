/*  error.c: troupe_error (), a message per thread (as dlerror has), so that
    threads sharing a pool never read each other's errors. */
#include "base/error.h"

#include "troupe.h"

#include <stdio.h>

static __thread char last_error[1024];

const char *troupe_error(void)
{
    return last_error;
}

int tr_verror(const char *format, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, format, ap);
    return -1;
}

int tr_error(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    tr_verror(format, ap);
    va_end(ap);
    return -1;
}

void tr_error_clear(void)
{
    last_error[0] = '\0';
}

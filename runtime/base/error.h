/*  error.h: the calling thread's last error message, what troupe_error ()
    returns. Every embedding call that can fail clears it first
    (tr_error_clear) and sets it when it fails, so that it is "" after a
    success; destructors and plain readers leave it alone. */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#include <stdarg.h>

/*  Sets the message (printf-style). Returns -1, so that a failing call can
    end with `return tr_error (...)`. */
int tr_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
int tr_verror(const char *format, va_list ap);
void tr_error_clear(void);

#endif

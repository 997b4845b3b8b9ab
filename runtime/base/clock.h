/*  clock.h: monotonic time in milliseconds and nanoseconds, for timeouts,
    heartbeats and busy-time counters; and the wall-clock stamp that starts
    every log line. */
#ifndef TR_CLOCK_H
#define TR_CLOCK_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ms(void)
{
    return now_ns() / 1000000;
}

/*  The local time as HH:MM:SS.mmm, the start of every line the run
    writes on stderr (the supervisor's events, modules' lines, progress). */
static inline const char *log_stamp(char buf[24])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    snprintf(buf, 24, "%02d:%02d:%02d.%03ld", tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (ts.tv_nsec / 1000000) % 1000);
    return buf;
}

#endif

/*
 * log.c - ducatd's logger (see log.h).
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* The one piece of process-wide state here: set by main/serve from the
 * configuration and the command line, read by every thread that logs. */
static atomic_int log_level = DC_LOG_INFO;

void dc_log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

void dc_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed)) return;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s ducatd %s: %s\n", ts, names[level & 3], msg);
}

/*
 * log.c - ducatd's logger (see log.h): text or JSON lines on stderr, event
 * lines with their fields, and syslog for the operator commands.
 */
#include "server/obs/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* The logger's process-wide state: the level (atomic, may change while
 * others log), the format and the syslog sink (set once at start). */
static atomic_int log_level = DC_LOG_INFO;
static int log_json;
static int log_syslog; /* operator commands: event lines to syslog(3), not stderr */
static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* [server] log_file, empty for stderr; set once before the threads start,
 * read by dc_log_reopen (the serving loop) under reopen_lock */
static char log_path[4096];
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens path for appending and puts it in place of descriptor 2. */
static enum dc_err swap_in(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, cap, "cannot open log file '%s': %s", path, strerror(errno));
        return DC_ERR_IO;
    }
    fflush(stderr);
    /* descriptor 2 stays open throughout: a concurrent write goes to the
     * old file or the new one, never to a closed or reused descriptor */
    int ok = fd == STDERR_FILENO || dup2(fd, STDERR_FILENO) == STDERR_FILENO;
    int saved = errno;
    if (fd != STDERR_FILENO) close(fd);
    if (!ok) {
        snprintf(err, cap, "cannot use log file '%s': %s", path, strerror(saved));
        return DC_ERR_IO;
    }
    return DC_OK;
}

enum dc_err dc_log_open_file(const char *path, char *err, size_t cap)
{
    if (strlen(path) >= sizeof log_path) {
        snprintf(err, cap, "log file path too long (%zu bytes)", strlen(path));
        return DC_ERR_CONFIG;
    }
    pthread_mutex_lock(&reopen_lock);
    enum dc_err e = swap_in(path, err, cap);
    if (e == DC_OK) snprintf(log_path, sizeof log_path, "%s", path);
    pthread_mutex_unlock(&reopen_lock);
    return e;
}

enum dc_err dc_log_reopen(char *err, size_t cap)
{
    pthread_mutex_lock(&reopen_lock);
    enum dc_err e = log_path[0] ? swap_in(log_path, err, cap) : DC_OK;
    pthread_mutex_unlock(&reopen_lock);
    return e;
}

void dc_log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

void dc_log_set_json(int on)
{
    log_json = on;
}

void dc_log_set_syslog(int on)
{
    if (on && !log_syslog) openlog("ducatd", LOG_PID, LOG_DAEMON);
    log_syslog = on;
}

static void log_time(char ts[static 32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes one finished line with a single stdio call, so lines of concurrent
 * threads never interleave. */
static void log_json_line(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (s) fprintf(stderr, "%s\n", s);
    free(s);
    json_decref(o);
}

void dc_log(int level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed)) return;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_time(ts);
    if (log_json) {
        log_json_line(
            json_pack("{s:s,s:s,s:s}", "time", ts, "level", level_names[level & 3], "msg", msg));
        return;
    }
    fprintf(stderr, "%s ducatd %s: %s\n", ts, level_names[level & 3], msg);
}

/* Appends " key=value" to line (cap bytes, always NUL-terminated); a value
 * with a space, quote, backslash, '=' or control byte is quoted and escaped. */
static void put_field(char *line, size_t cap, const struct dc_log_kv *kv)
{
    size_t n = strlen(line);
    if (!kv->str) {
        snprintf(line + n, cap - n, " %s=%lld", kv->key, kv->num);
        return;
    }
    int quote = kv->str[0] == '\0';
    for (const unsigned char *p = (const unsigned char *)kv->str; *p && !quote; p++) {
        quote = *p <= ' ' || *p == '"' || *p == '\\' || *p == '=' || *p == 0x7f;
    }
    n += (size_t)snprintf(line + n, cap - n, " %s=%s", kv->key, quote ? "\"" : "");
    for (const unsigned char *p = (const unsigned char *)kv->str; *p && n + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p;
        } else if (*p < ' ' || *p == 0x7f) {
            n += (size_t)snprintf(line + n, cap - n, "\\x%02x", *p);
        } else {
            line[n++] = (char)*p;
        }
    }
    if (quote && n + 1 < cap) line[n++] = '"';
    line[n < cap ? n : cap - 1] = '\0';
}

void dc_log_event(int level, const char *event, const struct dc_log_kv *kv, size_t n)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed)) return;
    char ts[32];
    log_time(ts);
    if (log_syslog) {
        /* syslog stamps the time and the program; the fields as in text */
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        char line[2048];
        snprintf(line, sizeof line, "event=%s", event);
        for (size_t i = 0; i < n; i++) put_field(line, sizeof line, &kv[i]);
        syslog(prio[level & 3], "%s", line);
        return;
    }
    if (log_json) {
        json_t *o =
            json_pack("{s:s,s:s,s:s}", "time", ts, "level", level_names[level & 3], "event", event);
        for (size_t i = 0; o && i < n; i++) {
            json_object_set_new(o, kv[i].key,
                                kv[i].str ? json_string(kv[i].str) : json_integer(kv[i].num));
        }
        log_json_line(o);
        return;
    }
    char line[2048];
    snprintf(line, sizeof line, "%s ducatd %s: event=%s", ts, level_names[level & 3], event);
    for (size_t i = 0; i < n; i++) put_field(line, sizeof line, &kv[i]);
    fprintf(stderr, "%s\n", line);
}

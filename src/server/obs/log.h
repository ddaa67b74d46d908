/*
 * log.h - ducatd's logger: one line to stderr with UTC time and level.
 *
 * Its own unit (log.c) so that everything in ducatd can log without
 * depending on the instance context (ctx.c): the writer logs, and ctx.c
 * stops the writer, so a logger inside ctx.c made the two depend on each
 * other. Never log secrets, tokens or whole coins.
 *
 * Thread safety: dc_log may be called from any thread; the level is an
 * atomic, so dc_log_set_level may run while others log.
 */
#ifndef DUCAT_SERVER_LOG_H
#define DUCAT_SERVER_LOG_H

#include <stddef.h>

#include "ducat/err.h"

#define DC_LOG_ERROR 0
#define DC_LOG_WARN 1
#define DC_LOG_INFO 2
#define DC_LOG_DEBUG 3

/* Writes one line if level is at or below the current level. */
void dc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the level (DC_LOG_ERROR .. DC_LOG_DEBUG); the default is DC_LOG_INFO. */
void dc_log_set_level(int level);
/* JSON lines: every line {"time","level","msg"} or an event object. */
void dc_log_set_json(int on);
/* Operator commands (a process of their own): event lines go to syslog(3),
 * so the journal holds what the CLI did; their messages stay on stderr. */
void dc_log_set_syslog(int on);

/* Sends the log to a file instead of stderr ([server] log_file): the file
 * is opened for appending (created 0640) and put in place of descriptor 2,
 * so whatever else writes to stderr (libmicrohttpd's messages through our
 * logger, a library's warning) lands in the same file. The path is kept
 * for dc_log_reopen. DC_ERR_IO with the reason in err if it cannot be
 * opened; stderr is then left as it was. Call before starting threads. */
DC_MUST_CHECK enum dc_err dc_log_open_file(const char *path, char *err, size_t cap);
/* Opens the dc_log_open_file path again and swaps it in (SIGHUP, after
 * logrotate renamed the old file): lines written from then on go to the
 * new file. Safe while other threads log (dup2 swaps descriptor 2 in one
 * step; a line goes whole to the old or the new file). Logging to stderr:
 * does nothing, DC_OK. On failure the old file stays in use and err says
 * why. */
DC_MUST_CHECK enum dc_err dc_log_reopen(char *err, size_t cap);

/* One field of an event line: a string (str != NULL) or an integer. */
struct dc_log_kv {
    const char *key;
    const char *str;
    long long num;
};
#define DC_KV_S(k, v) ((struct dc_log_kv){(k), (v), 0})
#define DC_KV_N(k, v) ((struct dc_log_kv){(k), NULL, (long long)(v)})

/* A security- or money-relevant event, one line with its ids:
 *   TIME ducatd info: event=case_opened case=7 culprit=1002 amount="30.00 CNY"
 * or in JSON {"time","level","event","case":7,...}. A string field is quoted
 * (with \" \\ and \xNN escapes) when it holds a space, quote, '=' or control
 * character, so a name can never forge another field. Never pass a secret. */
void dc_log_event(int level, const char *event, const struct dc_log_kv *kv, size_t n);
#define DC_LOG_EVENT(level, event, ...)                                                            \
    dc_log_event((level), (event), (const struct dc_log_kv[]){__VA_ARGS__},                        \
                 sizeof((const struct dc_log_kv[]){__VA_ARGS__}) / sizeof(struct dc_log_kv))

#endif

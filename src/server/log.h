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

#define DC_LOG_ERROR 0
#define DC_LOG_WARN 1
#define DC_LOG_INFO 2
#define DC_LOG_DEBUG 3

/* Writes one line if level is at or below the current level. */
void dc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the level (DC_LOG_ERROR .. DC_LOG_DEBUG); the default is DC_LOG_INFO. */
void dc_log_set_level(int level);

#endif

/*
 * ducat/calendar.h - working-day calendar: weekends, holidays, make-up days.
 *
 * Deposits sit in the frozen box for N working days (15 by default). What is
 * a working day depends on the jurisdiction: weekends, public holidays, and
 * weekend days that are worked to make up for bridged holidays (China's 调休).
 * The calendar is parsed from a plain text file (format in docs/OPERATIONS.md
 * and data/calendar-cn.txt) into a caller-owned struct; no allocation.
 *
 * A calendar knows only the dates it covers (its `covers` line): a holiday
 * list for a year nobody has published yet would silently count that year's
 * holidays as working days and release money early, so a release date whose
 * window leaves the coverage is marked provisional (dc_calendar_release).
 *
 * Days are counted as `int32_t` days since 1970-01-01 (the civil proleptic
 * Gregorian calendar); a calendar also carries a UTC offset so instants in
 * ms since the epoch map to local dates. THREAD SAFETY: pure functions.
 */
#ifndef DUCAT_CALENDAR_H
#define DUCAT_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_CALENDAR_MAX_DATES 512
/* Longest `holiday FROM TO` range, in days (inclusive). */
#define DC_CALENDAR_MAX_RANGE_DAYS 366
/* Supported day numbers: 1970-01-01 .. 9999-12-31. */
#define DC_CALENDAR_DAY_MIN 0
#define DC_CALENDAR_DAY_MAX 2932896

struct dc_calendar {
    uint8_t weekend_mask;   /* bit d set = weekday d is a rest day (0 = Monday .. 6 = Sunday) */
    int32_t utc_offset_min; /* local time = UTC + offset, minutes, -1439..1439 */
    int32_t holidays[DC_CALENDAR_MAX_DATES]; /* rest days, sorted ascending, unique */
    size_t n_holidays;
    int32_t workdays[DC_CALENDAR_MAX_DATES]; /* make-up working days, sorted, unique */
    size_t n_workdays;
    /* Dates the calendar speaks for, inclusive. Without a `covers` line the
     * calendar claims every supported date (DC_CALENDAR_DAY_MIN..MAX). */
    int32_t cover_from;
    int32_t cover_to;
};

/* A calendar with Saturday and Sunday as the weekend, UTC, no holidays,
 * covering every supported date. */
void dc_calendar_init_default(struct dc_calendar *out);

/*
 * Parses the text format into *out. The text is (text, len), need not be
 * NUL-terminated, and is read line by line ('\n' ends a line, one '\r' before
 * it is tolerated). '#' starts a comment anywhere on a line (comments may hold
 * any bytes, e.g. UTF-8); blank lines are skipped. Tokens are separated by
 * spaces or tabs; directive and day names are lowercase:
 *   weekend sat sun            rest weekdays (mon..sun), replaces the default
 *                              Sat+Sun; `weekend none` = no weekend. At most
 *                              once; a bare `weekend` or a repeated day is an
 *                              error (a truncated line must not mean "no weekend").
 *   utc-offset +08:00          local time zone offset, [+-]HH:MM up to 23:59;
 *                              at most once; default +00:00
 *   holiday 2026-10-01 [2026-10-07]   a rest day or an inclusive range of at
 *                              most DC_CALENDAR_MAX_RANGE_DAYS days
 *   workday 2026-10-10         a make-up working day
 *   covers 2025-01-01 2026-12-31   the inclusive range of dates whose
 *                              holidays the file lists; at most once; every
 *                              holiday and workday must lie inside it.
 *                              Without it the file covers every date.
 * Dates are YYYY-MM-DD in 1970..9999. Overlapping or repeated holidays (and
 * repeated workdays) are merged; the arrays come out sorted and unique.
 * A workday beats the weekend; a date may not be both a holiday and a workday.
 *
 * Returns DC_OK (and *err_line = 0), or sets *err_line to the 1-based line
 * number and returns:
 *   DC_ERR_CALENDAR_SYNTAX   unknown directive, bad token or argument count,
 *                            bad weekday or offset, repeated weekend/utc-offset/
 *                            covers,
 *                            control characters outside comments;
 *   DC_ERR_CALENDAR_DATE     a date that does not exist or is outside
 *                            1970..9999, a range ending before it starts or
 *                            longer than DC_CALENDAR_MAX_RANGE_DAYS, a date
 *                            that is both holiday and workday, a `covers`
 *                            range ending before it starts, a holiday or
 *                            workday outside `covers` (reported at the
 *                            `covers` line);
 *   DC_ERR_LIMIT_EXCEEDED    more than DC_CALENDAR_MAX_DATES distinct holidays
 *                            (or workdays).
 * DC_ERR_INVALID_ARGUMENT (line 0) if out is NULL or text is NULL with len > 0.
 * On any error *out is left zeroed. err_line may be NULL.
 */
DC_MUST_CHECK enum dc_err dc_calendar_parse(struct dc_calendar *out, size_t *err_line,
                                            const char *text, size_t len);

/* Civil date <-> day number. dc_date_from_ymd checks the date exists and the
 * year is in 1970..9999 (DC_ERR_CALENDAR_DATE). dc_date_to_ymd accepts any
 * day number (proleptic Gregorian, negative = before 1970); outputs non-NULL. */
DC_MUST_CHECK enum dc_err dc_date_from_ymd(int32_t *day, int year, int month, int mday);
void dc_date_to_ymd(int32_t day, int *year, int *month, int *mday);
/* Parses exactly "YYYY-MM-DD" (len 10, ASCII digits); anything else, or a date
 * dc_date_from_ymd rejects, is DC_ERR_CALENDAR_DATE. */
DC_MUST_CHECK enum dc_err dc_date_parse(int32_t *day, const char *text, size_t len);
/* Writes "YYYY-MM-DD" plus NUL; cap >= 11 (else DC_ERR_BUFFER_TOO_SMALL).
 * DC_ERR_CALENDAR_RANGE if day is outside DC_CALENDAR_DAY_MIN..MAX. */
DC_MUST_CHECK enum dc_err dc_date_format(char *out, size_t cap, int32_t day);
/* The one way Ducat shows a time to people: the deployment's local time
 * (its calendar's utc-offset) with the offset stated, "2026-12-25 00:00
 * (UTC+08:00)", or "2026-12-24 16:00 UTC" at offset 0. ms is since the
 * epoch. Needs cap >= DC_TIME_STR_MAX (else DC_ERR_BUFFER_TOO_SMALL);
 * DC_ERR_CALENDAR_RANGE past year 9999. On error out is "" when cap > 0. */
#define DC_TIME_STR_MAX 32
DC_MUST_CHECK enum dc_err dc_time_format(char *out, size_t cap, uint64_t ms,
                                         int32_t utc_offset_min);

/* 0 = Monday .. 6 = Sunday, for any day number. */
int dc_date_weekday(int32_t day);

/* 1 if `day` is a working day under the calendar, 0 otherwise: a listed
 * workday works, else a listed holiday rests, else the weekend mask decides. */
int dc_calendar_is_working_day(const struct dc_calendar *cal, int32_t day);

/*
 * The n-th working day strictly after `start` (n >= 1). With the CN 2026
 * calendar, start 2026-09-28 and n = 15 give 2026-10-23.
 * DC_ERR_INVALID_ARGUMENT if n == 0 or a pointer is NULL;
 * DC_ERR_CALENDAR_RANGE if start is outside DC_CALENDAR_DAY_MIN..MAX or the
 * result would pass 9999-12-31 (also when the calendar has no working days
 * left). On error *out is INT32_MAX ("never"), if out is not NULL.
 * Cost: a few steps per listed date passed, whatever n is (whole weeks
 * between listed dates are skipped).
 */
DC_MUST_CHECK enum dc_err dc_calendar_add_working_days(int32_t *out, const struct dc_calendar *cal,
                                                       int32_t start, uint32_t n);

/* Local date of an instant (ms since the Unix epoch, UTC), floored. May be -1
 * (an instant on 1970-01-01 UTC under a negative offset) and saturates at
 * INT32_MAX for absurdly large ms; callers range-check the result. */
int32_t dc_calendar_local_day(const struct dc_calendar *cal, uint64_t ms);
/* The instant of local midnight at the start of `day`. Instants before the
 * epoch (day < 0, or day 0 under a positive offset) saturate to 0. */
uint64_t dc_calendar_day_start_ms(const struct dc_calendar *cal, int32_t day);

/*
 * Release instant of a hold: credited at instant `ms`, released at local
 * midnight at the end of the n-th working day after the local deposit date
 * (i.e. the start of the following day). The deposit date is
 * dc_calendar_local_day(cal, ms), whatever kind of day it is.
 * DC_ERR_INVALID_ARGUMENT if n == 0; DC_ERR_CALENDAR_RANGE if the local
 * deposit date is before 1970-01-01 or after 9999-12-31, or the n-th working
 * day would be after 9999-12-31 (the release may be 10000-01-01T00:00 local).
 * On error *out is UINT64_MAX ("never"), so an ignored error never releases.
 */
DC_MUST_CHECK enum dc_err dc_calendar_release_ms(uint64_t *out, const struct dc_calendar *cal,
                                                 uint64_t ms, uint32_t n);

/* 1 if the calendar covers `day` (cover_from <= day <= cover_to), else 0. */
int dc_calendar_covers(const struct dc_calendar *cal, int32_t day);

/*
 * As dc_calendar_release_ms, and says whether the date is firm: *provisional
 * is 1 when the local deposit date or any day of the n-working-day window
 * after it lies outside the calendar's coverage (the answer then counts
 * uncovered days by the weekend rule alone, a guess a later calendar may
 * move either way), else 0. A provisional date must not release money; it is
 * recomputed once a calendar covering the window is loaded. Errors as
 * dc_calendar_release_ms; on error *provisional is 1.
 */
DC_MUST_CHECK enum dc_err dc_calendar_release(uint64_t *out, int *provisional,
                                              const struct dc_calendar *cal, uint64_t ms,
                                              uint32_t n);

/* Whole days of coverage left after local date `today`: cover_to - today, 0
 * once today is at or past the end (and at most DC_CALENDAR_DAY_MAX). */
int32_t dc_calendar_days_left(const struct dc_calendar *cal, int32_t today);

#ifdef __cplusplus
}
#endif
#endif

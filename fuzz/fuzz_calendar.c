/*
 * fuzz_calendar.c - libFuzzer target for the calendar text parser
 * (dc_calendar_parse) and the working-day arithmetic on whatever it accepts.
 *
 * Properties (abort() on violation):
 *   - an error leaves the struct zeroed and names a line inside the input;
 *   - an accepted calendar has sorted, unique, in-range, disjoint holiday and
 *     workday arrays, a 7-bit weekend mask and an offset within +-23:59;
 *   - add_working_days terminates, lands strictly after the start on a working
 *     day, skips only rest days for n = 1, agrees with a plain day-by-day walk,
 *     and composes (n = a + b is a then b);
 *   - release_ms is after the deposit instant and at a local midnight;
 *   - dc_date_parse / dc_date_format round-trip on the first bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) abort();
}

/* The definition, day by day: the n-th working day after start, -1 if past
 * 9999-12-31, -2 if not found within `budget` days (too slow to decide). */
static int32_t naive_add(const struct dc_calendar *cal, int32_t start, uint32_t n, int32_t budget)
{
    int32_t d = start;
    while (n > 0) {
        if (d >= DC_CALENDAR_DAY_MAX) return -1;
        if (d - start >= budget) return -2;
        d++;
        if (dc_calendar_is_working_day(cal, d)) n--;
    }
    return d;
}

static void check_sorted(const int32_t *a, size_t n)
{
    check(n <= DC_CALENDAR_MAX_DATES);
    for (size_t i = 0; i < n; i++) {
        check(a[i] >= DC_CALENDAR_DAY_MIN && a[i] <= DC_CALENDAR_DAY_MAX);
        if (i > 0) check(a[i - 1] < a[i]);
    }
}

static void check_add(const struct dc_calendar *cal, int32_t start, uint32_t n)
{
    int32_t out = 0;
    enum dc_err e = dc_calendar_add_working_days(&out, cal, start, n);
    if (start < DC_CALENDAR_DAY_MIN || start > DC_CALENDAR_DAY_MAX) {
        check(e == DC_ERR_CALENDAR_RANGE);
        return;
    }
    /* The walk costs O(days); compare only when it is short. */
    int32_t want = n <= 64 ? naive_add(cal, start, n, 20000) : -2;
    int compare = want != -2;
    if (e != DC_OK) {
        check(e == DC_ERR_CALENDAR_RANGE && out == INT32_MAX);
        if (compare) check(want == -1);
        return;
    }
    check(out > start && out <= DC_CALENDAR_DAY_MAX);
    check(dc_calendar_is_working_day(cal, out));
    if (compare) check(out == want);
    if (n == 1 && out - start <= 4000) {
        for (int32_t d = start + 1; d < out; d++) check(!dc_calendar_is_working_day(cal, d));
    }
    if (n >= 2) {
        int32_t mid, end;
        check(dc_calendar_add_working_days(&mid, cal, start, n / 2) == DC_OK);
        check(dc_calendar_add_working_days(&end, cal, mid, n - n / 2) == DC_OK);
        check(end == out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Static: the struct is ~4 KiB and the target must not allocate. */
    static struct dc_calendar cal;
    static const struct dc_calendar zero;
    size_t line = 0;
    const char *text = (const char *)data;

    if (size >= 10) {
        int32_t day;
        if (dc_date_parse(&day, text, 10) == DC_OK) {
            char buf[11];
            check(dc_date_format(buf, sizeof buf, day) == DC_OK);
            check(memcmp(buf, text, 10) == 0);
        }
    }

    memset(&cal, 0x5A, sizeof cal);
    enum dc_err e = dc_calendar_parse(&cal, &line, text, size);
    if (e != DC_OK) {
        check(e == DC_ERR_CALENDAR_SYNTAX || e == DC_ERR_CALENDAR_DATE ||
              e == DC_ERR_LIMIT_EXCEEDED);
        check(memcmp(&cal, &zero, sizeof cal) == 0);
        size_t lines = 1;
        for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
        check(line >= 1 && line <= lines);
        return 0;
    }
    check(line == 0);
    check(cal.weekend_mask < 0x80);
    check(cal.utc_offset_min >= -1439 && cal.utc_offset_min <= 1439);
    check_sorted(cal.holidays, cal.n_holidays);
    check_sorted(cal.workdays, cal.n_workdays);
    for (size_t i = 0; i < cal.n_holidays; i++) {
        check(!dc_calendar_is_working_day(&cal, cal.holidays[i]));
    }
    for (size_t i = 0; i < cal.n_workdays; i++) {
        check(dc_calendar_is_working_day(&cal, cal.workdays[i]));
    }

    /* Starts around the listed dates and at the edges of the range. */
    int32_t starts[6] = {0, DC_CALENDAR_DAY_MAX - 30, DC_CALENDAR_DAY_MAX, -1, 0, 0};
    if (cal.n_holidays > 0) starts[4] = cal.holidays[0] - 3;
    if (cal.n_workdays > 0) starts[5] = cal.workdays[0] - 1;
    static const uint32_t ns[] = {1, 2, 15, 64, 400, 100000, UINT32_MAX};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) check_add(&cal, starts[s], ns[k]);
    }

    /* Release instants: after the deposit, at a local midnight. */
    static const uint64_t instants[] = {0, UINT64_C(1790000000000), UINT64_C(253402300799999),
                                        UINT64_MAX};
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        uint64_t rel = 0;
        e = dc_calendar_release_ms(&rel, &cal, instants[i], 15);
        if (e != DC_OK) {
            check(e == DC_ERR_CALENDAR_RANGE && rel == UINT64_MAX);
            continue;
        }
        check(rel > instants[i]);
        int32_t d = dc_calendar_local_day(&cal, rel);
        check(dc_calendar_day_start_ms(&cal, d) == rel);
        check(dc_calendar_is_working_day(&cal, d - 1));
    }
    return 0;
}

/*
 * calendar.c - working-day calendar: civil dates, the text format, working-day
 * arithmetic and the release instant of a hold.
 *
 * Why: a deposit stays in the frozen box for N working days, and what counts
 * as a working day is jurisdiction data (weekend, public holidays, make-up
 * working days such as China's 调休), so it is parsed from a text file rather
 * than compiled in.
 *
 * Invariants of a parsed struct dc_calendar: holidays[] and workdays[] are
 * strictly ascending, inside DC_CALENDAR_DAY_MIN..MAX, disjoint, at most
 * DC_CALENDAR_MAX_DATES each; weekend_mask < 0x80; utc_offset_min in
 * -1439..1439; cover_from <= cover_to and every listed date lies between them.
 * Lookups are binary searches; the parser inserts each date at its
 * sorted place (binary search + memmove), which is insertion sort: at most 512
 * elements, so quadratic moves are a few hundred kilobytes at worst.
 *
 * Dates are day numbers since 1970-01-01 in the proleptic Gregorian calendar,
 * converted with Howard Hinnant's days_from_civil / civil_from_days
 * (http://howardhinnant.github.io/date_algorithms.html), in int64_t so any
 * int32_t day converts without overflow. Pure: no I/O, no allocation, no
 * libc time functions, no floating point.
 */
#include "ducat/calendar.h"

#include <string.h>

#define MS_PER_DAY INT64_C(86400000)
#define MS_PER_MIN INT64_C(60000)
#define MAX_OFFSET_MIN 1439
#define ALL_DAYS_MASK 0x7Fu
#define MAX_TOKENS 9 /* `weekend` + 7 day names + one extra to detect excess */

_Static_assert(DC_CALENDAR_DAY_MAX == 2932896, "9999-12-31 is day 2932896");

/* ---------------------------------------------------------------------------
 * Civil dates
 */

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && is_leap(y)) return 29;
    return dim[m - 1];
}

/* Hinnant's days_from_civil: days since 1970-01-01 of a valid y-m-d. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                                   /* [0, 399] */
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

enum dc_err dc_date_from_ymd(int32_t *day, int year, int month, int mday)
{
    if (!day) return DC_ERR_INVALID_ARGUMENT;
    if (year < 1970 || year > 9999 || month < 1 || month > 12 || mday < 1 ||
        mday > days_in_month(year, month)) {
        return DC_ERR_CALENDAR_DATE;
    }
    *day = (int32_t)days_from_civil(year, month, mday);
    return DC_OK;
}

/* Hinnant's civil_from_days. Valid for every int32_t day. */
void dc_date_to_ymd(int32_t day, int *year, int *month, int *mday)
{
    const int64_t z = (int64_t)day + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    const int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;                            /* [1, 31] */
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;                               /* [1, 12] */
    const int64_t y = yoe + era * 400 + (m <= 2);
    *year = (int)y; /* |y| < 6e6 for any int32_t day */
    *month = (int)m;
    *mday = (int)d;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum dc_err dc_date_parse(int32_t *day, const char *text, size_t len)
{
    if (!day || (!text && len > 0)) return DC_ERR_INVALID_ARGUMENT;
    if (len != 10 || text[4] != '-' || text[7] != '-') return DC_ERR_CALENDAR_DATE;
    int v[3] = {0, 0, 0};
    static const unsigned char field_of[10] = {0, 0, 0, 0, 9, 1, 1, 9, 2, 2};
    for (size_t i = 0; i < 10; i++) {
        if (field_of[i] == 9) continue;
        if (!is_digit(text[i])) return DC_ERR_CALENDAR_DATE;
        v[field_of[i]] = v[field_of[i]] * 10 + (text[i] - '0');
    }
    return dc_date_from_ymd(day, v[0], v[1], v[2]);
}

static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

enum dc_err dc_date_format(char *out, size_t cap, int32_t day)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    if (cap < 11) return DC_ERR_BUFFER_TOO_SMALL;
    if (day < DC_CALENDAR_DAY_MIN || day > DC_CALENDAR_DAY_MAX) return DC_ERR_CALENDAR_RANGE;
    int y, m, d;
    dc_date_to_ymd(day, &y, &m, &d);
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = '\0';
    return DC_OK;
}

int dc_date_weekday(int32_t day)
{
    /* 1970-01-01 was a Thursday (3); the remainder of a negative day is in -6..0. */
    return (int)(((int64_t)day % 7 + 10) % 7);
}

/* ---------------------------------------------------------------------------
 * Sorted date sets
 */

static size_t clamp_n(size_t n)
{
    return n > DC_CALENDAR_MAX_DATES ? DC_CALENDAR_MAX_DATES : n;
}

/* Index of the first element >= v. */
static size_t lower_bound(const int32_t *a, size_t n, int32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int contains(const int32_t *a, size_t n, int32_t v)
{
    size_t i = lower_bound(a, n, v);
    return i < n && a[i] == v;
}

/* Inserts v at its sorted place unless present (duplicates merge silently). */
static enum dc_err insert_date(int32_t *a, size_t *n, int32_t v)
{
    size_t i = lower_bound(a, *n, v);
    if (i < *n && a[i] == v) return DC_OK;
    if (*n >= DC_CALENDAR_MAX_DATES) return DC_ERR_LIMIT_EXCEEDED;
    memmove(&a[i + 1], &a[i], (*n - i) * sizeof a[0]);
    a[i] = v;
    (*n)++;
    return DC_OK;
}

/* ---------------------------------------------------------------------------
 * Parser
 */

struct token {
    const char *p;
    size_t len;
};

static int tok_is(struct token t, const char *word)
{
    size_t n = strlen(word);
    return t.len == n && memcmp(t.p, word, n) == 0;
}

/* 0..6 for mon..sun, -1 otherwise. */
static int weekday_of(struct token t)
{
    static const char names[7][4] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (int i = 0; i < 7; i++) {
        if (t.len == 3 && memcmp(t.p, names[i], 3) == 0) return i;
    }
    return -1;
}

/* Exactly [+-]HH:MM with HH <= 23, MM <= 59. */
static enum dc_err parse_offset(int32_t *out, struct token t)
{
    const char *s = t.p;
    if (t.len != 6 || (s[0] != '+' && s[0] != '-') || !is_digit(s[1]) || !is_digit(s[2]) ||
        s[3] != ':' || !is_digit(s[4]) || !is_digit(s[5])) {
        return DC_ERR_CALENDAR_SYNTAX;
    }
    int hh = (s[1] - '0') * 10 + (s[2] - '0');
    int mm = (s[4] - '0') * 10 + (s[5] - '0');
    if (hh > 23 || mm > 59) return DC_ERR_CALENDAR_SYNTAX;
    int32_t v = hh * 60 + mm;
    *out = s[0] == '-' ? -v : v;
    return DC_OK;
}

struct parse_state {
    int seen_weekend;
    int seen_offset;
    size_t line;        /* current line, 1-based */
    size_t covers_line; /* 0 = no `covers` yet */
};

static enum dc_err parse_weekend(struct dc_calendar *cal, const struct token *tok, size_t ntok)
{
    if (ntok < 2) return DC_ERR_CALENDAR_SYNTAX; /* say `weekend none` for no weekend */
    if (ntok == 2 && tok_is(tok[1], "none")) {
        cal->weekend_mask = 0;
        return DC_OK;
    }
    unsigned mask = 0;
    for (size_t i = 1; i < ntok; i++) {
        int d = weekday_of(tok[i]);
        if (d < 0 || (mask & (1u << d))) return DC_ERR_CALENDAR_SYNTAX;
        mask |= 1u << d;
    }
    cal->weekend_mask = (uint8_t)mask;
    return DC_OK;
}

static enum dc_err parse_holiday(struct dc_calendar *cal, const struct token *tok, size_t ntok)
{
    if (ntok != 2 && ntok != 3) return DC_ERR_CALENDAR_SYNTAX;
    int32_t from, to;
    enum dc_err e = dc_date_parse(&from, tok[1].p, tok[1].len);
    if (e != DC_OK) return e;
    to = from;
    if (ntok == 3) {
        e = dc_date_parse(&to, tok[2].p, tok[2].len);
        if (e != DC_OK) return e;
        if (to < from || to - from >= DC_CALENDAR_MAX_RANGE_DAYS) return DC_ERR_CALENDAR_DATE;
    }
    for (int32_t d = from; d <= to; d++) {
        if (contains(cal->workdays, cal->n_workdays, d)) return DC_ERR_CALENDAR_DATE;
        e = insert_date(cal->holidays, &cal->n_holidays, d);
        if (e != DC_OK) return e;
    }
    return DC_OK;
}

static enum dc_err parse_workday(struct dc_calendar *cal, const struct token *tok, size_t ntok)
{
    if (ntok != 2) return DC_ERR_CALENDAR_SYNTAX;
    int32_t d;
    enum dc_err e = dc_date_parse(&d, tok[1].p, tok[1].len);
    if (e != DC_OK) return e;
    if (contains(cal->holidays, cal->n_holidays, d)) return DC_ERR_CALENDAR_DATE;
    return insert_date(cal->workdays, &cal->n_workdays, d);
}

/* One line without its '\n' (and without a CR before it). */
static enum dc_err parse_line(struct dc_calendar *cal, struct parse_state *st, const char *s,
                              size_t len)
{
    struct token tok[MAX_TOKENS];
    size_t ntok = 0;
    size_t i = 0;
    while (i < len && s[i] != '#') {
        char c = s[i];
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if (c < 0x21 || c > 0x7E) return DC_ERR_CALENDAR_SYNTAX; /* control, DEL, non-ASCII */
        size_t start = i;
        while (i < len && s[i] > 0x20 && s[i] < 0x7F && s[i] != '#') i++;
        if (ntok == MAX_TOKENS) return DC_ERR_CALENDAR_SYNTAX;
        tok[ntok].p = s + start;
        tok[ntok].len = i - start;
        ntok++;
    }
    if (ntok == 0) return DC_OK; /* blank or comment-only */

    if (tok_is(tok[0], "weekend")) {
        if (st->seen_weekend) return DC_ERR_CALENDAR_SYNTAX;
        st->seen_weekend = 1;
        return parse_weekend(cal, tok, ntok);
    }
    if (tok_is(tok[0], "utc-offset")) {
        if (st->seen_offset || ntok != 2) return DC_ERR_CALENDAR_SYNTAX;
        st->seen_offset = 1;
        return parse_offset(&cal->utc_offset_min, tok[1]);
    }
    if (tok_is(tok[0], "covers")) {
        if (st->covers_line || ntok != 3) return DC_ERR_CALENDAR_SYNTAX;
        st->covers_line = st->line;
        int32_t from, to;
        enum dc_err e = dc_date_parse(&from, tok[1].p, tok[1].len);
        if (e == DC_OK) e = dc_date_parse(&to, tok[2].p, tok[2].len);
        if (e != DC_OK) return e;
        if (to < from) return DC_ERR_CALENDAR_DATE;
        cal->cover_from = from;
        cal->cover_to = to;
        return DC_OK;
    }
    if (tok_is(tok[0], "holiday")) return parse_holiday(cal, tok, ntok);
    if (tok_is(tok[0], "workday")) return parse_workday(cal, tok, ntok);
    return DC_ERR_CALENDAR_SYNTAX;
}

void dc_calendar_init_default(struct dc_calendar *out)
{
    memset(out, 0, sizeof *out);
    out->weekend_mask = (uint8_t)((1u << 5) | (1u << 6)); /* sat, sun */
    out->cover_from = DC_CALENDAR_DAY_MIN;
    out->cover_to = DC_CALENDAR_DAY_MAX;
}

/* The listed dates are sorted, so the first and last of each array decide. */
static int lists_inside_cover(const struct dc_calendar *cal)
{
    const int32_t *a[2] = {cal->holidays, cal->workdays};
    const size_t n[2] = {cal->n_holidays, cal->n_workdays};
    for (int i = 0; i < 2; i++) {
        if (n[i] > 0 && (a[i][0] < cal->cover_from || a[i][n[i] - 1] > cal->cover_to)) return 0;
    }
    return 1;
}

enum dc_err dc_calendar_parse(struct dc_calendar *out, size_t *err_line, const char *text,
                              size_t len)
{
    if (err_line) *err_line = 0;
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    if (!text && len > 0) {
        memset(out, 0, sizeof *out);
        return DC_ERR_INVALID_ARGUMENT;
    }
    dc_calendar_init_default(out);
    struct parse_state st = {0, 0, 0, 0};
    size_t pos = 0, line = 0;
    while (pos < len) {
        line++;
        st.line = line;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t next = nl ? end + 1 : len;
        if (end > pos && text[end - 1] == '\r') end--; /* CRLF */
        enum dc_err e = parse_line(out, &st, text + pos, end - pos);
        if (e != DC_OK) {
            memset(out, 0, sizeof *out);
            if (err_line) *err_line = line;
            return e;
        }
        pos = next;
    }
    if (!lists_inside_cover(out)) {
        /* A listed date outside `covers` means the range is wrong or the
         * list is: either way the file does not say what it knows. */
        memset(out, 0, sizeof *out);
        if (err_line) *err_line = st.covers_line;
        return DC_ERR_CALENDAR_DATE;
    }
    return DC_OK;
}

/* ---------------------------------------------------------------------------
 * Working days
 */

int dc_calendar_is_working_day(const struct dc_calendar *cal, int32_t day)
{
    if (contains(cal->workdays, clamp_n(cal->n_workdays), day)) return 1;
    if (contains(cal->holidays, clamp_n(cal->n_holidays), day)) return 0;
    return !(cal->weekend_mask & (1u << dc_date_weekday(day)));
}

/* The first element of a sorted array after d, or INT64_MAX if none. */
static int64_t next_listed(const int32_t *a, size_t n, int32_t d)
{
    size_t i = lower_bound(a, n, d);
    while (i < n && a[i] <= d) i++; /* at most one step: the array is unique */
    return i < n ? a[i] : INT64_MAX;
}

static unsigned popcount7(unsigned m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < 7; i++) n += (m >> i) & 1u;
    return n;
}

enum dc_err dc_calendar_add_working_days(int32_t *out, const struct dc_calendar *cal, int32_t start,
                                         uint32_t n)
{
    if (!out || !cal || n == 0) return DC_ERR_INVALID_ARGUMENT;
    *out = INT32_MAX; /* poison: "never" */
    if (start < DC_CALENDAR_DAY_MIN || start > DC_CALENDAR_DAY_MAX) return DC_ERR_CALENDAR_RANGE;
    /* Each working day is a distinct day after start, at most DAY_MAX - start of them. */
    if (n > (uint32_t)(DC_CALENDAR_DAY_MAX - start)) return DC_ERR_CALENDAR_RANGE;
    const size_t nh = clamp_n(cal->n_holidays), nw = clamp_n(cal->n_workdays);
    const unsigned rest = cal->weekend_mask & ALL_DAYS_MASK;

    if (rest == ALL_DAYS_MASK) {
        /* Every weekday rests: the working days are exactly the listed workdays. */
        size_t i = lower_bound(cal->workdays, nw, start);
        if (i < nw && cal->workdays[i] == start) i++;
        if (nw - i < n) return DC_ERR_CALENDAR_RANGE;
        int32_t r = cal->workdays[i + n - 1];
        if (r > DC_CALENDAR_DAY_MAX) return DC_ERR_CALENDAR_RANGE;
        *out = r;
        return DC_OK;
    }

    /* Between listed dates every 7 consecutive days hold exactly `per_week`
     * working days, so whole weeks are skipped there; near a listed date (and
     * for the last few working days) the walk goes day by day. That bounds the
     * loop by about 8 steps per listed date plus 7, whatever n is. */
    const uint32_t per_week = 7u - popcount7(rest);
    int32_t d = start;
    uint32_t left = n;
    while (left > 0) {
        if (left > per_week) {
            /* d+1 .. next-1 are unlisted days. */
            int64_t next = next_listed(cal->holidays, nh, d);
            const int64_t next_w = next_listed(cal->workdays, nw, d);
            if (next_w < next) next = next_w;
            uint32_t weeks = (left - 1) / per_week;
            const int64_t gap_weeks = (next - 1 - d) / 7;
            if (gap_weeks < (int64_t)weeks) weeks = (uint32_t)gap_weeks;
            if (weeks > (uint32_t)(DC_CALENDAR_DAY_MAX - d) / 7u) return DC_ERR_CALENDAR_RANGE;
            d += (int32_t)(weeks * 7u);
            left -= weeks * per_week;
        }
        if (d >= DC_CALENDAR_DAY_MAX) return DC_ERR_CALENDAR_RANGE;
        d++;
        if (dc_calendar_is_working_day(cal, d)) left--;
    }
    *out = d;
    return DC_OK;
}

/* ---------------------------------------------------------------------------
 * Instants
 */

static int64_t offset_ms(const struct dc_calendar *cal)
{
    int32_t m = cal->utc_offset_min;
    if (m > MAX_OFFSET_MIN) m = MAX_OFFSET_MIN; /* defensive: keeps |offset| < one day */
    if (m < -MAX_OFFSET_MIN) m = -MAX_OFFSET_MIN;
    return (int64_t)m * MS_PER_MIN;
}

int32_t dc_calendar_local_day(const struct dc_calendar *cal, uint64_t ms)
{
    /* floor((ms + offset) / day) without forming ms + offset, which may not fit. */
    const uint64_t q = ms / (uint64_t)MS_PER_DAY; /* < 2^38 */
    const int64_t t = (int64_t)(ms % (uint64_t)MS_PER_DAY) + offset_ms(cal);
    int64_t day = (int64_t)q;
    if (t < 0) {
        day--;
    } else if (t >= MS_PER_DAY) {
        day++;
    }
    return day > INT32_MAX ? INT32_MAX : (int32_t)day;
}

uint64_t dc_calendar_day_start_ms(const struct dc_calendar *cal, int32_t day)
{
    const int64_t t = (int64_t)day * MS_PER_DAY - offset_ms(cal); /* |t| < 2^58 */
    return t < 0 ? 0 : (uint64_t)t;
}

enum dc_err dc_calendar_release_ms(uint64_t *out, const struct dc_calendar *cal, uint64_t ms,
                                   uint32_t n)
{
    if (!out || !cal || n == 0) return DC_ERR_INVALID_ARGUMENT;
    *out = UINT64_MAX; /* poison: "never" */
    const int32_t deposit = dc_calendar_local_day(cal, ms);
    if (deposit < DC_CALENDAR_DAY_MIN || deposit > DC_CALENDAR_DAY_MAX) {
        return DC_ERR_CALENDAR_RANGE;
    }
    int32_t last;
    enum dc_err e = dc_calendar_add_working_days(&last, cal, deposit, n);
    if (e != DC_OK) return e;
    *out = dc_calendar_day_start_ms(cal, last + 1);
    return DC_OK;
}

int dc_calendar_covers(const struct dc_calendar *cal, int32_t day)
{
    return day >= cal->cover_from && day <= cal->cover_to;
}

enum dc_err dc_calendar_release(uint64_t *out, int *provisional, const struct dc_calendar *cal,
                                uint64_t ms, uint32_t n)
{
    if (provisional) *provisional = 1;
    if (!out || !provisional || !cal || n == 0) {
        if (out) *out = UINT64_MAX;
        return DC_ERR_INVALID_ARGUMENT;
    }
    enum dc_err e = dc_calendar_release_ms(out, cal, ms, n);
    if (e != DC_OK) return e;
    /* The window is deposit .. last, contiguous, and so is the coverage: both
     * ends inside means every day inside. last = the day before the release. */
    const int32_t deposit = dc_calendar_local_day(cal, ms);
    const int32_t last = dc_calendar_local_day(cal, *out) - 1;
    *provisional = !(dc_calendar_covers(cal, deposit) && dc_calendar_covers(cal, last));
    return DC_OK;
}

int32_t dc_calendar_days_left(const struct dc_calendar *cal, int32_t today)
{
    if (today >= cal->cover_to) return 0;
    int64_t left = (int64_t)cal->cover_to - today;
    return left > DC_CALENDAR_DAY_MAX ? DC_CALENDAR_DAY_MAX : (int32_t)left;
}

enum dc_err dc_time_format(char *out, size_t cap, uint64_t ms, int32_t utc_offset_min)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    if (cap > 0) out[0] = '\0';
    if (cap < DC_TIME_STR_MAX) return DC_ERR_BUFFER_TOO_SMALL;
    if (utc_offset_min < -1439 || utc_offset_min > 1439) return DC_ERR_INVALID_ARGUMENT;
    /* local minutes since the epoch; the bound keeps day within int32 */
    uint64_t min = ms / 60000u;
    if (min > (uint64_t)DC_CALENDAR_DAY_MAX * 1440u) return DC_ERR_CALENDAR_RANGE;
    int64_t local = (int64_t)min + utc_offset_min;
    if (local < 0) return DC_ERR_CALENDAR_RANGE;
    int32_t day = (int32_t)(local / 1440);
    int32_t in_day = (int32_t)(local % 1440);
    enum dc_err e = dc_date_format(out, cap, day);
    if (e != DC_OK) return e;
    out[10] = ' ';
    put_digits(out + 11, in_day / 60, 2);
    out[13] = ':';
    put_digits(out + 14, in_day % 60, 2);
    if (utc_offset_min == 0) {
        memcpy(out + 16, " UTC", 5);
        return DC_OK;
    }
    int32_t a = utc_offset_min < 0 ? -utc_offset_min : utc_offset_min;
    memcpy(out + 16, " (UTC", 5);
    out[21] = utc_offset_min < 0 ? '-' : '+';
    put_digits(out + 22, a / 60, 2);
    out[24] = ':';
    put_digits(out + 25, a % 60, 2);
    out[27] = ')';
    out[28] = '\0';
    return DC_OK;
}

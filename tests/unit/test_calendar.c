/*
 * test_calendar.c - civil dates, the calendar text format, working-day
 * arithmetic, release instants, and the shipped data/calendar-cn.txt.
 *
 * Expected dates were worked out by hand from the State Council table in
 * the State Council notices for 2025 and 2026 (and cross-checked with Python's datetime);
 * the CN tests use their own copy of that table, not the data file's, so a
 * typo in either one fails here.
 */
#include "ducat/calendar.h"

#include "test.h"

/* Day number of a date the test knows is valid. */
static int32_t D(int y, int m, int d)
{
    int32_t day = -1;
    if (dc_date_from_ymd(&day, y, m, d) != DC_OK) FAIL_AT("bad test date %d-%d-%d", y, m, d);
    return day;
}

/* 2026-MM-DD, the year every CN test is about. */
static int32_t D26(int m, int d)
{
    return D(2026, m, d);
}

static enum dc_err parse_str(struct dc_calendar *cal, size_t *line, const char *s)
{
    return dc_calendar_parse(cal, line, s, strlen(s));
}

/* Asserts `text` is rejected with `want` at line `want_line`, leaving the struct zeroed. */
#define ASSERT_REJECT(text, want, want_line)                                                       \
    do {                                                                                           \
        static struct dc_calendar rc_;                                                             \
        static const struct dc_calendar zero_;                                                     \
        size_t rl_ = 12345;                                                                        \
        memset(&rc_, 0xA5, sizeof rc_);                                                            \
        ASSERT_ERR(parse_str(&rc_, &rl_, (text)), (want));                                         \
        ASSERT_EQ(rl_, (want_line));                                                               \
        ASSERT(memcmp(&rc_, &zero_, sizeof rc_) == 0);                                             \
    } while (0)

static int32_t add_days(const struct dc_calendar *cal, int32_t start, uint32_t n)
{
    int32_t out = -1;
    enum dc_err e = dc_calendar_add_working_days(&out, cal, start, n);
    if (e != DC_OK) FAIL_AT("add_working_days(%d, %u) returned %s", start, n, dc_err_name(e));
    return out;
}

/* ---------------------------------------------------------------------------
 * Civil dates
 */

static void test_date_epoch(void)
{
    int32_t day = -1;
    ASSERT_OK(dc_date_from_ymd(&day, 1970, 1, 1));
    ASSERT_EQ(day, 0);
    ASSERT_OK(dc_date_from_ymd(&day, 1970, 1, 2));
    ASSERT_EQ(day, 1);
    ASSERT_OK(dc_date_from_ymd(&day, 1971, 1, 1));
    ASSERT_EQ(day, 365);
    int y, m, d;
    dc_date_to_ymd(0, &y, &m, &d);
    ASSERT_EQ(y, 1970);
    ASSERT_EQ(m, 1);
    ASSERT_EQ(d, 1);
    dc_date_to_ymd(-1, &y, &m, &d); /* conversion works before 1970 too */
    ASSERT_EQ(y, 1969);
    ASSERT_EQ(m, 12);
    ASSERT_EQ(d, 31);
    ASSERT_EQ(dc_date_weekday(0), 3);  /* Thursday */
    ASSERT_EQ(dc_date_weekday(-1), 2); /* Wednesday 1969-12-31 */
    ASSERT_EQ(dc_date_weekday(-7), 3);
    ASSERT_EQ(dc_date_weekday(-4), 6); /* Sunday 1969-12-28 */
    ASSERT_EQ(dc_date_weekday(-6), 4); /* Friday 1969-12-26 */
    ASSERT_EQ(dc_date_weekday(INT32_MIN), dc_date_weekday(INT32_MIN + 7));
}

static void test_date_leap_years(void)
{
    int32_t day;
    ASSERT_OK(dc_date_from_ymd(&day, 2000, 2, 29)); /* divisible by 400: leap */
    ASSERT_EQ(day, 11016);
    ASSERT_OK(dc_date_from_ymd(&day, 2000, 3, 1));
    ASSERT_EQ(day, 11017);
    ASSERT_OK(dc_date_from_ymd(&day, 2024, 2, 29)); /* divisible by 4: leap */
    ASSERT_EQ(day, 19782);
    ASSERT_ERR(dc_date_from_ymd(&day, 2023, 2, 29), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2100, 2, 29), DC_ERR_CALENDAR_DATE); /* century: not leap */
    ASSERT_OK(dc_date_from_ymd(&day, 2400, 2, 29));
    /* 1900 is outside the accepted years, but the conversion must still know
     * it was not leap: the day before 1900-03-01 (day -25508) is Feb 28. */
    ASSERT_ERR(dc_date_from_ymd(&day, 1900, 2, 28), DC_ERR_CALENDAR_DATE);
    int y, m, d;
    dc_date_to_ymd(-25508, &y, &m, &d);
    ASSERT(y == 1900 && m == 3 && d == 1);
    dc_date_to_ymd(-25509, &y, &m, &d);
    ASSERT(y == 1900 && m == 2 && d == 28);
    dc_date_to_ymd(11016, &y, &m, &d);
    ASSERT(y == 2000 && m == 2 && d == 29);
}

static void test_date_max(void)
{
    int32_t day;
    ASSERT_OK(dc_date_from_ymd(&day, 9999, 12, 31));
    ASSERT_EQ(day, DC_CALENDAR_DAY_MAX);
    ASSERT_EQ(dc_date_weekday(day), 4); /* Friday */
    ASSERT_ERR(dc_date_from_ymd(&day, 10000, 1, 1), DC_ERR_CALENDAR_DATE);
    char buf[11];
    ASSERT_OK(dc_date_format(buf, sizeof buf, DC_CALENDAR_DAY_MAX));
    ASSERT_STR(buf, "9999-12-31");
    ASSERT_OK(dc_date_format(buf, sizeof buf, 0));
    ASSERT_STR(buf, "1970-01-01");
    ASSERT_ERR(dc_date_format(buf, sizeof buf, DC_CALENDAR_DAY_MAX + 1), DC_ERR_CALENDAR_RANGE);
    ASSERT_ERR(dc_date_format(buf, sizeof buf, -1), DC_ERR_CALENDAR_RANGE);
    ASSERT_ERR(dc_date_format(buf, 10, 0), DC_ERR_BUFFER_TOO_SMALL);
    int y, m, d;
    dc_date_to_ymd(INT32_MAX, &y, &m, &d); /* no overflow at the extremes */
    ASSERT(y > 5000000 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
    dc_date_to_ymd(INT32_MIN, &y, &m, &d);
    ASSERT(y < -5000000 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
}

static void test_date_invalid(void)
{
    int32_t day = 77;
    ASSERT_ERR(dc_date_from_ymd(&day, 1969, 12, 31), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 0, 1), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 13, 1), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 1, 0), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 1, 32), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 4, 31), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 2, 30), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, 2026, 2, 29), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_from_ymd(&day, -2026, 1, 1), DC_ERR_CALENDAR_DATE);
    ASSERT_EQ(day, 77); /* untouched on error */
    ASSERT_ERR(dc_date_from_ymd(NULL, 2026, 1, 1), DC_ERR_INVALID_ARGUMENT);
}

static void test_date_parse_strict(void)
{
    int32_t day;
    ASSERT_OK(dc_date_parse(&day, "2026-10-01", 10));
    ASSERT_EQ(day, D26(10, 1));
    /* Not NUL-terminated: only the first 10 bytes count. */
    ASSERT_OK(dc_date_parse(&day, "2026-10-07garbage", 10));
    ASSERT_EQ(day, D26(10, 7));
    static const char *const bad[] = {
        "2026-1-01",  "2026-01-1",  "2026/01/01", " 2026-01-01", "2026-01-01 ",
        "+026-01-01", "2026-0a-01", "20261-01-0", "2026-02-30",  "1969-12-31",
        "0000-01-01", "2026--1-01", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dc_date_parse(&day, bad[i], strlen(bad[i])) != DC_ERR_CALENDAR_DATE) {
            FAIL_AT("accepted '%s'", bad[i]);
        }
    }
    ASSERT_ERR(dc_date_parse(&day, "2026-10-01", 9), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_parse(&day, NULL, 0), DC_ERR_CALENDAR_DATE);
    ASSERT_ERR(dc_date_parse(&day, NULL, 10), DC_ERR_INVALID_ARGUMENT);
}

/* Every supported day: to_ymd -> from_ymd and format -> parse round-trip, and
 * the weekday advances by one each day. */
static void test_date_roundtrip_all(void)
{
    int prev_wd = dc_date_weekday(-1);
    for (int32_t day = 0; day <= DC_CALENDAR_DAY_MAX; day++) {
        int y, m, d;
        dc_date_to_ymd(day, &y, &m, &d);
        int32_t back = -1;
        if (dc_date_from_ymd(&back, y, m, d) != DC_OK || back != day) {
            FAIL_AT("day %d -> %d-%d-%d -> %d", day, y, m, d, back);
        }
        int wd = dc_date_weekday(day);
        if (wd != (prev_wd + 1) % 7) FAIL_AT("weekday jump at day %d", day);
        prev_wd = wd;
        if (day % 997 == 0 || day == DC_CALENDAR_DAY_MAX) {
            char buf[16];
            ASSERT_OK(dc_date_format(buf, sizeof buf, day));
            ASSERT_OK(dc_date_parse(&back, buf, strlen(buf)));
            ASSERT_EQ(back, day);
        }
    }
}

static void test_weekday_known(void)
{
    ASSERT_EQ(dc_date_weekday(D(2000, 1, 1)), 5);  /* Saturday */
    ASSERT_EQ(dc_date_weekday(D26(9, 28)), 0);     /* Monday */
    ASSERT_EQ(dc_date_weekday(D26(10, 10)), 5);    /* Saturday */
    ASSERT_EQ(dc_date_weekday(D26(10, 11)), 6);    /* Sunday */
    ASSERT_EQ(dc_date_weekday(D26(10, 23)), 4);    /* Friday */
    ASSERT_EQ(dc_date_weekday(D(2024, 2, 29)), 3); /* Thursday */
}

/* ---------------------------------------------------------------------------
 * Parser
 */

static void test_default_calendar(void)
{
    static struct dc_calendar cal;
    dc_calendar_init_default(&cal);
    ASSERT_EQ(cal.weekend_mask, 0x60);
    ASSERT_EQ(cal.utc_offset_min, 0);
    ASSERT_EQ(cal.n_holidays, 0);
    ASSERT_EQ(cal.n_workdays, 0);
    ASSERT(dc_calendar_is_working_day(&cal, D26(10, 9)));   /* Fri */
    ASSERT(!dc_calendar_is_working_day(&cal, D26(10, 10))); /* Sat */
    ASSERT(!dc_calendar_is_working_day(&cal, D26(10, 11))); /* Sun */
    ASSERT(dc_calendar_is_working_day(&cal, D26(10, 12)));  /* Mon */
    /* Empty text (even NULL, 0) parses to the default. */
    static struct dc_calendar p;
    size_t line = 9;
    ASSERT_OK(dc_calendar_parse(&p, &line, NULL, 0));
    ASSERT_EQ(line, 0);
    ASSERT(memcmp(&p, &cal, sizeof p) == 0);
    ASSERT_OK(parse_str(&p, &line, "\n\n# only comments\r\n   \t\n"));
    ASSERT(memcmp(&p, &cal, sizeof p) == 0);
}

static void test_parse_accepts(void)
{
    static struct dc_calendar cal;
    size_t line = 99;
    const char *text = "# test calendar\r\n"
                       "\r\n"
                       "utc-offset -05:30   # India? no: a made-up zone\r\n"
                       "  weekend\tfri  sat\r\n"
                       "holiday 2026-10-05 2026-10-07\n"
                       "holiday 2026-10-01 2026-10-06   # overlaps the line above\n"
                       "holiday 2026-10-03\n"
                       "holiday 2026-01-01#comment right after a token\n"
                       "workday 2026-10-10\n"
                       "workday 2026-10-09\n"
                       "workday 2026-10-10\n"
                       "# 注释可以是中文 (UTF-8 in comments is fine)\n"
                       "holiday 2026-12-31"; /* no final newline */
    ASSERT_OK(parse_str(&cal, &line, text));
    ASSERT_EQ(line, 0);
    ASSERT_EQ(cal.utc_offset_min, -330);
    ASSERT_EQ(cal.weekend_mask, (1 << 4) | (1 << 5));
    /* Holidays: 01-01, 10-01..10-07 (merged), 12-31; sorted and unique. */
    ASSERT_EQ(cal.n_holidays, 9);
    ASSERT_EQ(cal.holidays[0], D26(1, 1));
    for (int i = 0; i < 7; i++) ASSERT_EQ(cal.holidays[1 + i], D26(10, 1 + i));
    ASSERT_EQ(cal.holidays[8], D26(12, 31));
    ASSERT_EQ(cal.n_workdays, 2);
    ASSERT_EQ(cal.workdays[0], D26(10, 9));
    ASSERT_EQ(cal.workdays[1], D26(10, 10));
    /* fri+sat weekend: Sunday works, Friday rests unless listed. */
    ASSERT(dc_calendar_is_working_day(&cal, D26(10, 11)));  /* Sun */
    ASSERT(!dc_calendar_is_working_day(&cal, D26(10, 16))); /* Fri */
    ASSERT(dc_calendar_is_working_day(&cal, D26(10, 9)));   /* Fri, make-up */
    ASSERT(!dc_calendar_is_working_day(&cal, D26(10, 5)));  /* Mon, holiday */
}

static void test_parse_weekend_variants(void)
{
    static struct dc_calendar cal;
    size_t line;
    ASSERT_OK(parse_str(&cal, &line, "weekend none\n"));
    ASSERT_EQ(cal.weekend_mask, 0);
    ASSERT(dc_calendar_is_working_day(&cal, D26(10, 11)));
    ASSERT_OK(parse_str(&cal, &line, "weekend sun\n"));
    ASSERT_EQ(cal.weekend_mask, 0x40);
    ASSERT_OK(parse_str(&cal, &line, "weekend sun mon tue wed thu fri sat\n"));
    ASSERT_EQ(cal.weekend_mask, 0x7F);
    ASSERT_REJECT("weekend\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend   # nothing\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("\nweekend sat sat\n", DC_ERR_CALENDAR_SYNTAX, 2);
    ASSERT_REJECT("weekend sat sunday\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend Sat\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend none sat\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend sat none\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend sat sun\n# again:\nweekend sun\n", DC_ERR_CALENDAR_SYNTAX, 3);
}

static void test_parse_utc_offset(void)
{
    static struct dc_calendar cal;
    size_t line;
    static const struct {
        const char *text;
        int32_t min;
    } ok[] = {
        {"utc-offset +08:00", 480},  {"utc-offset -05:30", -330}, {"utc-offset +00:00", 0},
        {"utc-offset -00:00", 0},    {"utc-offset +23:59", 1439}, {"utc-offset -23:59", -1439},
        {"utc-offset\t+05:45", 345},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ASSERT_OK(parse_str(&cal, &line, ok[i].text));
        ASSERT_EQ(cal.utc_offset_min, ok[i].min);
    }
    ASSERT_REJECT("utc-offset +24:00", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +08:60", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +8:00", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset 08:00", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +0800", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +08:00:00", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +08:00 +09:00", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("utc-offset +08:00\nutc-offset +08:00\n", DC_ERR_CALENDAR_SYNTAX, 2);
}

/* Each rejection, with the line it is reported on. */
static void test_parse_rejects(void)
{
    ASSERT_REJECT("# ok\nholidays 2026-10-01\n", DC_ERR_CALENDAR_SYNTAX, 2);
    ASSERT_REJECT("Holiday 2026-10-01\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("\n\n\nfrobnicate\n", DC_ERR_CALENDAR_SYNTAX, 4);
    ASSERT_REJECT("holiday\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("holiday 2026-10-01 2026-10-02 2026-10-03\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("workday\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("workday 2026-10-10 2026-10-11\n", DC_ERR_CALENDAR_SYNTAX, 1);
    /* bad dates */
    ASSERT_REJECT("holiday 2026-10-01\nholiday 2026-02-30\n", DC_ERR_CALENDAR_DATE, 2);
    ASSERT_REJECT("holiday 2026-10-01 2026-13-01\n", DC_ERR_CALENDAR_DATE, 1);
    ASSERT_REJECT("workday 2026-1-10\n", DC_ERR_CALENDAR_DATE, 1);
    ASSERT_REJECT("workday 1969-12-31\n", DC_ERR_CALENDAR_DATE, 1);
    ASSERT_REJECT("workday 10000-01-01\n", DC_ERR_CALENDAR_DATE, 1);
    /* range end before start; range too long (367 days), longest allowed passes */
    ASSERT_REJECT("\nholiday 2026-10-07 2026-10-01\n", DC_ERR_CALENDAR_DATE, 2);
    ASSERT_REJECT("holiday 2024-01-01 2025-01-01\n", DC_ERR_CALENDAR_DATE, 1);
    static struct dc_calendar cal;
    size_t line;
    ASSERT_OK(parse_str(&cal, &line, "holiday 2024-01-01 2024-12-31\n")); /* 366 days */
    ASSERT_EQ(cal.n_holidays, 366);
    ASSERT_OK(parse_str(&cal, &line, "holiday 2026-10-01 2026-10-01\n"));
    ASSERT_EQ(cal.n_holidays, 1);
    /* both holiday and workday, in either order, also inside a range */
    ASSERT_REJECT("holiday 2026-10-01\nworkday 2026-10-01\n", DC_ERR_CALENDAR_DATE, 2);
    ASSERT_REJECT("workday 2026-10-03\n\nholiday 2026-10-01 2026-10-07\n", DC_ERR_CALENDAR_DATE, 3);
    /* bytes outside comments */
    ASSERT_REJECT("holiday 2026-10-01\rworkday 2026-10-10\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("holiday 2026-10-01\r\r\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("weekend sat\vsun\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("# fine\nholiday 2026-10-01 # ok\n节日 2026-10-01\n", DC_ERR_CALENDAR_SYNTAX, 3);
    ASSERT_REJECT("weekend sat sun sat sun sat sun sat sun sat\n", DC_ERR_CALENDAR_SYNTAX, 1);
    /* NUL inside the text (strlen cannot be used here) */
    static const char nul[] = "holiday 2026-10-01\nholiday\0 2026-10-02\n";
    size_t l = 0;
    ASSERT_ERR(dc_calendar_parse(&cal, &l, nul, sizeof nul - 1), DC_ERR_CALENDAR_SYNTAX);
    ASSERT_EQ(l, 2);
    /* NUL inside a comment is just comment text */
    static const char nul_comment[] = "holiday 2026-10-01 #\0x\n";
    ASSERT_OK(dc_calendar_parse(&cal, &l, nul_comment, sizeof nul_comment - 1));
    ASSERT_EQ(cal.n_holidays, 1);
}

static void test_parse_limits(void)
{
    static struct dc_calendar cal;
    size_t line;
    /* 366 + 146 = 512 distinct holidays: accepted; overlaps are not counted. */
    const char *full = "holiday 2024-01-01 2024-12-31\n"
                       "holiday 2025-01-01 2025-05-26\n"
                       "holiday 2024-06-01 2024-06-30\n";
    ASSERT_OK(parse_str(&cal, &line, full));
    ASSERT_EQ(cal.n_holidays, DC_CALENDAR_MAX_DATES);
    for (size_t i = 1; i < cal.n_holidays; i++) ASSERT(cal.holidays[i - 1] < cal.holidays[i]);
    /* One more distinct date is too many. */
    const char *over = "holiday 2024-01-01 2024-12-31\n"
                       "holiday 2025-01-01 2025-05-26\n"
                       "# one more:\n"
                       "holiday 2030-01-01\n";
    ASSERT_REJECT(over, DC_ERR_LIMIT_EXCEEDED, 4);
    /* Inserting out of order still ends sorted. */
    ASSERT_OK(parse_str(&cal, &line,
                        "holiday 2026-12-25\nholiday 2026-01-01\nholiday 2026-06-01\n"
                        "workday 2026-12-26\nworkday 2026-01-03\nworkday 2026-06-06\n"));
    ASSERT_EQ(cal.n_holidays, 3);
    ASSERT(cal.holidays[0] == D26(1, 1) && cal.holidays[1] == D26(6, 1) &&
           cal.holidays[2] == D26(12, 25));
    ASSERT(cal.workdays[0] == D26(1, 3) && cal.workdays[1] == D26(6, 6) &&
           cal.workdays[2] == D26(12, 26));
    /* 513 distinct workdays, one per line. */
    static char buf[600 * 20];
    size_t n = 0;
    for (int32_t i = 0; i <= DC_CALENDAR_MAX_DATES; i++) {
        char date[16];
        ASSERT_OK(dc_date_format(date, sizeof date, D(2030, 1, 1) + i));
        n += (size_t)snprintf(buf + n, sizeof buf - n, "workday %s\n", date);
    }
    line = 0;
    ASSERT_ERR(dc_calendar_parse(&cal, &line, buf, n), DC_ERR_LIMIT_EXCEEDED);
    ASSERT_EQ(line, DC_CALENDAR_MAX_DATES + 1);
}

static void test_parse_not_nul_terminated(void)
{
    static struct dc_calendar cal;
    size_t line;
    /* The length ends the text mid-line; the bytes after it must not be read. */
    const char *text = "holiday 2026-10-01\nholiday 2026-10-02JUNK";
    ASSERT_OK(dc_calendar_parse(&cal, &line, text, strlen(text) - 4));
    ASSERT_EQ(cal.n_holidays, 2);
    ASSERT_ERR(dc_calendar_parse(&cal, &line, text, strlen(text) - 3), DC_ERR_CALENDAR_DATE);
    ASSERT_EQ(line, 2);
    ASSERT_ERR(dc_calendar_parse(NULL, &line, text, 5), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_calendar_parse(&cal, &line, NULL, 5), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(line, 0);
    ASSERT_OK(dc_calendar_parse(&cal, NULL, text, 18)); /* err_line may be NULL */
    ASSERT_ERR(dc_calendar_parse(&cal, NULL, "bogus", 5), DC_ERR_CALENDAR_SYNTAX);
}

/* ---------------------------------------------------------------------------
 * Working days and instants
 */

/* The obvious day-by-day definition, to check the week-skipping fast paths. */
static int32_t naive_add(const struct dc_calendar *cal, int32_t start, uint32_t n)
{
    int32_t d = start;
    while (n > 0) {
        d++;
        if (dc_calendar_is_working_day(cal, d)) n--;
    }
    return d;
}

static void test_add_working_days_default(void)
{
    static struct dc_calendar cal;
    dc_calendar_init_default(&cal);
    ASSERT_EQ(add_days(&cal, D26(10, 9), 1), D26(10, 12));  /* Fri + 1 = Mon */
    ASSERT_EQ(add_days(&cal, D26(10, 10), 1), D26(10, 12)); /* from a Saturday */
    ASSERT_EQ(add_days(&cal, D26(10, 12), 5), D26(10, 19)); /* a whole week */
    ASSERT_EQ(add_days(&cal, D26(10, 12), 4), D26(10, 16));
    ASSERT_EQ(add_days(&cal, 0, 1), 1); /* Thu 1970-01-01 -> Fri */
    int32_t out = 5;
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, 0, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, -1, 1), DC_ERR_CALENDAR_RANGE);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, DC_CALENDAR_DAY_MAX + 1, 1),
               DC_ERR_CALENDAR_RANGE);
    /* 9999-12-31 is a Friday: from Thursday 12-30, n = 1 fits, n = 2 does not. */
    ASSERT_EQ(add_days(&cal, DC_CALENDAR_DAY_MAX - 1, 1), DC_CALENDAR_DAY_MAX);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, DC_CALENDAR_DAY_MAX - 1, 2),
               DC_ERR_CALENDAR_RANGE);
    ASSERT_EQ(out, INT32_MAX); /* poisoned */
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, DC_CALENDAR_DAY_MAX, 1),
               DC_ERR_CALENDAR_RANGE);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, 0, UINT32_MAX), DC_ERR_CALENDAR_RANGE);
    /* Every working day to the end: days 1 .. 2932896 after Thu 1970-01-01 are
     * 418985 whole weeks (5 working days each) and then Fri 9999-12-31. */
    ASSERT_EQ(add_days(&cal, 0, 418985u * 5u + 1u), DC_CALENDAR_DAY_MAX);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, 0, 418985u * 5u + 2u),
               DC_ERR_CALENDAR_RANGE);
    /* The week-skip matches the naive walk for many n and starts. */
    for (uint32_t n = 1; n <= 40; n++) {
        for (int32_t s = D26(1, 1); s < D26(1, 15); s++) {
            ASSERT_EQ(add_days(&cal, s, n), naive_add(&cal, s, n));
        }
    }
}

static void test_add_working_days_odd_weekends(void)
{
    static struct dc_calendar cal;
    size_t line;
    /* Only the listed workdays work. */
    ASSERT_OK(parse_str(&cal, &line,
                        "weekend mon tue wed thu fri sat sun\n"
                        "workday 2026-03-01\nworkday 2026-03-05\nworkday 2026-04-01\n"));
    ASSERT_EQ(add_days(&cal, D26(1, 1), 1), D26(3, 1));
    ASSERT_EQ(add_days(&cal, D26(3, 1), 1), D26(3, 5));
    ASSERT_EQ(add_days(&cal, D26(3, 1), 2), D26(4, 1));
    ASSERT_EQ(add_days(&cal, D26(3, 2), 2), D26(4, 1));
    int32_t out;
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, D26(3, 1), 3), DC_ERR_CALENDAR_RANGE);
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, D26(4, 1), 1), DC_ERR_CALENDAR_RANGE);
    /* No workdays at all: nothing ever works, answered at once. */
    ASSERT_OK(parse_str(&cal, &line, "weekend mon tue wed thu fri sat sun\n"));
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, 0, 1), DC_ERR_CALENDAR_RANGE);
    /* One working weekday, with holidays: skip matches the naive walk. */
    ASSERT_OK(parse_str(&cal, &line,
                        "weekend mon tue wed thu fri sat\n"
                        "holiday 2026-03-01 2026-03-31\nworkday 2026-04-01\n"));
    for (uint32_t n = 1; n <= 30; n++) {
        ASSERT_EQ(add_days(&cal, D26(2, 20), n), naive_add(&cal, D26(2, 20), n));
    }
    ASSERT_EQ(add_days(&cal, D26(2, 20), 2), D26(4, 1)); /* Sun 02-22, then Wed 04-01 */
    /* Listed dates millennia apart: skipping whole weeks between them gives
     * the day-by-day answer for large n (only Sundays work here). */
    ASSERT_OK(parse_str(&cal, &line,
                        "weekend mon tue wed thu fri sat\n"
                        "holiday 1970-01-04 1970-01-11\nworkday 1970-01-14\n"
                        "holiday 5000-06-01 5000-07-01\nworkday 5000-07-02\n"
                        "holiday 9999-12-01 9999-12-31\n"));
    static const uint32_t big[] = {1, 2, 3, 100, 7777, 158100, 158118, 158125, 418000};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        ASSERT_EQ(add_days(&cal, 0, big[i]), naive_add(&cal, 0, big[i]));
        ASSERT_EQ(add_days(&cal, 3, big[i]), naive_add(&cal, 3, big[i]));
    }
    ASSERT_EQ(add_days(&cal, 0, 1), D(1970, 1, 14)); /* Sundays 01-04, 01-11 rest */
    ASSERT_ERR(dc_calendar_add_working_days(&out, &cal, 0, 418985), DC_ERR_CALENDAR_RANGE);
    /* No weekend. */
    ASSERT_OK(parse_str(&cal, &line, "weekend none\n"));
    ASSERT_EQ(add_days(&cal, 0, 1000), 1000);
    ASSERT_EQ(add_days(&cal, 0, (uint32_t)DC_CALENDAR_DAY_MAX), DC_CALENDAR_DAY_MAX);
}

static void test_local_day_and_day_start(void)
{
    static struct dc_calendar cal;
    dc_calendar_init_default(&cal);
    const uint64_t day_ms = 86400000;
    ASSERT_EQ(dc_calendar_local_day(&cal, 0), 0);
    ASSERT_EQ(dc_calendar_local_day(&cal, day_ms - 1), 0);
    ASSERT_EQ(dc_calendar_local_day(&cal, day_ms), 1);
    ASSERT_EQ(dc_calendar_day_start_ms(&cal, 1), day_ms);
    cal.utc_offset_min = 480; /* +08:00 */
    ASSERT_EQ(dc_calendar_local_day(&cal, day_ms - 8 * 3600000 - 1), 0);
    ASSERT_EQ(dc_calendar_local_day(&cal, day_ms - 8 * 3600000), 1);
    ASSERT_EQ(dc_calendar_day_start_ms(&cal, 1), day_ms - 8 * 3600000);
    ASSERT_EQ(dc_calendar_day_start_ms(&cal, 0), 0); /* 1969-12-31T16:00Z saturates */
    ASSERT_EQ(dc_calendar_day_start_ms(&cal, -5), 0);
    cal.utc_offset_min = -300; /* -05:00 */
    ASSERT_EQ(dc_calendar_local_day(&cal, 0), -1);
    ASSERT_EQ(dc_calendar_local_day(&cal, 5 * 3600000), 0);
    ASSERT_EQ(dc_calendar_day_start_ms(&cal, 0), 5 * 3600000);
    ASSERT_EQ(dc_calendar_local_day(&cal, UINT64_MAX), INT32_MAX);
    /* local_day(day_start(d)) == d over a wide span, both signs of offset. */
    for (int32_t off = -1439; off <= 1439; off += 479) {
        cal.utc_offset_min = off;
        for (int32_t d = 1; d < DC_CALENDAR_DAY_MAX; d += 9973) {
            uint64_t s = dc_calendar_day_start_ms(&cal, d);
            ASSERT_EQ(dc_calendar_local_day(&cal, s), d);
            ASSERT_EQ(dc_calendar_local_day(&cal, s - 1), d - 1);
        }
    }
}

static void test_release_ms_range(void)
{
    static struct dc_calendar cal;
    dc_calendar_init_default(&cal);
    uint64_t out = 0;
    ASSERT_ERR(dc_calendar_release_ms(&out, &cal, 0, 0), DC_ERR_INVALID_ARGUMENT);
    /* Thu 1970-01-01 00:00Z, n = 1: the Friday ends at 1970-01-03T00:00Z. */
    ASSERT_OK(dc_calendar_release_ms(&out, &cal, 0, 1));
    ASSERT_EQ(out, 2 * UINT64_C(86400000));
    /* 1969-12-31 local under -05:00 is before the supported range. */
    cal.utc_offset_min = -300;
    ASSERT_ERR(dc_calendar_release_ms(&out, &cal, 0, 1), DC_ERR_CALENDAR_RANGE);
    ASSERT_EQ(out, UINT64_MAX);
    cal.utc_offset_min = 0;
    ASSERT_ERR(dc_calendar_release_ms(&out, &cal, UINT64_MAX, 1), DC_ERR_CALENDAR_RANGE);
    uint64_t end = dc_calendar_day_start_ms(&cal, DC_CALENDAR_DAY_MAX + 1);
    ASSERT_ERR(dc_calendar_release_ms(&out, &cal, end, 1), DC_ERR_CALENDAR_RANGE);
    /* Deposit Thu 9999-12-30: released at the end of Fri 9999-12-31. */
    uint64_t thu = dc_calendar_day_start_ms(&cal, DC_CALENDAR_DAY_MAX - 1);
    ASSERT_OK(dc_calendar_release_ms(&out, &cal, thu + 123, 1));
    ASSERT_EQ(out, end);
    ASSERT_ERR(dc_calendar_release_ms(&out, &cal, thu, 2), DC_ERR_CALENDAR_RANGE);
}

/* ---------------------------------------------------------------------------
 * Coverage and provisional release dates
 */

static void test_parse_covers(void)
{
    static struct dc_calendar cal;
    size_t line = 99;
    /* No `covers`: every supported date is covered (a plain weekend calendar). */
    ASSERT_OK(parse_str(&cal, &line, "holiday 2026-10-01\n"));
    ASSERT_EQ(cal.cover_from, DC_CALENDAR_DAY_MIN);
    ASSERT_EQ(cal.cover_to, DC_CALENDAR_DAY_MAX);
    dc_calendar_init_default(&cal);
    ASSERT(dc_calendar_covers(&cal, 0) && dc_calendar_covers(&cal, DC_CALENDAR_DAY_MAX));
    /* Anywhere in the file, listed dates checked against it at the end. */
    ASSERT_OK(parse_str(&cal, &line,
                        "holiday 2026-10-01\ncovers 2026-01-01 2026-12-31\nworkday 2026-10-10\n"));
    ASSERT_EQ(line, 0);
    ASSERT_EQ(cal.cover_from, D26(1, 1));
    ASSERT_EQ(cal.cover_to, D26(12, 31));
    ASSERT(!dc_calendar_covers(&cal, D(2025, 12, 31)));
    ASSERT(dc_calendar_covers(&cal, D26(1, 1)) && dc_calendar_covers(&cal, D26(12, 31)));
    ASSERT(!dc_calendar_covers(&cal, D(2027, 1, 1)));
    ASSERT_OK(parse_str(&cal, &line, "covers 2026-05-05 2026-05-05\nholiday 2026-05-05\n"));
    /* Rejections: the range, repetition, arity, a listed date outside it
     * (reported at the `covers` line, wherever the stray date is). */
    ASSERT_REJECT("covers 2026-12-31 2026-01-01\n", DC_ERR_CALENDAR_DATE, 1);
    ASSERT_REJECT("covers 2026-01-01 2026-02-30\n", DC_ERR_CALENDAR_DATE, 1);
    ASSERT_REJECT("covers 2026-01-01\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("covers 2026-01-01 2026-12-31 2027-12-31\n", DC_ERR_CALENDAR_SYNTAX, 1);
    ASSERT_REJECT("covers 2026-01-01 2026-12-31\ncovers 2026-01-01 2026-12-31\n",
                  DC_ERR_CALENDAR_SYNTAX, 2);
    ASSERT_REJECT("\ncovers 2026-01-01 2026-12-31\nholiday 2027-01-01\n", DC_ERR_CALENDAR_DATE, 2);
    ASSERT_REJECT("workday 2025-12-27\n\n\ncovers 2026-01-01 2026-12-31\n", DC_ERR_CALENDAR_DATE,
                  4);
    ASSERT_REJECT("covers 2026-01-01 2026-12-31\nholiday 2026-12-30 2027-01-02\n",
                  DC_ERR_CALENDAR_DATE, 1);
}

static void test_release_provisional_edges(void)
{
    static struct dc_calendar cal;
    size_t line;
    /* Plain weekends, covering June 2026 only. */
    ASSERT_OK(parse_str(&cal, &line, "covers 2026-06-01 2026-06-30\n"));
    uint64_t out = 0;
    int prov = -1;
    /* Mon 06-01 + 5 working days = Mon 06-08: inside, firm. */
    ASSERT_OK(dc_calendar_release(&out, &prov, &cal, dc_calendar_day_start_ms(&cal, D26(6, 1)), 5));
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cal, D26(6, 9)));
    ASSERT_EQ(prov, 0);
    /* Tue 06-23 + 5 = Tue 06-30, the last covered day: still firm. */
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cal, dc_calendar_day_start_ms(&cal, D26(6, 23)), 5));
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cal, D26(7, 1)));
    ASSERT_EQ(prov, 0);
    /* Wed 06-24 + 5 = Wed 07-01: one day past, provisional (the date is the
     * weekend rule's guess). */
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cal, dc_calendar_day_start_ms(&cal, D26(6, 24)), 5));
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cal, D26(7, 2)));
    ASSERT_EQ(prov, 1);
    /* Start the day before coverage (Sun 05-31): the window is inside, the
     * start is not: provisional. */
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cal, dc_calendar_day_start_ms(&cal, D26(5, 31)), 5));
    ASSERT_EQ(prov, 1);
    /* A start after coverage. */
    ASSERT_OK(dc_calendar_release(&out, &prov, &cal, dc_calendar_day_start_ms(&cal, D26(8, 3)), 1));
    ASSERT_EQ(prov, 1);
    /* Errors say provisional and never. */
    prov = 0;
    ASSERT_ERR(dc_calendar_release(&out, &prov, &cal, 0, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(prov, 1);
    ASSERT_EQ(out, UINT64_MAX);
    ASSERT_ERR(dc_calendar_release(&out, NULL, &cal, 0, 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(out, UINT64_MAX);
    prov = 0;
    ASSERT_ERR(dc_calendar_release(&out, &prov, &cal, UINT64_MAX, 1), DC_ERR_CALENDAR_RANGE);
    ASSERT_EQ(prov, 1);
    ASSERT_EQ(out, UINT64_MAX);
    /* The default calendar covers everything: never provisional. */
    dc_calendar_init_default(&cal);
    ASSERT_OK(dc_calendar_release(&out, &prov, &cal, 0, 15));
    ASSERT_EQ(prov, 0);
    /* Days left. */
    ASSERT_OK(parse_str(&cal, &line, "covers 2026-06-01 2026-06-30\n"));
    ASSERT_EQ(dc_calendar_days_left(&cal, D26(6, 1)), 29);
    ASSERT_EQ(dc_calendar_days_left(&cal, D26(6, 29)), 1);
    ASSERT_EQ(dc_calendar_days_left(&cal, D26(6, 30)), 0);
    ASSERT_EQ(dc_calendar_days_left(&cal, D26(9, 30)), 0);
    ASSERT_EQ(dc_calendar_days_left(&cal, D26(5, 1)), 60);
}

/* ---------------------------------------------------------------------------
 * The shipped mainland-China calendar, 2025 and 2026
 */

static struct dc_calendar cn;

static void load_cn(void)
{
    static char buf[1 << 16];
    char path[512];
    snprintf(path, sizeof path, "%s/../data/calendar-cn.txt", test_dir);
    FILE *f = fopen(path, "rb");
    if (!f) FAIL_AT("cannot open %s", path);
    size_t n = fread(buf, 1, sizeof buf, f);
    int full = !feof(f);
    fclose(f);
    ASSERT(!full);
    size_t line = 0;
    enum dc_err e = dc_calendar_parse(&cn, &line, buf, n);
    if (e != DC_OK) FAIL_AT("%s: line %zu: %s", path, line, dc_err_name(e));
}

/* From the State Council notices of 2024-11-12 (2025) and 2025-11-04 (2026). */
static const struct {
    int y, m1, d1, m2, d2;
} cn_holidays[] = {
    {2025, 1, 1, 1, 1},   /* New Year's Day */
    {2025, 1, 28, 2, 4},  /* Spring Festival */
    {2025, 4, 4, 4, 6},   /* Qingming */
    {2025, 5, 1, 5, 5},   /* Labour Day */
    {2025, 5, 31, 6, 2},  /* Dragon Boat */
    {2025, 10, 1, 10, 8}, /* National Day + Mid-Autumn */
    {2026, 1, 1, 1, 3},   /* New Year's Day */
    {2026, 2, 15, 2, 23}, /* Spring Festival */
    {2026, 4, 4, 4, 6},   /* Qingming */
    {2026, 5, 1, 5, 5},   /* Labour Day */
    {2026, 6, 19, 6, 21}, /* Dragon Boat */
    {2026, 9, 25, 9, 27}, /* Mid-Autumn */
    {2026, 10, 1, 10, 7}, /* National Day */
};
static const struct {
    int y, m, d;
} cn_workdays[] = {{2025, 1, 26},  {2025, 2, 8},  {2025, 4, 27}, {2025, 9, 28},
                   {2025, 10, 11}, {2026, 1, 4},  {2026, 2, 14}, {2026, 2, 28},
                   {2026, 5, 9},   {2026, 9, 20}, {2026, 10, 10}};

static void test_cn_file_matches_notice(void)
{
    load_cn();
    ASSERT_EQ(cn.utc_offset_min, 480);
    ASSERT_EQ(cn.weekend_mask, 0x60);
    size_t n_h = 0;
    for (size_t i = 0; i < sizeof cn_holidays / sizeof cn_holidays[0]; i++) {
        for (int32_t d = D(cn_holidays[i].y, cn_holidays[i].m1, cn_holidays[i].d1);
             d <= D(cn_holidays[i].y, cn_holidays[i].m2, cn_holidays[i].d2); d++) {
            char s[11];
            ASSERT_OK(dc_date_format(s, sizeof s, d));
            if (dc_calendar_is_working_day(&cn, d)) FAIL_AT("holiday %s works", s);
            n_h++;
        }
    }
    ASSERT_EQ(cn.n_holidays, n_h); /* 28 + 33: nothing extra in the file */
    ASSERT_EQ(n_h, 61);
    for (size_t i = 0; i < sizeof cn_workdays / sizeof cn_workdays[0]; i++) {
        int32_t d = D(cn_workdays[i].y, cn_workdays[i].m, cn_workdays[i].d);
        ASSERT(dc_date_weekday(d) >= 5); /* make-up days are weekend days */
        if (!dc_calendar_is_working_day(&cn, d)) FAIL_AT("make-up day %d works not", d);
    }
    ASSERT_EQ(cn.n_workdays, sizeof cn_workdays / sizeof cn_workdays[0]);
    /* 2025: 365 - 104 weekend days - 18 holidays on weekdays + 5 make-up days;
     * 2026: 365 - 104 - 19 + 6. */
    for (int y = 2025; y <= 2026; y++) {
        int working = 0;
        for (int32_t d = D(y, 1, 1); d <= D(y, 12, 31); d++) {
            working += dc_calendar_is_working_day(&cn, d);
        }
        ASSERT_EQ(working, 248);
    }
    /* It says what it covers: exactly the two years. */
    ASSERT_EQ(cn.cover_from, D(2025, 1, 1));
    ASSERT_EQ(cn.cover_to, D26(12, 31));
}

static void test_cn_worked_example(void)
{
    load_cn();
    /* Mon 09-28: Sep 29, 30, Oct 8, 9, 10 (Sat make-up), Oct 12-16, Oct 19-23. */
    ASSERT_EQ(add_days(&cn, D26(9, 28), 15), D26(10, 23));
    ASSERT_EQ(add_days(&cn, D26(9, 28), 2), D26(9, 30));
    ASSERT_EQ(add_days(&cn, D26(9, 28), 3), D26(10, 8));
    ASSERT_EQ(add_days(&cn, D26(9, 28), 5), D26(10, 10));
    ASSERT_EQ(add_days(&cn, D26(9, 28), 6), D26(10, 12));
    ASSERT(dc_calendar_is_working_day(&cn, D26(10, 10)));  /* Sat, make-up */
    ASSERT(!dc_calendar_is_working_day(&cn, D26(10, 11))); /* Sun, rests */
    ASSERT(!dc_calendar_is_working_day(&cn, D26(10, 3)));  /* Sat in the holiday */
    ASSERT(dc_calendar_is_working_day(&cn, D26(10, 8)));   /* Thu after the holiday */
}

static void test_cn_spring_festival(void)
{
    load_cn();
    /* From Fri 02-13: Sat 02-14 is a make-up day (1); 02-15..02-23 rest; Tue
     * 02-24 .. Fri 02-27 are 2..5; Sat 02-28 is a make-up day (6); Sun 03-01
     * rests; Mon 03-02 is 7. */
    ASSERT_EQ(add_days(&cn, D26(2, 13), 1), D26(2, 14));
    ASSERT_EQ(add_days(&cn, D26(2, 13), 2), D26(2, 24));
    ASSERT_EQ(add_days(&cn, D26(2, 13), 5), D26(2, 27));
    ASSERT_EQ(add_days(&cn, D26(2, 13), 6), D26(2, 28));
    ASSERT_EQ(add_days(&cn, D26(2, 13), 7), D26(3, 2));
    /* From inside the holiday: the first working day is Tue 02-24. */
    ASSERT_EQ(add_days(&cn, D26(2, 18), 1), D26(2, 24));
    /* Labour Day: from Thu 04-30, Wed 05-06 (1) .. Fri 05-08 (3), Sat 05-09
     * make-up (4), Mon 05-11 (5), Tue 05-12 (6). */
    ASSERT_EQ(add_days(&cn, D26(4, 30), 1), D26(5, 6));
    ASSERT_EQ(add_days(&cn, D26(4, 30), 6), D26(5, 12));
}

static void test_cn_new_year(void)
{
    load_cn();
    /* From Wed 2025-12-31: Thu 01-01 .. Sat 01-03 rest, Sun 01-04 is a make-up
     * day (1), Mon 01-05 (2). */
    ASSERT_EQ(add_days(&cn, D(2025, 12, 31), 1), D26(1, 4));
    ASSERT_EQ(add_days(&cn, D(2025, 12, 31), 2), D26(1, 5));
    /* From Fri 2025-12-26: Mon 12-29 (1), Tue 12-30 (2), Wed 12-31 (3), then
     * Sun 01-04 (4). */
    ASSERT_EQ(add_days(&cn, D(2025, 12, 26), 4), D26(1, 4));
    /* The end of the year: Thu 12-31 + 1 = Fri 2027-01-01 (not listed). */
    ASSERT_EQ(add_days(&cn, D26(12, 31), 1), D(2027, 1, 1));
    for (uint32_t n = 1; n <= 300; n += 7) {
        ASSERT_EQ(add_days(&cn, D(2025, 12, 20), n), naive_add(&cn, D(2025, 12, 20), n));
    }
}

/* 2025 worked examples: the release dates a deposit before a long holiday gets. */
static void test_cn_2025(void)
{
    load_cn();
    /* Fri 2025-09-26, before National Day + Mid-Autumn: Sun 09-28 make-up (1),
     * Mon 09-29 (2), Tue 09-30 (3), 10-01..10-08 rest, Thu 10-09 (4), Fri 10-10
     * (5), Sat 10-11 make-up (6), Mon 10-13..Fri 10-17 (7..11), Mon 10-20 ..
     * Thu 10-23 (12..15). The weekend rule alone would say 10-17. */
    ASSERT_EQ(add_days(&cn, D(2025, 9, 26), 15), D(2025, 10, 23));
    ASSERT_EQ(add_days(&cn, D(2025, 9, 26), 1), D(2025, 9, 28));
    ASSERT_EQ(add_days(&cn, D(2025, 9, 26), 4), D(2025, 10, 9));
    ASSERT_EQ(add_days(&cn, D(2025, 9, 26), 6), D(2025, 10, 11));
    /* Fri 2025-01-24, before the Spring Festival: Sun 01-26 make-up (1), Mon
     * 01-27 (2), 01-28..02-04 rest, Wed 02-05 .. Fri 02-07 (3..5), Sat 02-08
     * make-up (6), Mon 02-10..Fri 02-14 (7..11), Mon 02-17..Thu 02-20 (12..15). */
    ASSERT_EQ(add_days(&cn, D(2025, 1, 24), 15), D(2025, 2, 20));
    ASSERT_EQ(add_days(&cn, D(2025, 1, 24), 3), D(2025, 2, 5));
    /* Labour Day and Dragon Boat: the first working day after. */
    ASSERT_EQ(add_days(&cn, D(2025, 4, 30), 1), D(2025, 5, 6));
    ASSERT_EQ(add_days(&cn, D(2025, 5, 30), 1), D(2025, 6, 3));
    ASSERT(dc_calendar_is_working_day(&cn, D(2025, 4, 27))); /* Sun, make-up */
    ASSERT(!dc_calendar_is_working_day(&cn, D(2025, 1, 1)));
    /* As a release instant in +08:00: firm. */
    uint64_t out = 0;
    int prov = -1;
    uint64_t at = dc_calendar_day_start_ms(&cn, D(2025, 9, 26)) + 10 * UINT64_C(3600000);
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn, at, 15));
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D(2025, 10, 24)));
    ASSERT_EQ(prov, 0);
}

/* The edges of the shipped coverage: a window into 2027, a start in 2024. */
static void test_cn_provisional(void)
{
    load_cn();
    uint64_t out = 0;
    int prov = -1;
    const uint64_t hour = 3600000;
    /* Tue 2026-12-15 (the case): the 15th working day by the weekend
     * rule alone is Tue 2027-01-05, counting 2027-01-01 as worked; 2027 is
     * not covered, so the date is provisional. */
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn,
                                  dc_calendar_day_start_ms(&cn, D26(12, 15)) + hour, 15));
    ASSERT_EQ(prov, 1);
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D(2027, 1, 6)));
    /* Mon 2026-12-07 + 15 = Mon 12-28: firm. Thu 12-10 + 15 = Thu 12-31: firm,
     * the last covered day. Fri 12-11 + 15 = Fri 2027-01-01: provisional. */
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn, dc_calendar_day_start_ms(&cn, D26(12, 7)), 15));
    ASSERT_EQ(prov, 0);
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D26(12, 29)));
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cn, dc_calendar_day_start_ms(&cn, D26(12, 10)), 15));
    ASSERT_EQ(prov, 0);
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D(2027, 1, 1)));
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cn, dc_calendar_day_start_ms(&cn, D26(12, 11)), 15));
    ASSERT_EQ(prov, 1);
    /* Local midnight matters: 2026-12-10T15:59:59.999Z is still 12-10 in
     * +08:00 (firm); one millisecond later it is 12-11 (provisional). */
    uint64_t m11 = dc_calendar_day_start_ms(&cn, D26(12, 11));
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn, m11 - 1, 15));
    ASSERT_EQ(prov, 0);
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn, m11, 15));
    ASSERT_EQ(prov, 1);
    /* A start in an uncovered year, before and after. */
    ASSERT_OK(dc_calendar_release(&out, &prov, &cn,
                                  dc_calendar_day_start_ms(&cn, D(2024, 12, 31)) + 1, 1));
    ASSERT_EQ(prov, 1);
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cn, dc_calendar_day_start_ms(&cn, D(2027, 3, 1)), 15));
    ASSERT_EQ(prov, 1);
    /* The first covered day is firm. */
    ASSERT_OK(
        dc_calendar_release(&out, &prov, &cn, dc_calendar_day_start_ms(&cn, D(2025, 1, 1)), 15));
    ASSERT_EQ(prov, 0);
    /* Days of coverage left. */
    ASSERT_EQ(dc_calendar_days_left(&cn, D26(12, 3)), 28);
    ASSERT_EQ(dc_calendar_days_left(&cn, D26(11, 1)), 60);
}

static void test_cn_release_ms(void)
{
    load_cn();
    const uint64_t hour = 3600000;
    /* 2026-09-27T17:00Z is Mon 2026-09-28 01:00 in +08:00: the deposit date is
     * 09-28, the 15th working day after it is Fri 10-23, released at local
     * midnight starting Sat 10-24 = 2026-10-23T16:00Z. */
    uint64_t ms = (uint64_t)D26(9, 27) * 24 * hour + 17 * hour;
    ASSERT_EQ(dc_calendar_local_day(&cn, ms), D26(9, 28));
    uint64_t out = 0;
    ASSERT_OK(dc_calendar_release_ms(&out, &cn, ms, 15));
    ASSERT_EQ(out, (uint64_t)D26(10, 23) * 24 * hour + 16 * hour);
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D26(10, 24)));
    /* One millisecond before local midnight (15:59:59.999Z) the deposit date is
     * still Sun 09-27 (a holiday), so the 15th working day is Thu 10-22. */
    uint64_t before = (uint64_t)D26(9, 27) * 24 * hour + 16 * hour - 1;
    ASSERT_EQ(dc_calendar_local_day(&cn, before), D26(9, 27));
    ASSERT_OK(dc_calendar_release_ms(&out, &cn, before, 15));
    ASSERT_EQ(out, dc_calendar_day_start_ms(&cn, D26(10, 23)));
    /* The same instant under a UTC calendar: deposit date 09-27, same answer
     * as `before`, but midnight is UTC midnight. */
    static struct dc_calendar utc;
    utc = cn;
    utc.utc_offset_min = 0;
    ASSERT_OK(dc_calendar_release_ms(&out, &utc, ms, 15));
    ASSERT_EQ(out, (uint64_t)D26(10, 23) * 24 * hour);
}

/* One rule for times shown to people: the deployment's zone, stated. */
static void test_time_format(void)
{
    char b[DC_TIME_STR_MAX];
    /* 2026-12-24T16:00Z is midnight of the 25th at UTC+08:00 */
    const uint64_t t = 1798128000000ull;
    ASSERT_EQ(dc_time_format(b, sizeof b, t, 480), DC_OK);
    ASSERT_STR(b, "2026-12-25 00:00 (UTC+08:00)");
    ASSERT_EQ(dc_time_format(b, sizeof b, t, 0), DC_OK);
    ASSERT_STR(b, "2026-12-24 16:00 UTC");
    ASSERT_EQ(dc_time_format(b, sizeof b, t + 59999, -330), DC_OK);
    ASSERT_STR(b, "2026-12-24 10:30 (UTC-05:30)");
    ASSERT_EQ(dc_time_format(b, sizeof b, 0, -60), DC_ERR_CALENDAR_RANGE); /* before 1970 */
    ASSERT_STR(b, "");
    ASSERT_EQ(dc_time_format(b, DC_TIME_STR_MAX - 1, t, 0), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(dc_time_format(b, sizeof b, t, 1440), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(dc_time_format(b, sizeof b, UINT64_MAX, 0), DC_ERR_CALENDAR_RANGE);
}

TESTS(T(test_date_epoch), T(test_date_leap_years), T(test_date_max), T(test_date_invalid),
      T(test_date_parse_strict), T(test_date_roundtrip_all), T(test_weekday_known),
      T(test_default_calendar), T(test_parse_accepts), T(test_parse_weekend_variants),
      T(test_parse_utc_offset), T(test_parse_rejects), T(test_parse_limits),
      T(test_parse_not_nul_terminated), T(test_add_working_days_default),
      T(test_add_working_days_odd_weekends), T(test_local_day_and_day_start),
      T(test_release_ms_range), T(test_cn_file_matches_notice), T(test_cn_worked_example),
      T(test_cn_spring_festival), T(test_cn_new_year), T(test_cn_release_ms), T(test_parse_covers),
      T(test_release_provisional_edges), T(test_cn_2025), T(test_cn_provisional),
      T(test_time_format))

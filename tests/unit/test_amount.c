/*
 * test_amount.c - checked arithmetic, decimal parse/format, denominations.
 *
 * Boundaries are tested by name (INT64_MIN/MAX at every exponent); the
 * arithmetic helpers are also compared with 128-bit reference arithmetic on
 * pseudo-random and edge operands, and the canonical-set test (Pearson) is
 * compared with a brute-force dynamic program on every small set.
 */
#include "ducat/amount.h"

#include "test.h"

/* ---------------------------------------------------------------------------
 * Helpers
 */

__extension__ typedef __int128 i128;

#define CNY 156u

static struct dc_currency cur_exp(unsigned exponent)
{
    struct dc_currency c;
    if (dc_currency_init(&c, "CNY", CNY, exponent) != DC_OK) abort();
    return c;
}

static struct dc_amount amt(int64_t minor)
{
    return (struct dc_amount){.minor = minor, .currency = CNY};
}

/* Parses a NUL-terminated string (without its NUL) at `exponent`. */
static enum dc_err parse_s(struct dc_amount *out, unsigned exponent, const char *s, int neg)
{
    struct dc_currency c = cur_exp(exponent);
    return dc_amount_parse(out, &c, s, strlen(s), neg);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

/* A pseudo-random int64 biased towards the interesting places. */
static int64_t rnd_i64(void)
{
    static const int64_t edge[] = {0,
                                   1,
                                   -1,
                                   2,
                                   -2,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   INT64_MIN + 1,
                                   INT64_MAX / 2,
                                   INT64_MIN / 2,
                                   3037000499,
                                   -3037000499,
                                   3037000500,
                                   -3037000500,
                                   INT64_C(1) << 32,
                                   -(INT64_C(1) << 32),
                                   INT64_C(1) << 31,
                                   -(INT64_C(1) << 31)};
    uint64_t r = rng();
    switch (r % 4) {
    case 0:
        return edge[(r >> 8) % (sizeof edge / sizeof edge[0])];
    case 1:
        return (int64_t)(rng() >> (1 + (r >> 8) % 63)) * ((r >> 16) & 1 ? -1 : 1);
    default:
        return (int64_t)rng();
    }
}

static int fits_i64(i128 v)
{
    return v >= (i128)INT64_MIN && v <= (i128)INT64_MAX;
}

/* ---------------------------------------------------------------------------
 * Currencies
 */

static void test_currency_init_valid(void)
{
    struct dc_currency c;
    ASSERT_OK(dc_currency_init(&c, "CNY", 156, 2));
    ASSERT_STR(c.code, "CNY");
    ASSERT_EQ(c.numeric, 156);
    ASSERT_EQ(c.exponent, 2);
    ASSERT_OK(dc_currency_init(&c, "JPY", 392, 0));
    ASSERT_EQ(c.exponent, 0);
    ASSERT_OK(dc_currency_init(&c, "XBT", 1, 8));
    ASSERT_EQ(c.exponent, 8);
    ASSERT_OK(dc_currency_init(&c, "ZZZ", 999, 3));
    ASSERT_EQ(c.numeric, 999);
}

static void test_currency_init_invalid(void)
{
    static const char *const bad_codes[] = {"",    "C",   "CN",  "CNYX", "cny", "CnY",
                                            "C1Y", "CN ", " CN", "C-Y",  "AB[", "@BC"};
    struct dc_currency c;
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        memset(&c, 0x55, sizeof c);
        ASSERT_ERR(dc_currency_init(&c, bad_codes[i], 156, 2), DC_ERR_CURRENCY_INVALID);
        ASSERT_EQ(c.numeric, 0);
        ASSERT_EQ(c.exponent, 0);
        ASSERT_EQ(c.code[0], 0);
    }
    ASSERT_ERR(dc_currency_init(&c, "CNY", 0, 2), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_currency_init(&c, "CNY", 1000, 2), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_currency_init(&c, "CNY", UINT32_MAX, 2), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_currency_init(&c, "CNY", 156, 9), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_currency_init(&c, "CNY", 156, 256), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_currency_init(&c, NULL, 156, 2), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_currency_init(NULL, "CNY", 156, 2), DC_ERR_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------------------
 * Checked int64 arithmetic
 */

static void test_i64_add_boundaries(void)
{
    int64_t r = 42;
    ASSERT_OK(dc_i64_add(&r, INT64_MAX, 0));
    ASSERT_EQ(r, INT64_MAX);
    ASSERT_OK(dc_i64_add(&r, INT64_MAX - 1, 1));
    ASSERT_EQ(r, INT64_MAX);
    ASSERT_OK(dc_i64_add(&r, INT64_MIN + 1, -1));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_add(&r, INT64_MIN, INT64_MAX));
    ASSERT_EQ(r, -1);
    ASSERT_OK(dc_i64_add(&r, INT64_MAX, INT64_MIN));
    ASSERT_EQ(r, -1);
    ASSERT_OK(dc_i64_add(&r, INT64_MIN, 0));
    ASSERT_EQ(r, INT64_MIN);
    r = 42;
    ASSERT_ERR(dc_i64_add(&r, INT64_MAX, 1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r, 0);
    r = 42;
    ASSERT_ERR(dc_i64_add(&r, 1, INT64_MAX), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r, 0);
    ASSERT_ERR(dc_i64_add(&r, INT64_MIN, -1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_add(&r, -1, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_add(&r, INT64_MAX, INT64_MAX), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_add(&r, INT64_MIN, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_add(NULL, 1, 1), DC_ERR_INVALID_ARGUMENT);
}

static void test_i64_sub_boundaries(void)
{
    int64_t r = 42;
    ASSERT_OK(dc_i64_sub(&r, INT64_MIN, 0));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_sub(&r, INT64_MIN + 1, 1));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_sub(&r, INT64_MAX - 1, -1));
    ASSERT_EQ(r, INT64_MAX);
    ASSERT_OK(dc_i64_sub(&r, -1, INT64_MIN));
    ASSERT_EQ(r, INT64_MAX);
    ASSERT_OK(dc_i64_sub(&r, -1, INT64_MAX));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_sub(&r, 0, INT64_MAX));
    ASSERT_EQ(r, -INT64_MAX);
    ASSERT_OK(dc_i64_sub(&r, INT64_MIN, INT64_MIN));
    ASSERT_EQ(r, 0);
    ASSERT_OK(dc_i64_sub(&r, INT64_MAX, INT64_MAX));
    ASSERT_EQ(r, 0);
    r = 42;
    ASSERT_ERR(dc_i64_sub(&r, INT64_MIN, 1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r, 0);
    ASSERT_ERR(dc_i64_sub(&r, INT64_MAX, -1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_sub(&r, 0, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_sub(&r, -2, INT64_MAX), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_sub(&r, INT64_MAX, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_sub(&r, INT64_MIN, INT64_MAX), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_sub(NULL, 1, 1), DC_ERR_INVALID_ARGUMENT);
}

static void test_i64_mul_boundaries(void)
{
    int64_t r = 42;
    ASSERT_OK(dc_i64_mul(&r, INT64_MIN, 1));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_mul(&r, 1, INT64_MIN));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_mul(&r, INT64_MAX, -1));
    ASSERT_EQ(r, -INT64_MAX);
    ASSERT_OK(dc_i64_mul(&r, -1, INT64_MAX));
    ASSERT_EQ(r, -INT64_MAX);
    ASSERT_OK(dc_i64_mul(&r, INT64_MIN, 0));
    ASSERT_EQ(r, 0);
    ASSERT_OK(dc_i64_mul(&r, 0, INT64_MIN));
    ASSERT_EQ(r, 0);
    ASSERT_OK(dc_i64_mul(&r, INT64_MAX / 2, 2));
    ASSERT_EQ(r, INT64_MAX - 1);
    ASSERT_OK(dc_i64_mul(&r, INT64_MIN / 2, 2));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_mul(&r, 3037000499, 3037000499));
    ASSERT_EQ(r, INT64_C(9223372030926249001));
    ASSERT_OK(dc_i64_mul(&r, -(INT64_C(1) << 32), INT64_C(1) << 31));
    ASSERT_EQ(r, INT64_MIN);
    ASSERT_OK(dc_i64_mul(&r, INT64_C(1) << 31, -(INT64_C(1) << 32)));
    ASSERT_EQ(r, INT64_MIN);
    r = 42;
    ASSERT_ERR(dc_i64_mul(&r, INT64_MIN, -1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r, 0);
    ASSERT_ERR(dc_i64_mul(&r, -1, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_MAX, 2), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, 2, INT64_MAX), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_MIN, 2), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_MIN / 2 - 1, 2), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, 3037000500, 3037000500), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, -3037000500, 3037000500), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, -3037000500, -3037000500), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_C(1) << 32, INT64_C(1) << 31), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, -(INT64_C(1) << 32), -(INT64_C(1) << 31)), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_MIN, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(&r, INT64_MAX, INT64_MIN), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_i64_mul(NULL, 1, 1), DC_ERR_INVALID_ARGUMENT);
}

/* add, sub and mul against 128-bit reference arithmetic. */
static void test_i64_reference(void)
{
    for (int i = 0; i < 300000; i++) {
        const int64_t a = rnd_i64(), b = rnd_i64();
        int64_t r;
        i128 want = (i128)a + b;
        enum dc_err e = dc_i64_add(&r, a, b);
        if (fits_i64(want)) {
            ASSERT_OK(e);
            ASSERT(r == (int64_t)want);
        } else {
            ASSERT_ERR(e, DC_ERR_AMOUNT_OVERFLOW);
            ASSERT_EQ(r, 0);
        }
        want = (i128)a - b;
        e = dc_i64_sub(&r, a, b);
        if (fits_i64(want)) {
            ASSERT_OK(e);
            ASSERT(r == (int64_t)want);
        } else {
            ASSERT_ERR(e, DC_ERR_AMOUNT_OVERFLOW);
            ASSERT_EQ(r, 0);
        }
        want = (i128)a * b;
        e = dc_i64_mul(&r, a, b);
        if (fits_i64(want)) {
            ASSERT_OK(e);
            ASSERT(r == (int64_t)want);
        } else {
            ASSERT_ERR(e, DC_ERR_AMOUNT_OVERFLOW);
            ASSERT_EQ(r, 0);
        }
    }
}

static void test_amount_add_sub(void)
{
    struct dc_amount r;
    ASSERT_OK(dc_amount_add(&r, amt(150), amt(-50)));
    ASSERT_EQ(r.minor, 100);
    ASSERT_EQ(r.currency, CNY);
    ASSERT_OK(dc_amount_sub(&r, amt(150), amt(200)));
    ASSERT_EQ(r.minor, -50);
    ASSERT_EQ(r.currency, CNY);
    ASSERT_OK(dc_amount_add(&r, amt(INT64_MAX - 1), amt(1)));
    ASSERT_EQ(r.minor, INT64_MAX);
    ASSERT_OK(dc_amount_sub(&r, amt(INT64_MIN + 1), amt(1)));
    ASSERT_EQ(r.minor, INT64_MIN);

    r = amt(7);
    ASSERT_ERR(dc_amount_add(&r, amt(INT64_MAX), amt(1)), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r.minor, 0);
    ASSERT_EQ(r.currency, 0);
    r = amt(7);
    ASSERT_ERR(dc_amount_sub(&r, amt(INT64_MIN), amt(1)), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_EQ(r.minor, 0);
    ASSERT_EQ(r.currency, 0);
    ASSERT_ERR(dc_amount_sub(&r, amt(0), amt(INT64_MIN)), DC_ERR_AMOUNT_OVERFLOW);

    struct dc_amount usd = {.minor = 1, .currency = 840};
    r = amt(7);
    ASSERT_ERR(dc_amount_add(&r, amt(1), usd), DC_ERR_CURRENCY_MISMATCH);
    ASSERT_EQ(r.minor, 0);
    ASSERT_EQ(r.currency, 0);
    r = amt(7);
    ASSERT_ERR(dc_amount_sub(&r, usd, amt(1)), DC_ERR_CURRENCY_MISMATCH);
    ASSERT_EQ(r.currency, 0);

    /* A poisoned amount is refused again, even against another poisoned one. */
    struct dc_amount p = {.minor = 0, .currency = 0};
    ASSERT_ERR(dc_amount_add(&r, p, amt(1)), DC_ERR_CURRENCY_MISMATCH);
    ASSERT_ERR(dc_amount_add(&r, p, p), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_amount_sub(&r, p, p), DC_ERR_CURRENCY_INVALID);
    struct dc_amount big = {.minor = 1, .currency = 1000};
    ASSERT_ERR(dc_amount_add(&r, big, big), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_amount_add(NULL, amt(1), amt(1)), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_amount_sub(NULL, amt(1), amt(1)), DC_ERR_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------------------
 * Parsing
 */

static void test_parse_valid(void)
{
    static const struct {
        const char *text;
        unsigned exponent;
        int neg;
        int64_t minor;
    } cases[] = {
        {"0", 2, 0, 0},
        {"0.0", 2, 0, 0},
        {"0.00", 2, 0, 0},
        {"0.5", 2, 0, 50},
        {"0.05", 2, 0, 5},
        {"0.01", 2, 0, 1},
        {"1", 2, 0, 100},
        {"12", 2, 0, 1200},
        {"12.3", 2, 0, 1230},
        {"12.30", 2, 0, 1230},
        {"12.34", 2, 0, 1234},
        {"100", 2, 0, 10000},
        {"10.01", 2, 0, 1001},
        {"-3.10", 2, 1, -310},
        {"-3.1", 2, 1, -310},
        {"-0.01", 2, 1, -1},
        {"-0", 2, 1, 0},
        {"-0.00", 2, 1, 0},
        {"-0.0", 2, 1, 0},
        {"12.34", 2, 1, 1234},
        {"7", 0, 0, 7},
        {"-7", 0, 1, -7},
        {"0", 0, 0, 0},
        {"1.5", 1, 0, 15},
        {"1.234", 3, 0, 1234},
        {"1.2", 3, 0, 1200},
        {"0.00000001", 8, 0, 1},
        {"1", 8, 0, 100000000},
        {"21000000", 8, 0, INT64_C(2100000000000000)},
        {"9223372036854775807", 0, 0, INT64_MAX},
        {"-9223372036854775808", 0, 1, INT64_MIN},
        {"92233720368547758.07", 2, 0, INT64_MAX},
        {"-92233720368547758.08", 2, 1, INT64_MIN},
        {"92233720368.54775807", 8, 0, INT64_MAX},
        {"-92233720368.54775808", 8, 1, INT64_MIN},
        {"92233720368.5477580", 8, 0, INT64_C(9223372036854775800)},
        {"92233720368547758", 2, 0, INT64_C(9223372036854775800)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dc_amount a = {.minor = 42, .currency = 42};
        enum dc_err e = parse_s(&a, cases[i].exponent, cases[i].text, cases[i].neg);
        if (e != DC_OK || a.minor != cases[i].minor || a.currency != CNY) {
            FAIL_AT("parse \"%s\" exp %u: %s, %" PRId64 " (want %" PRId64 ")", cases[i].text,
                    cases[i].exponent, dc_err_name(e), a.minor, cases[i].minor);
        }
    }
}

static void test_parse_rejects(void)
{
    static const struct {
        const char *text;
        unsigned exponent;
        int neg;
        enum dc_err err;
    } cases[] = {
        /* syntax */
        {"", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {".", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"+1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"+0", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {" 1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1 ", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1 .5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"- 1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"\t1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1\n", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1.", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-1.", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {".5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-.5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1e3", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1E3", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1.0e1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"0x10", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1,5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1_000", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1'000", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"--1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-+1", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1-", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1.2.3", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1..2", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"abc", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"1a", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"NaN", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"inf", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"\xef\xbc\x91", 2, 1, DC_ERR_AMOUNT_SYNTAX}, /* fullwidth digit one */
        {"\xd9\xa1", 2, 1, DC_ERR_AMOUNT_SYNTAX},     /* Arabic-Indic digit one */
        {"00", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"007", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"00.5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"01", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-00", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"-01.5", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"0001", 0, 1, DC_ERR_AMOUNT_SYNTAX},
        /* syntax is reported before sign, precision and range */
        {"-1.234x", 2, 0, DC_ERR_AMOUNT_SYNTAX},
        {"99999999999999999999999x", 2, 1, DC_ERR_AMOUNT_SYNTAX},
        {"--0", 2, 0, DC_ERR_AMOUNT_SYNTAX},
        /* sign */
        {"-1", 2, 0, DC_ERR_AMOUNT_NEGATIVE},
        {"-0", 2, 0, DC_ERR_AMOUNT_NEGATIVE},
        {"-0.00", 2, 0, DC_ERR_AMOUNT_NEGATIVE},
        {"-1.234", 2, 0, DC_ERR_AMOUNT_NEGATIVE},
        {"-99999999999999999999999", 2, 0, DC_ERR_AMOUNT_NEGATIVE},
        /* precision */
        {"1.234", 2, 1, DC_ERR_AMOUNT_PRECISION},
        {"1.50", 1, 1, DC_ERR_AMOUNT_PRECISION},
        {"1.00", 1, 1, DC_ERR_AMOUNT_PRECISION},
        {"1.0", 0, 1, DC_ERR_AMOUNT_PRECISION},
        {"0.5", 0, 1, DC_ERR_AMOUNT_PRECISION},
        {"0.000000001", 8, 1, DC_ERR_AMOUNT_PRECISION},
        {"0.000000000", 8, 1, DC_ERR_AMOUNT_PRECISION},
        {"-0.001", 2, 1, DC_ERR_AMOUNT_PRECISION},
        {"99999999999999999999.123", 2, 1, DC_ERR_AMOUNT_PRECISION},
        /* range */
        {"9223372036854775808", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"-9223372036854775809", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"92233720368547758.08", 2, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"92233720368547758.1", 2, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"92233720368547759", 2, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"-92233720368547758.09", 2, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"-92233720368547758.1", 2, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"92233720368.54775808", 8, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"92233720369", 8, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"18446744073709551616", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"18446744073709551615", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"99999999999999999999", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
        {"100000000000000000000000000000", 0, 1, DC_ERR_AMOUNT_OVERFLOW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dc_amount a = {.minor = 42, .currency = 42};
        enum dc_err e = parse_s(&a, cases[i].exponent, cases[i].text, cases[i].neg);
        if (e != cases[i].err || a.minor != 0 || a.currency != 0) {
            FAIL_AT("parse \"%s\" exp %u neg %d: %s {%" PRId64 ", %u}, expected %s", cases[i].text,
                    cases[i].exponent, cases[i].neg, dc_err_name(e), a.minor, (unsigned)a.currency,
                    dc_err_name(cases[i].err));
        }
    }
}

/* INT64_MAX and INT64_MIN, and one unit beyond, at every exponent. */
static void test_parse_int64_edges(void)
{
    static const char max_digits[] = "9223372036854775807";
    static const char over_digits[] = "9223372036854775808";
    static const char under_digits[] = "9223372036854775809";
    for (unsigned e = 0; e <= DC_CURRENCY_EXPONENT_MAX; e++) {
        char max_s[32], over_s[32], min_s[40], under_s[40];
        const size_t n_int = 19 - e;
        /* "[-]iiii.ffff" with e decimals */
        snprintf(max_s, sizeof max_s, "%.*s%s%s", (int)n_int, max_digits, e ? "." : "",
                 max_digits + n_int);
        snprintf(over_s, sizeof over_s, "%.*s%s%s", (int)n_int, over_digits, e ? "." : "",
                 over_digits + n_int);
        snprintf(min_s, sizeof min_s, "-%s", over_s);
        snprintf(under_s, sizeof under_s, "-%.*s%s%s", (int)n_int, under_digits, e ? "." : "",
                 under_digits + n_int);
        struct dc_amount a;
        ASSERT_OK(parse_s(&a, e, max_s, 0));
        ASSERT(a.minor == INT64_MAX);
        ASSERT_OK(parse_s(&a, e, min_s, 1));
        ASSERT(a.minor == INT64_MIN);
        ASSERT_ERR(parse_s(&a, e, over_s, 0), DC_ERR_AMOUNT_OVERFLOW);
        ASSERT_ERR(parse_s(&a, e, over_s, 1), DC_ERR_AMOUNT_OVERFLOW);
        ASSERT_ERR(parse_s(&a, e, under_s, 1), DC_ERR_AMOUNT_OVERFLOW);
        ASSERT_ERR(parse_s(&a, e, min_s, 0), DC_ERR_AMOUNT_NEGATIVE);
        /* and the formatter writes exactly these strings */
        struct dc_currency c = cur_exp(e);
        char buf[DC_AMOUNT_STR_MAX];
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &c, amt(INT64_MAX)));
        ASSERT_STR(buf, max_s);
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &c, amt(INT64_MIN)));
        ASSERT_STR(buf, min_s);
    }
}

/* (ptr, len): only len bytes are read, and a NUL inside them is a syntax error. */
static void test_parse_length_and_nul(void)
{
    struct dc_currency c = cur_exp(2);
    struct dc_amount a;
    ASSERT_OK(dc_amount_parse(&a, &c, "12.345", 4, 0));
    ASSERT_EQ(a.minor, 1230);
    ASSERT_OK(dc_amount_parse(&a, &c, "12.345", 2, 0));
    ASSERT_EQ(a.minor, 1200);
    ASSERT_ERR(dc_amount_parse(&a, &c, "12.345", 3, 0), DC_ERR_AMOUNT_SYNTAX);
    ASSERT_ERR(dc_amount_parse(&a, &c, "12.345", 0, 0), DC_ERR_AMOUNT_SYNTAX);
    ASSERT_ERR(dc_amount_parse(&a, &c, "1\0", 2, 0), DC_ERR_AMOUNT_SYNTAX);
    ASSERT_ERR(dc_amount_parse(&a, &c, "1\0002", 3, 0), DC_ERR_AMOUNT_SYNTAX);
    ASSERT_ERR(dc_amount_parse(&a, &c, "\0", 1, 0), DC_ERR_AMOUNT_SYNTAX);
    ASSERT_ERR(dc_amount_parse(&a, &c, "1.\0", 3, 0), DC_ERR_AMOUNT_SYNTAX);
    /* an exact-size heap copy, no NUL after it: ASan would see an overread */
    char *p = malloc(5);
    ASSERT(p != NULL);
    memcpy(p, "-1.25", 5);
    enum dc_err e = dc_amount_parse(&a, &c, p, 5, 1);
    free(p);
    ASSERT_OK(e);
    ASSERT_EQ(a.minor, -125);
}

static void test_parse_long_inputs(void)
{
    static char buf[4096];
    struct dc_currency c = cur_exp(2);
    struct dc_amount a;
    memset(buf, '9', sizeof buf);
    ASSERT_ERR(dc_amount_parse(&a, &c, buf, sizeof buf, 1), DC_ERR_AMOUNT_OVERFLOW);
    buf[0] = '-';
    ASSERT_ERR(dc_amount_parse(&a, &c, buf, sizeof buf, 1), DC_ERR_AMOUNT_OVERFLOW);
    ASSERT_ERR(dc_amount_parse(&a, &c, buf, sizeof buf, 0), DC_ERR_AMOUNT_NEGATIVE);
    memset(buf, '0', sizeof buf);
    buf[1] = '.';
    ASSERT_ERR(dc_amount_parse(&a, &c, buf, sizeof buf, 1), DC_ERR_AMOUNT_PRECISION);
    buf[sizeof buf - 1] = 'x';
    ASSERT_ERR(dc_amount_parse(&a, &c, buf, sizeof buf, 1), DC_ERR_AMOUNT_SYNTAX);
}

static void test_parse_bad_arguments(void)
{
    struct dc_currency c = cur_exp(2);
    struct dc_amount a = amt(5);
    ASSERT_ERR(dc_amount_parse(NULL, &c, "1", 1, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_amount_parse(&a, NULL, "1", 1, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(a.currency, 0);
    ASSERT_ERR(dc_amount_parse(&a, &c, NULL, 1, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_amount_parse(&a, &c, NULL, 0, 0), DC_ERR_AMOUNT_SYNTAX);
    struct dc_currency bad = c;
    bad.exponent = 9;
    ASSERT_ERR(dc_amount_parse(&a, &bad, "1", 1, 0), DC_ERR_CURRENCY_INVALID);
    bad = c;
    bad.numeric = 0;
    ASSERT_ERR(dc_amount_parse(&a, &bad, "1", 1, 0), DC_ERR_CURRENCY_INVALID);
    bad = c;
    bad.code[1] = 'n';
    ASSERT_ERR(dc_amount_parse(&a, &bad, "1", 1, 0), DC_ERR_CURRENCY_INVALID);
    bad = c;
    bad.code[3] = 'X';
    ASSERT_ERR(dc_amount_parse(&a, &bad, "1", 1, 0), DC_ERR_CURRENCY_INVALID);
    ASSERT_EQ(a.minor, 0);
    ASSERT_EQ(a.currency, 0);
}

/* ---------------------------------------------------------------------------
 * Formatting
 */

static void test_format_values(void)
{
    static const struct {
        int64_t minor;
        unsigned exponent;
        const char *text;
    } cases[] = {
        {0, 2, "0.00"},
        {1, 2, "0.01"},
        {-1, 2, "-0.01"},
        {5, 2, "0.05"},
        {50, 2, "0.50"},
        {99, 2, "0.99"},
        {100, 2, "1.00"},
        {1230, 2, "12.30"},
        {-310, 2, "-3.10"},
        {-100, 2, "-1.00"},
        {0, 0, "0"},
        {7, 0, "7"},
        {-7, 0, "-7"},
        {15, 1, "1.5"},
        {-5, 1, "-0.5"},
        {1, 8, "0.00000001"},
        {0, 8, "0.00000000"},
        {100000000, 8, "1.00000000"},
        {-123456789, 8, "-1.23456789"},
        {1000, 3, "1.000"},
        {INT64_MAX, 2, "92233720368547758.07"},
        {INT64_MIN, 2, "-92233720368547758.08"},
        {INT64_MIN, 0, "-9223372036854775808"},
        {INT64_MIN, 8, "-92233720368.54775808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dc_currency c = cur_exp(cases[i].exponent);
        char buf[DC_AMOUNT_STR_MAX];
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &c, amt(cases[i].minor)));
        ASSERT_STR(buf, cases[i].text);
    }
}

static void test_format_buffer(void)
{
    struct dc_currency c = cur_exp(2);
    char buf[DC_AMOUNT_STR_MAX];
    /* "-92233720368547758.08" is 21 bytes + NUL: 22 fits, 21 does not. */
    ASSERT_OK(dc_amount_format(buf, 22, &c, amt(INT64_MIN)));
    ASSERT_STR(buf, "-92233720368547758.08");
    memset(buf, 'x', sizeof buf);
    ASSERT_ERR(dc_amount_format(buf, 21, &c, amt(INT64_MIN)), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(buf[0], '\0');
    ASSERT_OK(dc_amount_format(buf, 5, &c, amt(0)));
    ASSERT_STR(buf, "0.00");
    ASSERT_ERR(dc_amount_format(buf, 4, &c, amt(0)), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_ERR(dc_amount_format(buf, 0, &c, amt(0)), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_ERR(dc_amount_format(buf, 1, &c, amt(0)), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(buf[0], '\0');
    struct dc_currency c0 = cur_exp(0);
    ASSERT_OK(dc_amount_format(buf, 2, &c0, amt(7)));
    ASSERT_STR(buf, "7");
    ASSERT_ERR(dc_amount_format(buf, 2, &c0, amt(-7)), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_OK(dc_amount_format(buf, 3, &c0, amt(-7)));
    ASSERT_STR(buf, "-7");
    /* DC_AMOUNT_STR_MAX suffices for every value at every exponent. */
    for (unsigned e = 0; e <= DC_CURRENCY_EXPONENT_MAX; e++) {
        struct dc_currency ce = cur_exp(e);
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &ce, amt(INT64_MIN)));
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &ce, amt(INT64_MAX)));
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &ce, amt(-1)));
    }
}

static void test_format_errors(void)
{
    struct dc_currency c = cur_exp(2);
    char buf[DC_AMOUNT_STR_MAX];
    memset(buf, 'x', sizeof buf);
    struct dc_amount usd = {.minor = 100, .currency = 840};
    ASSERT_ERR(dc_amount_format(buf, sizeof buf, &c, usd), DC_ERR_CURRENCY_MISMATCH);
    ASSERT_EQ(buf[0], '\0');
    struct dc_amount poisoned = {.minor = 0, .currency = 0};
    ASSERT_ERR(dc_amount_format(buf, sizeof buf, &c, poisoned), DC_ERR_CURRENCY_MISMATCH);
    struct dc_currency bad = c;
    bad.exponent = 9;
    ASSERT_ERR(dc_amount_format(buf, sizeof buf, &bad, amt(1)), DC_ERR_CURRENCY_INVALID);
    ASSERT_ERR(dc_amount_format(NULL, sizeof buf, &c, amt(1)), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_amount_format(buf, sizeof buf, NULL, amt(1)), DC_ERR_INVALID_ARGUMENT);
}

/* format then parse gives the value back, and parse then format the text back. */
static void test_roundtrip(void)
{
    for (unsigned e = 0; e <= DC_CURRENCY_EXPONENT_MAX; e++) {
        struct dc_currency c = cur_exp(e);
        int64_t p10 = 1;
        for (int i = 0; i < 60000; i++) {
            int64_t v;
            if (i < 19 * 3) {
                /* powers of ten and their neighbours */
                if (i % 3 == 0 && i > 0) p10 *= 10;
                v = p10 + (i % 3) - 1;
            } else if (i < 2000) {
                v = i - 1000;
            } else {
                v = rnd_i64();
            }
            for (int sign = 0; sign < 2; sign++) {
                const int64_t x = sign && v != INT64_MIN ? -v : v;
                char buf[DC_AMOUNT_STR_MAX];
                ASSERT_OK(dc_amount_format(buf, sizeof buf, &c, amt(x)));
                struct dc_amount back;
                enum dc_err err = dc_amount_parse(&back, &c, buf, strlen(buf), 1);
                if (err != DC_OK || back.minor != x || back.currency != CNY) {
                    FAIL_AT("exp %u: %" PRId64 " -> \"%s\" -> %s %" PRId64, e, x, buf,
                            dc_err_name(err), back.minor);
                }
                /* non-negative values also parse without allow_negative */
                if (x >= 0) {
                    ASSERT_OK(dc_amount_parse(&back, &c, buf, strlen(buf), 0));
                    ASSERT(back.minor == x);
                } else {
                    ASSERT_ERR(dc_amount_parse(&back, &c, buf, strlen(buf), 0),
                               DC_ERR_AMOUNT_NEGATIVE);
                }
            }
        }
    }
    /* text -> value -> the same text, for texts already in full form */
    static const char *const texts[] = {"0.00",
                                        "0.01",
                                        "-0.01",
                                        "1.00",
                                        "12.34",
                                        "-99.99",
                                        "1000000.00",
                                        "92233720368547758.07",
                                        "-92233720368547758.08"};
    struct dc_currency c = cur_exp(2);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct dc_amount a;
        char buf[DC_AMOUNT_STR_MAX];
        ASSERT_OK(parse_s(&a, 2, texts[i], 1));
        ASSERT_OK(dc_amount_format(buf, sizeof buf, &c, a));
        ASSERT_STR(buf, texts[i]);
    }
}

/* ---------------------------------------------------------------------------
 * Denominations
 */

static struct dc_denoms mk(size_t n, const int64_t *v)
{
    struct dc_denoms d;
    memset(&d, 0, sizeof d);
    d.n = n;
    memcpy(d.v, v, n * sizeof v[0]);
    return d;
}

#define MK(...)                                                                                    \
    mk(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (const int64_t[]){__VA_ARGS__})

static void test_denoms_validate(void)
{
    struct dc_denoms d;
    ASSERT_OK(dc_denoms_series125(&d, 1, 50000));
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1, 2, 5);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(7);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1, 5, 10, 25, 50, 100);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1, 2, 4, 8, 16, 32, 64);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1, 3, 9, 27);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(5, 10, 25); /* base 5: 5 x {1, 2, 5} */
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(1, INT64_MAX);
    ASSERT_OK(dc_denoms_validate(&d));
    d = MK(INT64_MAX);
    ASSERT_OK(dc_denoms_validate(&d));

    /* not canonical */
    d = MK(1, 3, 4); /* 6 = 3 + 3, greedy 4 + 1 + 1 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(10, 30, 40);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, 7, 10); /* 14 = 7 + 7 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, 10, 25); /* 30 = 10 + 10 + 10 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, 2, 5, 10, 20, 25, 50); /* 40 = 20 + 20, greedy 25 + 10 + 5 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, 5, 10, 20, 25, 50); /* 40 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, INT64_MAX - 1, INT64_MAX); /* huge values: no overflow inside */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);
    d = MK(1, INT64_MAX / 2, INT64_MAX / 2 + 1, INT64_MAX);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_NOT_CANONICAL);

    /* malformed */
    d = MK(1, 5, 2); /* unsorted */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(5, 2, 1);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(1, 2, 2, 5); /* duplicate */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(2, 5, 10); /* 5 is not a multiple of 2 */
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(10, 20, 55);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(0, 1, 2);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(0);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(-1, 1, 2);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(INT64_MIN, 1);
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d = MK(1, 2, 5);
    d.n = 0;
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d.n = DC_DENOMS_MAX + 1;
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    d.n = SIZE_MAX;
    ASSERT_ERR(dc_denoms_validate(&d), DC_ERR_DENOM_INVALID);
    /* exactly DC_DENOMS_MAX values: 1..32 is canonical */
    for (size_t i = 0; i < DC_DENOMS_MAX; i++) d.v[i] = (int64_t)i + 1;
    d.n = DC_DENOMS_MAX;
    ASSERT_OK(dc_denoms_validate(&d));
    ASSERT_ERR(dc_denoms_validate(NULL), DC_ERR_INVALID_ARGUMENT);
}

/* Fewest coins for 0..max over v[0..n) (v[0] == 1), by dynamic programming. */
static void ref_optimal(unsigned *best, size_t max, const int64_t *v, size_t n)
{
    best[0] = 0;
    for (size_t x = 1; x <= max; x++) {
        unsigned b = UINT32_MAX;
        for (size_t k = 0; k < n; k++) {
            const size_t c = (size_t)v[k];
            if (c <= x && best[x - c] + 1 < b) b = best[x - c] + 1;
        }
        best[x] = b;
    }
}

static unsigned ref_greedy(size_t x, const int64_t *v, size_t n)
{
    unsigned count = 0;
    for (size_t k = n; k-- > 0;) {
        count += (unsigned)(x / (size_t)v[k]);
        x %= (size_t)v[k];
    }
    return count;
}

/* Brute force: canonical iff greedy == optimal for every x below the two largest
 * coins' sum (Kozen & Zaks); checked up to twice the largest coin. */
static int ref_canonical(const int64_t *v, size_t n)
{
    static unsigned best[1024];
    const size_t max = 2 * (size_t)v[n - 1];
    ref_optimal(best, max, v, n);
    for (size_t x = 1; x <= max; x++) {
        if (ref_greedy(x, v, n) != best[x]) return 0;
    }
    return 1;
}

/* Pearson's test agrees with brute force on every set 1 < c < 17, and on random sets. */
static void test_denoms_canonical_vs_bruteforce(void)
{
    int64_t v[DC_DENOMS_MAX];
    unsigned n_canonical = 0, n_sets = 0;
    for (uint32_t mask = 0; mask < (1u << 15); mask++) {
        size_t n = 0;
        v[n++] = 1;
        for (int b = 0; b < 15; b++) {
            if (mask & (1u << b)) v[n++] = b + 2;
        }
        struct dc_denoms d = mk(n, v);
        const int want = ref_canonical(v, n);
        const enum dc_err e = dc_denoms_validate(&d);
        if ((e == DC_OK) != want || (e != DC_OK && e != DC_ERR_DENOM_NOT_CANONICAL)) {
            FAIL_AT("mask %#x: validate %s, brute force says %d", mask, dc_err_name(e), want);
        }
        /* scaling by a base unit changes nothing */
        for (size_t k = 0; k < n; k++) d.v[k] *= 3;
        ASSERT_ERR(dc_denoms_validate(&d), e);
        n_canonical += (unsigned)want;
        n_sets++;
    }
    ASSERT(n_canonical > 100 && n_canonical < n_sets - 100); /* both verdicts exercised */
    for (int t = 0; t < 20000; t++) {
        size_t n = 1;
        v[0] = 1;
        const size_t want_n = 2 + (size_t)(rng() % 6);
        while (n < want_n) {
            const int64_t c = v[n - 1] + 1 + (int64_t)(rng() % 100);
            if (c > 500) break;
            v[n++] = c;
        }
        struct dc_denoms d = mk(n, v);
        const int want = ref_canonical(v, n);
        const enum dc_err e = dc_denoms_validate(&d);
        if ((e == DC_OK) != want) {
            FAIL_AT("random set of %zu (largest %" PRId64 "): %s, brute force %d", n, v[n - 1],
                    dc_err_name(e), want);
        }
    }
}

static void test_denoms_series125(void)
{
    static const int64_t want[] = {1,   2,    5,    10,   20,    50,    100,  200,
                                   500, 1000, 2000, 5000, 10000, 20000, 50000};
    struct dc_denoms d;
    ASSERT_OK(dc_denoms_series125(&d, 1, 50000));
    ASSERT_EQ(d.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < d.n; i++) ASSERT_EQ(d.v[i], want[i]);
    for (size_t i = d.n; i < DC_DENOMS_MAX; i++) ASSERT_EQ(d.v[i], 0);
    ASSERT_OK(dc_denoms_series125(&d, 1, 99999)); /* max need not be in the series */
    ASSERT_EQ(d.n, 15);
    ASSERT_OK(dc_denoms_series125(&d, 1, 49999));
    ASSERT_EQ(d.n, 14);
    ASSERT_EQ(d.v[13], 20000);
    ASSERT_OK(dc_denoms_series125(&d, 1, 1));
    ASSERT_EQ(d.n, 1);
    ASSERT_EQ(d.v[0], 1);
    ASSERT_OK(dc_denoms_series125(&d, 5, 250));
    ASSERT_EQ(d.n, 6);
    ASSERT_EQ(d.v[0], 5);
    ASSERT_EQ(d.v[1], 10);
    ASSERT_EQ(d.v[2], 25);
    ASSERT_EQ(d.v[5], 250);
    /* near the top of int64 */
    ASSERT_OK(dc_denoms_series125(&d, INT64_C(1000000000000000000), INT64_MAX));
    ASSERT_EQ(d.n, 3);
    ASSERT_EQ(d.v[2], INT64_C(5000000000000000000));
    ASSERT_OK(dc_denoms_series125(&d, INT64_C(2000000000000000000), INT64_MAX));
    ASSERT_EQ(d.n, 2);
    ASSERT_EQ(d.v[1], INT64_C(4000000000000000000));
    ASSERT_OK(dc_denoms_series125(&d, INT64_MAX, INT64_MAX));
    ASSERT_EQ(d.n, 1);
    ASSERT_OK(dc_denoms_series125(&d, INT64_MAX / 10, INT64_MAX)); /* 1x 2x 5x 10x */
    ASSERT_EQ(d.n, 4);
    ASSERT_EQ(d.v[3], INT64_MAX / 10 * 10);
    /* exactly DC_DENOMS_MAX values: 1 .. 2e10 */
    ASSERT_OK(dc_denoms_series125(&d, 1, INT64_C(20000000000)));
    ASSERT_EQ(d.n, DC_DENOMS_MAX);
    ASSERT_EQ(d.v[DC_DENOMS_MAX - 1], INT64_C(20000000000));
    /* errors poison the output */
    ASSERT_ERR(dc_denoms_series125(&d, 1, INT64_C(50000000000)), DC_ERR_DENOM_INVALID);
    ASSERT_EQ(d.n, 0);
    ASSERT_EQ(d.v[0], 0);
    ASSERT_ERR(dc_denoms_series125(&d, 1, INT64_MAX), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(&d, 0, 100), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(&d, -1, 100), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(&d, INT64_MIN, INT64_MAX), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(&d, 10, 9), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(&d, 10, -5), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_series125(NULL, 1, 100), DC_ERR_INVALID_ARGUMENT);
}

static enum dc_err denoms_parse_s(struct dc_denoms *d, unsigned exponent, const char *s)
{
    struct dc_currency c = cur_exp(exponent);
    return dc_denoms_parse(d, &c, s, strlen(s));
}

static void test_denoms_parse(void)
{
    struct dc_denoms d;
    ASSERT_OK(denoms_parse_s(&d, 2, "0.01,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,50,100,200,500"));
    struct dc_denoms s;
    ASSERT_OK(dc_denoms_series125(&s, 1, 50000));
    ASSERT_EQ(d.n, s.n);
    ASSERT_MEM(d.v, s.v, sizeof d.v);
    ASSERT_OK(denoms_parse_s(&d, 2, "0.01,0.02,0.05,1,2"));
    ASSERT_EQ(d.n, 5);
    ASSERT_EQ(d.v[0], 1);
    ASSERT_EQ(d.v[3], 100);
    ASSERT_EQ(d.v[4], 200);
    ASSERT_OK(denoms_parse_s(&d, 0, "1"));
    ASSERT_EQ(d.n, 1);
    ASSERT_OK(denoms_parse_s(&d, 2, "0.10,0.20,0.50"));
    ASSERT_EQ(d.v[2], 50);
    /* only len bytes are read */
    struct dc_currency c = cur_exp(2);
    ASSERT_OK(dc_denoms_parse(&d, &c, "1,2,5,junk", 5));
    ASSERT_EQ(d.n, 3);
    ASSERT_EQ(d.v[2], 500);

    static const struct {
        const char *text;
        enum dc_err err;
    } bad[] = {
        {"", DC_ERR_AMOUNT_SYNTAX},
        {",", DC_ERR_AMOUNT_SYNTAX},
        {"1,", DC_ERR_AMOUNT_SYNTAX},
        {",1", DC_ERR_AMOUNT_SYNTAX},
        {"1,,2", DC_ERR_AMOUNT_SYNTAX},
        {"1, 2", DC_ERR_AMOUNT_SYNTAX},
        {"1 ,2", DC_ERR_AMOUNT_SYNTAX},
        {" 1,2", DC_ERR_AMOUNT_SYNTAX},
        {"1;2", DC_ERR_AMOUNT_SYNTAX},
        {"1,2,5\n", DC_ERR_AMOUNT_SYNTAX},
        {"01,2", DC_ERR_AMOUNT_SYNTAX},
        {"1,-2", DC_ERR_AMOUNT_NEGATIVE},
        {"0.001,1", DC_ERR_AMOUNT_PRECISION},
        {"1,92233720368547758.08", DC_ERR_AMOUNT_OVERFLOW},
        {"0,1", DC_ERR_DENOM_INVALID},
        {"0", DC_ERR_DENOM_INVALID},
        {"2,1", DC_ERR_DENOM_INVALID},
        {"1,1", DC_ERR_DENOM_INVALID},
        {"0.02,0.05", DC_ERR_DENOM_INVALID},
        {"1,3,4", DC_ERR_DENOM_NOT_CANONICAL},
        {"0.01,0.03,0.04", DC_ERR_DENOM_NOT_CANONICAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&d, 0x55, sizeof d);
        enum dc_err e = denoms_parse_s(&d, 2, bad[i].text);
        if (e != bad[i].err || d.n != 0 || d.v[0] != 0) {
            FAIL_AT("denoms \"%s\": %s, expected %s", bad[i].text, dc_err_name(e),
                    dc_err_name(bad[i].err));
        }
    }

    /* 32 elements are fine, 33 are not */
    char buf[256];
    size_t o = 0;
    for (int i = 1; i <= DC_DENOMS_MAX; i++) {
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d", i > 1 ? "," : "", i);
    }
    ASSERT_OK(dc_denoms_parse(&d, &c, buf, o));
    ASSERT_EQ(d.n, DC_DENOMS_MAX);
    ASSERT_EQ(d.v[DC_DENOMS_MAX - 1], 3200);
    o += (size_t)snprintf(buf + o, sizeof buf - o, ",33");
    ASSERT_ERR(dc_denoms_parse(&d, &c, buf, o), DC_ERR_DENOM_INVALID);
    ASSERT_EQ(d.n, 0);

    ASSERT_ERR(dc_denoms_parse(NULL, &c, "1", 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_denoms_parse(&d, NULL, "1", 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_denoms_parse(&d, &c, NULL, 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_denoms_parse(&d, &c, NULL, 0), DC_ERR_AMOUNT_SYNTAX);
    struct dc_currency badc = c;
    badc.exponent = 200;
    ASSERT_ERR(dc_denoms_parse(&d, &badc, "1", 1), DC_ERR_CURRENCY_INVALID);
}

/* Decomposes and checks the result is a valid, non-increasing sum of coins. */
static size_t decompose_ok(int64_t *out, size_t cap, const struct dc_denoms *d, int64_t amount)
{
    size_t n = 12345;
    enum dc_err e = dc_denoms_decompose(out, cap, &n, d, amount);
    if (e != DC_OK) FAIL_AT("decompose %" PRId64 ": %s", amount, dc_err_name(e));
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int is_coin = 0;
        for (size_t k = 0; k < d->n; k++) is_coin |= out[i] == d->v[k];
        ASSERT(is_coin);
        ASSERT(i == 0 || out[i] <= out[i - 1]);
        ASSERT_OK(dc_i64_add(&sum, sum, out[i]));
    }
    ASSERT(sum == amount);
    return n;
}

static void test_denoms_decompose(void)
{
    struct dc_denoms d;
    ASSERT_OK(dc_denoms_series125(&d, 1, 50000));
    int64_t out[64];
    ASSERT_EQ(decompose_ok(out, 64, &d, 1), 1);
    ASSERT_EQ(out[0], 1);
    ASSERT_EQ(decompose_ok(out, 64, &d, 3), 2);
    ASSERT_EQ(out[0], 2);
    ASSERT_EQ(out[1], 1);
    ASSERT_EQ(decompose_ok(out, 64, &d, 4), 2);
    ASSERT_EQ(out[0], 2);
    ASSERT_EQ(out[1], 2);
    ASSERT_EQ(decompose_ok(out, 64, &d, 88), 6); /* 50 20 10 5 2 1 */
    ASSERT_EQ(out[0], 50);
    ASSERT_EQ(out[5], 1);
    ASSERT_EQ(decompose_ok(out, 64, &d, 99999), 15); /* 50000 20000 20000 5000 2000 2000 ... */
    ASSERT_EQ(decompose_ok(out, 64, &d, 70000), 2);
    ASSERT_EQ(out[0], 50000);
    ASSERT_EQ(out[1], 20000);
    ASSERT_EQ(decompose_ok(out, 64, &d, 50000), 1);
    ASSERT_EQ(decompose_ok(out, 64, &d, 1000000), 20);

    /* exactly cap coins fit; one fewer slot reports the count needed */
    ASSERT_EQ(decompose_ok(out, 6, &d, 88), 6);
    size_t n = 0;
    for (size_t i = 0; i < 64; i++) out[i] = 7;
    ASSERT_ERR(dc_denoms_decompose(out, 5, &n, &d, 88), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, 6);
    for (size_t i = 0; i < 5; i++) ASSERT_EQ(out[i], 0);
    ASSERT_EQ(out[5], 7); /* nothing beyond cap is touched */
    ASSERT_ERR(dc_denoms_decompose(NULL, 0, &n, &d, 88), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, 6);
    /* large amounts: the count is reported even when it is huge */
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d, INT64_C(1000000000000)),
               DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, 20000000);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d, INT64_MAX), DC_ERR_BUFFER_TOO_SMALL);
    /* INT64_MAX = 184467440737095 * 50000 + 25807 and 25807 = 20000 5000 500 200 100 5 2 */
    ASSERT_EQ(n, INT64_C(184467440737095) + 7);

    /* unreachable, zero and negative amounts */
    struct dc_denoms d5;
    ASSERT_OK(dc_denoms_series125(&d5, 5, 500));
    ASSERT_EQ(decompose_ok(out, 64, &d5, 15), 2);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d5, 7), DC_ERR_DENOM_UNREACHABLE);
    ASSERT_EQ(n, 0);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d5, 1), DC_ERR_DENOM_UNREACHABLE);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d5, INT64_MAX), DC_ERR_DENOM_UNREACHABLE);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d, 0), DC_ERR_AMOUNT_ZERO);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d, -1), DC_ERR_AMOUNT_ZERO);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &d, INT64_MIN), DC_ERR_AMOUNT_ZERO);
    ASSERT_EQ(n, 0);

    /* an invalid or non-canonical set is refused, not used */
    struct dc_denoms bad = MK(1, 3, 4);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &bad, 6), DC_ERR_DENOM_NOT_CANONICAL);
    bad = MK(0, 1);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &bad, 6), DC_ERR_DENOM_INVALID);
    bad.n = 0;
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, &bad, 6), DC_ERR_DENOM_INVALID);
    ASSERT_ERR(dc_denoms_decompose(out, 64, NULL, &d, 6), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_denoms_decompose(out, 64, &n, NULL, 6), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_denoms_decompose(NULL, 1, &n, &d, 6), DC_ERR_INVALID_ARGUMENT);
}

/* Greedy over the default 1-2-5 series is the fewest coins, checked by DP. */
static void test_denoms_greedy_optimal_125(void)
{
    enum { MAX = 100000 };
    static unsigned best[MAX + 1];
    struct dc_denoms d;
    ASSERT_OK(dc_denoms_series125(&d, 1, 50000));
    ref_optimal(best, MAX, d.v, d.n);
    int64_t out[64];
    for (int64_t x = 1; x <= MAX; x++) {
        size_t n;
        if (x <= 1000) {
            n = decompose_ok(out, 64, &d, x);
        } else {
            ASSERT_ERR(dc_denoms_decompose(NULL, 0, &n, &d, x), DC_ERR_BUFFER_TOO_SMALL);
        }
        if (n != best[x]) FAIL_AT("amount %" PRId64 ": %zu coins, optimal %u", x, n, best[x]);
    }
}

TESTS(T(test_currency_init_valid), T(test_currency_init_invalid), T(test_i64_add_boundaries),
      T(test_i64_sub_boundaries), T(test_i64_mul_boundaries), T(test_i64_reference),
      T(test_amount_add_sub), T(test_parse_valid), T(test_parse_rejects), T(test_parse_int64_edges),
      T(test_parse_length_and_nul), T(test_parse_long_inputs), T(test_parse_bad_arguments),
      T(test_format_values), T(test_format_buffer), T(test_format_errors), T(test_roundtrip),
      T(test_denoms_validate), T(test_denoms_canonical_vs_bruteforce), T(test_denoms_series125),
      T(test_denoms_parse), T(test_denoms_decompose), T(test_denoms_greedy_optimal_125))

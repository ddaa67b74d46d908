/*
 * amount.c - money as int64 minor units: checked arithmetic, exact decimal
 * parsing and formatting, and denomination sets (validation, the 1-2-5
 * series, greedy decomposition).
 *
 * Why: every value that moves through Ducat is an amount, so this file is the
 * one place where overflow, rounding and canonical text are decided. There is
 * no floating point anywhere; decimal text maps to minor units digit by digit.
 *
 * Invariants: every overflow test happens before the operation it guards
 * (never after a wrap, which would be undefined behaviour for int64_t);
 * every failing function poisons its outputs (amount {0, 0}, denomination set
 * {n = 0, all zero}, decomposition all zero) so a forgotten error check cannot
 * pass a half-computed value on. Currency 0 is never valid, so a poisoned
 * amount is also refused by every later add, sub or format.
 *
 * Canonical coin systems: a set is canonical when the greedy decomposition
 * is always a fewest-coins decomposition. The test is Pearson's polynomial
 * algorithm (D. Pearson, "A polynomial-time algorithm for the change-making
 * problem", Operations Research Letters 33(3), 2005; technical report 1994):
 * with coins c[0] > c[1] > ... > c[n-1] = 1, if the set is not canonical then
 * its smallest counterexample w has a fewest-coins representation M(w) equal
 * to the greedy representation of c[i-1] - 1 on entries 0..j-1, plus one coin
 * at entry j, and zero after j, for some 1 <= i <= j < n. Trying every (i, j)
 * and comparing the greedy count of that w with the count of M(w) is exact,
 * costs O(n^3) divisions (about 30 000 for n = 32), and needs no table, where
 * the Kozen-Zaks exhaustive check up to c[0] + c[1] would need a DP table of
 * that many entries (70 000 for the default 1-2-5 series up to 50000).
 * Values are divided by the base unit first (canonicity is scale invariant)
 * and handled as uint64_t: every intermediate is < 2 * INT64_MAX < 2^64.
 *
 * Workload: all functions are O(len) or O(n) except dc_denoms_validate, which
 * is O(n^3) with n <= DC_DENOMS_MAX = 32. Pure: no I/O, no allocation, no
 * globals other than constant tables.
 */
#include "ducat/amount.h"

#include <string.h>

#define NUMERIC_MAX 999u

static const struct dc_amount POISON = {.minor = 0, .currency = 0};

/* ---------------------------------------------------------------------------
 * Currencies
 */

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int numeric_ok(uint32_t numeric)
{
    return numeric >= 1 && numeric <= NUMERIC_MAX;
}

/* 1 if code is exactly three letters A-Z followed by NUL (reads at most 4 bytes). */
static int code_ok(const char *code)
{
    return is_upper(code[0]) && is_upper(code[1]) && is_upper(code[2]) && code[3] == '\0';
}

/* 1 if *cur is something dc_currency_init would have produced. */
static int currency_ok(const struct dc_currency *cur)
{
    return code_ok(cur->code) && numeric_ok(cur->numeric) &&
           cur->exponent <= DC_CURRENCY_EXPONENT_MAX;
}

enum dc_err dc_currency_init(struct dc_currency *out, const char *code, uint32_t numeric,
                             unsigned exponent)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!code) return DC_ERR_INVALID_ARGUMENT;
    if (!code_ok(code) || !numeric_ok(numeric) || exponent > DC_CURRENCY_EXPONENT_MAX) {
        return DC_ERR_CURRENCY_INVALID;
    }
    memcpy(out->code, code, 4);
    out->numeric = numeric;
    out->exponent = (uint8_t)exponent;
    return DC_OK;
}

/* ---------------------------------------------------------------------------
 * Checked arithmetic
 */

enum dc_err dc_i64_add(int64_t *out, int64_t a, int64_t b)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    *out = 0;
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) {
        return DC_ERR_AMOUNT_OVERFLOW;
    }
    *out = a + b;
    return DC_OK;
}

enum dc_err dc_i64_sub(int64_t *out, int64_t a, int64_t b)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    *out = 0;
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b)) {
        return DC_ERR_AMOUNT_OVERFLOW;
    }
    *out = a - b;
    return DC_OK;
}

enum dc_err dc_i64_mul(int64_t *out, int64_t a, int64_t b)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    *out = 0;
    /* CERT INT32-C: divide the bound instead of multiplying the operands. */
    int ovf;
    if (a > 0) {
        ovf = b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a;
    } else if (a < 0) {
        ovf = b > 0 ? a < INT64_MIN / b : b != 0 && b < INT64_MAX / a;
    } else {
        ovf = 0;
    }
    if (ovf) return DC_ERR_AMOUNT_OVERFLOW;
    *out = a * b;
    return DC_OK;
}

/* Shared body of add and sub: currencies must match and be a valid code. */
static enum dc_err amount_op(struct dc_amount *out, struct dc_amount a, struct dc_amount b,
                             int is_sub)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    *out = POISON;
    if (a.currency != b.currency) return DC_ERR_CURRENCY_MISMATCH;
    if (!numeric_ok(a.currency)) return DC_ERR_CURRENCY_INVALID;
    int64_t v;
    enum dc_err e = is_sub ? dc_i64_sub(&v, a.minor, b.minor) : dc_i64_add(&v, a.minor, b.minor);
    if (e != DC_OK) return e;
    out->minor = v;
    out->currency = a.currency;
    return DC_OK;
}

enum dc_err dc_amount_add(struct dc_amount *out, struct dc_amount a, struct dc_amount b)
{
    return amount_op(out, a, b, 0);
}

enum dc_err dc_amount_sub(struct dc_amount *out, struct dc_amount a, struct dc_amount b)
{
    return amount_op(out, a, b, 1);
}

/* ---------------------------------------------------------------------------
 * Decimal text
 */

/* *mag = *mag * 10 + digit if the result stays <= limit; 0 (and *mag untouched) if not. */
static int push_digit(uint64_t *mag, unsigned digit, uint64_t limit)
{
    if (*mag > (limit - digit) / 10) return 0;
    *mag = *mag * 10 + digit;
    return 1;
}

enum dc_err dc_amount_parse(struct dc_amount *out, const struct dc_currency *cur, const char *text,
                            size_t len, int allow_negative)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    *out = POISON;
    if (!cur || (!text && len > 0)) return DC_ERR_INVALID_ARGUMENT;
    if (!currency_ok(cur)) return DC_ERR_CURRENCY_INVALID;

    /* Pass 1, grammar: ["-"] ("0" | [1-9][0-9]*) ["." [0-9]+], the whole text. */
    size_t i = 0;
    int neg = 0;
    if (i < len && text[i] == '-') {
        neg = 1;
        i++;
    }
    const size_t int_start = i;
    while (i < len && is_digit(text[i])) i++;
    const size_t int_end = i;
    if (int_end == int_start) return DC_ERR_AMOUNT_SYNTAX;
    if (int_end - int_start > 1 && text[int_start] == '0') return DC_ERR_AMOUNT_SYNTAX;
    size_t frac_start = i, frac_end = i;
    if (i < len && text[i] == '.') {
        frac_start = ++i;
        while (i < len && is_digit(text[i])) i++;
        frac_end = i;
        if (frac_end == frac_start) return DC_ERR_AMOUNT_SYNTAX;
    }
    if (i != len) return DC_ERR_AMOUNT_SYNTAX;

    /* Then sign, precision and range, in that order. */
    if (neg && !allow_negative) return DC_ERR_AMOUNT_NEGATIVE;
    const size_t exponent = cur->exponent;
    const size_t n_frac = frac_end - frac_start;
    if (n_frac > exponent) return DC_ERR_AMOUNT_PRECISION;

    /* Pass 2, value: the magnitude in minor units, at most 2^63 when negative. */
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    for (size_t k = int_start; k < int_end; k++) {
        if (!push_digit(&mag, (unsigned)(text[k] - '0'), limit)) return DC_ERR_AMOUNT_OVERFLOW;
    }
    for (size_t k = frac_start; k < frac_end; k++) {
        if (!push_digit(&mag, (unsigned)(text[k] - '0'), limit)) return DC_ERR_AMOUNT_OVERFLOW;
    }
    for (size_t k = n_frac; k < exponent; k++) {
        if (!push_digit(&mag, 0, limit)) return DC_ERR_AMOUNT_OVERFLOW;
    }

    /* -(mag - 1) - 1 negates 2^63 to INT64_MIN without an int64 overflow. */
    out->minor = !neg ? (int64_t)mag : mag == 0 ? 0 : -(int64_t)(mag - 1) - 1;
    out->currency = cur->numeric;
    return DC_OK;
}

enum dc_err dc_amount_format(char *out, size_t cap, const struct dc_currency *cur,
                             struct dc_amount a)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    if (cap > 0) out[0] = '\0';
    if (!cur) return DC_ERR_INVALID_ARGUMENT;
    if (!currency_ok(cur)) return DC_ERR_CURRENCY_INVALID;
    if (a.currency != cur->numeric) return DC_ERR_CURRENCY_MISMATCH;

    /* Magnitude as uint64_t; -(minor + 1) + 1 also holds INT64_MIN's 2^63. */
    const int neg = a.minor < 0;
    uint64_t mag = neg ? (uint64_t)(-(a.minor + 1)) + 1u : (uint64_t)a.minor;
    char digits[20]; /* least significant first; 2^63 has 19 digits */
    size_t n_dig = 0;
    do {
        digits[n_dig++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag > 0);

    const size_t exponent = cur->exponent;
    const size_t width = n_dig > exponent ? n_dig : exponent + 1; /* at least "0.xx" */
    const size_t need = (size_t)neg + width + (exponent > 0) + 1;
    if (need > cap) return DC_ERR_BUFFER_TOO_SMALL;

    size_t o = 0;
    if (neg) out[o++] = '-';
    for (size_t k = width; k > 0; k--) { /* k - 1 is the digit's power of ten */
        out[o++] = k - 1 < n_dig ? digits[k - 1] : '0';
        if (k - 1 == exponent && exponent > 0) out[o++] = '.';
    }
    out[o] = '\0';
    return DC_OK;
}

/* ---------------------------------------------------------------------------
 * Denominations
 */

static void denoms_poison(struct dc_denoms *d)
{
    memset(d, 0, sizeof *d);
}

/* The cheap invariants: count, positive base, strictly ascending, multiples of base. */
static int denoms_shape_ok(const struct dc_denoms *d)
{
    if (d->n < 1 || d->n > DC_DENOMS_MAX || d->v[0] <= 0) return 0;
    for (size_t k = 1; k < d->n; k++) {
        if (d->v[k] <= d->v[k - 1] || d->v[k] % d->v[0] != 0) return 0;
    }
    return 1;
}

/* Number of coins the greedy algorithm uses for x over c[0..n) (descending). */
static uint64_t greedy_count(const uint64_t *c, size_t n, uint64_t x)
{
    uint64_t count = 0;
    for (size_t k = 0; k < n; k++) {
        count += x / c[k];
        x %= c[k];
    }
    return count;
}

/* Pearson's test (see the file header); c[0..n) descending with c[n-1] == 1. */
static int is_canonical(const uint64_t *c, size_t n)
{
    uint64_t g[DC_DENOMS_MAX];
    for (size_t i = 1; i < n; i++) {
        /* g = greedy representation of c[i-1] - 1; g[0..i) are 0. */
        uint64_t x = c[i - 1] - 1;
        for (size_t k = 0; k < n; k++) {
            g[k] = x / c[k];
            x %= c[k];
        }
        uint64_t w = 0, m = 0; /* value and coin count of g[i..j) */
        for (size_t j = i; j < n; j++) {
            /* Candidate M = g[0..j), g[j] + 1, zeros; its value is < c[i-1] + c[j]. */
            const uint64_t cand_w = w + (g[j] + 1) * c[j];
            const uint64_t cand_m = m + g[j] + 1;
            if (greedy_count(c, n, cand_w) > cand_m) return 0;
            w += g[j] * c[j];
            m += g[j];
        }
    }
    return 1;
}

enum dc_err dc_denoms_validate(const struct dc_denoms *d)
{
    if (!d) return DC_ERR_INVALID_ARGUMENT;
    if (!denoms_shape_ok(d)) return DC_ERR_DENOM_INVALID;
    uint64_t c[DC_DENOMS_MAX];
    for (size_t k = 0; k < d->n; k++) c[k] = (uint64_t)(d->v[d->n - 1 - k] / d->v[0]);
    return is_canonical(c, d->n) ? DC_OK : DC_ERR_DENOM_NOT_CANONICAL;
}

enum dc_err dc_denoms_series125(struct dc_denoms *out, int64_t base, int64_t max)
{
    static const int64_t mult[3] = {1, 2, 5};
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    denoms_poison(out);
    if (base <= 0 || max < base) return DC_ERR_DENOM_INVALID;
    struct dc_denoms d;
    denoms_poison(&d);
    int64_t decade = base;
    int more = 1;
    while (more) {
        for (size_t k = 0; k < 3 && more; k++) {
            if (decade > max / mult[k]) {
                more = 0; /* decade * mult[k] > max */
            } else if (d.n == DC_DENOMS_MAX) {
                return DC_ERR_DENOM_INVALID;
            } else {
                d.v[d.n++] = decade * mult[k];
            }
        }
        /* A decade beyond int64 is beyond max too. */
        if (more && decade > INT64_MAX / 10) more = 0;
        if (more) decade *= 10;
    }
    enum dc_err e = dc_denoms_validate(&d);
    if (e != DC_OK) return e;
    *out = d;
    return DC_OK;
}

enum dc_err dc_denoms_parse(struct dc_denoms *out, const struct dc_currency *cur, const char *text,
                            size_t len)
{
    if (!out) return DC_ERR_INVALID_ARGUMENT;
    denoms_poison(out);
    if (!cur || (!text && len > 0)) return DC_ERR_INVALID_ARGUMENT;
    if (!currency_ok(cur)) return DC_ERR_CURRENCY_INVALID;
    if (len == 0) return DC_ERR_AMOUNT_SYNTAX;
    struct dc_denoms d;
    denoms_poison(&d);
    size_t start = 0;
    for (;;) {
        size_t end = start;
        while (end < len && text[end] != ',') end++;
        if (d.n == DC_DENOMS_MAX) return DC_ERR_DENOM_INVALID;
        struct dc_amount a;
        enum dc_err e = dc_amount_parse(&a, cur, text + start, end - start, 0);
        if (e != DC_OK) return e;
        d.v[d.n++] = a.minor;
        if (end == len) break;
        start = end + 1; /* a trailing comma leaves an empty last element: syntax */
    }
    enum dc_err e = dc_denoms_validate(&d);
    if (e != DC_OK) return e;
    *out = d;
    return DC_OK;
}

/* Zeroes a failed decomposition's coins so stale values cannot be mistaken for coins. */
static enum dc_err decompose_fail(int64_t *out, size_t cap, enum dc_err e)
{
    for (size_t k = 0; out && k < cap; k++) out[k] = 0;
    return e;
}

enum dc_err dc_denoms_decompose(int64_t *out, size_t cap, size_t *n_out, const struct dc_denoms *d,
                                int64_t amount)
{
    if (n_out) *n_out = 0;
    if (!n_out || !d || (!out && cap > 0)) return decompose_fail(out, cap, DC_ERR_INVALID_ARGUMENT);
    enum dc_err e = dc_denoms_validate(d);
    if (e != DC_OK) return decompose_fail(out, cap, e);
    if (amount <= 0) return decompose_fail(out, cap, DC_ERR_AMOUNT_ZERO);
    if (amount % d->v[0] != 0) return decompose_fail(out, cap, DC_ERR_DENOM_UNREACHABLE);

    uint64_t count = 0; /* <= amount / v[0], so no overflow */
    int64_t x = amount;
    for (size_t k = d->n; k > 0; k--) {
        count += (uint64_t)(x / d->v[k - 1]);
        x %= d->v[k - 1];
    }
    if (count > cap) {
        *n_out = count > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)count;
        return decompose_fail(out, cap, DC_ERR_BUFFER_TOO_SMALL);
    }
    size_t o = 0;
    x = amount;
    for (size_t k = d->n; k > 0; k--) {
        while (x >= d->v[k - 1]) {
            out[o++] = d->v[k - 1];
            x -= d->v[k - 1];
        }
    }
    *n_out = o;
    return DC_OK;
}

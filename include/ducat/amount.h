/*
 * ducat/amount.h - money as integer minor units, and denomination sets.
 *
 * An amount is an int64 count of minor units (cents, fen) in one currency.
 * There is no floating point anywhere. Every operation checks for overflow
 * *before* computing and, on failure, poisons its output (minor = 0,
 * currency = 0) so a forgotten check cannot leak a half-computed value.
 * Currency 0 is never valid, so a poisoned amount is refused again by every
 * later add, sub or format. Every function returns DC_ERR_INVALID_ARGUMENT
 * for a NULL pointer it needs.
 * THREAD SAFETY: all functions are pure and reentrant.
 */
#ifndef DUCAT_AMOUNT_H
#define DUCAT_AMOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest exponent (digits after the decimal point) a currency may have. */
#define DC_CURRENCY_EXPONENT_MAX 8
/* Longest text an amount formats to: sign, 19 digits, point, NUL, margin. */
#define DC_AMOUNT_STR_MAX 32

/* A deployment's currency: ISO 4217 alphabetic code, numeric code, exponent. */
struct dc_currency {
    char code[4];     /* "CNY", NUL-terminated, 3 upper-case ASCII letters */
    uint32_t numeric; /* ISO 4217 numeric code (156 for CNY); the wire identity */
    uint8_t exponent; /* minor units per major unit = 10^exponent; 0..8 */
};

struct dc_amount {
    int64_t minor;     /* value in minor units; may be negative only as a delta */
    uint32_t currency; /* ISO 4217 numeric code */
};

/* Fills *out with a currency after validating code (exactly 3 letters A-Z),
 * numeric (1..999) and exponent (0..DC_CURRENCY_EXPONENT_MAX); otherwise
 * DC_ERR_CURRENCY_INVALID and *out is zeroed. Functions below that take a
 * struct dc_currency refuse one this function would not have produced with
 * DC_ERR_CURRENCY_INVALID. */
DC_MUST_CHECK enum dc_err dc_currency_init(struct dc_currency *out, const char *code,
                                           uint32_t numeric, unsigned exponent);

/* out = a + b; DC_ERR_CURRENCY_MISMATCH if a.currency != b.currency,
 * DC_ERR_CURRENCY_INVALID if the shared currency is not 1..999 (e.g. a
 * poisoned amount), DC_ERR_AMOUNT_OVERFLOW if the sum leaves int64. */
DC_MUST_CHECK enum dc_err dc_amount_add(struct dc_amount *out, struct dc_amount a,
                                        struct dc_amount b);
/* out = a - b; same errors. */
DC_MUST_CHECK enum dc_err dc_amount_sub(struct dc_amount *out, struct dc_amount a,
                                        struct dc_amount b);
/* The one checked arithmetic for money: every int64 sum of minor units in
 * the tree goes through these (tests/layers.py fails on a hand-written
 * overflow test elsewhere). DC_ERR_AMOUNT_OVERFLOW (and *out = 0) if the
 * exact result is outside INT64_MIN..INT64_MAX; checked before computing. */
DC_MUST_CHECK enum dc_err dc_i64_add(int64_t *out, int64_t a, int64_t b);
DC_MUST_CHECK enum dc_err dc_i64_sub(int64_t *out, int64_t a, int64_t b);
DC_MUST_CHECK enum dc_err dc_i64_mul(int64_t *out, int64_t a, int64_t b);

/*
 * Parses a decimal string such as "12.34", "12", "0.5" or "-3.10" exactly.
 * The whole of text[0..len) must match (the text need not be NUL-terminated;
 * text may be NULL only if len == 0):
 *
 *     ["-"] ("0" | [1-9][0-9]*) ["." [0-9]+]
 *
 * so there is at least one digit before the point, no superfluous leading
 * zero ("007", "00.5" are refused; "0" and "0.5" are fine), and a point is
 * followed by at least one digit. Fewer decimals than cur->exponent are
 * fine ("1.5" at exponent 2 is 150 minor units); more are refused even when
 * they are zeros ("1.50" at exponent 1), so no digit is ever dropped.
 * "-0", "-0.00" are accepted only if allow_negative and give 0.
 * Errors, checked in this order: DC_ERR_AMOUNT_SYNTAX (empty text, '+',
 * spaces, embedded NUL, leading or trailing garbage, "1.", ".5", "1e3",
 * "0x10", "1,5", "--1", leading zeros), DC_ERR_AMOUNT_NEGATIVE ('-' when not
 * allow_negative), DC_ERR_AMOUNT_PRECISION (more decimals than
 * cur->exponent), DC_ERR_AMOUNT_OVERFLOW (minor units outside int64;
 * exactly INT64_MIN parses, e.g. "-92233720368547758.08" at exponent 2).
 */
DC_MUST_CHECK enum dc_err dc_amount_parse(struct dc_amount *out, const struct dc_currency *cur,
                                          const char *text, size_t len, int allow_negative);

/* Formats with exactly cur->exponent decimals ("12.30", "-0.05", "7" at
 * exponent 0), NUL-terminated, in the canonical form dc_amount_parse accepts
 * (never "-0"). Returns DC_ERR_BUFFER_TOO_SMALL if cap is too small
 * (DC_AMOUNT_STR_MAX always suffices), DC_ERR_CURRENCY_MISMATCH if
 * a.currency != cur->numeric. On failure out[0] = '\0' if cap > 0. */
DC_MUST_CHECK enum dc_err dc_amount_format(char *out, size_t cap, const struct dc_currency *cur,
                                           struct dc_amount a);

/* ---- Denominations ---------------------------------------------------- */

#define DC_DENOMS_MAX 32

/* A set of coin values in minor units, strictly ascending; v[0] is the base unit. */
struct dc_denoms {
    int64_t v[DC_DENOMS_MAX];
    size_t n;
};

/*
 * Validates a set: 1..DC_DENOMS_MAX values, all positive, strictly ascending,
 * each a multiple of v[0] (the base unit), otherwise DC_ERR_DENOM_INVALID;
 * and canonical, i.e. the greedy decomposition is always the fewest coins,
 * otherwise DC_ERR_DENOM_NOT_CANONICAL because withdrawals must be minimal.
 * Canonicity is decided exactly by Pearson's O(n^3) test (2005; see
 * amount.c), which needs no table, for any values up to INT64_MAX. Costs a
 * few microseconds for the default series, about 25 us for 32 values.
 */
DC_MUST_CHECK enum dc_err dc_denoms_validate(const struct dc_denoms *d);

/* Builds the 1-2-5 series from `base` up to and including values <= `max`
 * (base=1, max=50000: 1 2 5 10 20 50 ... 20000 50000). DC_ERR_DENOM_INVALID
 * (and *out zeroed) if base <= 0, max < base, or the series would have more
 * than DC_DENOMS_MAX values. */
DC_MUST_CHECK enum dc_err dc_denoms_series125(struct dc_denoms *out, int64_t base, int64_t max);

/*
 * Parses a comma-separated list of decimal amounts in the currency
 * ("0.01,0.02,0.05,1,2") into minor units, sorts nothing (must already be
 * ascending) and validates the result. Strict: no spaces anywhere, no empty
 * element (",1", "1,,2", "1," and "" are DC_ERR_AMOUNT_SYNTAX); each element
 * follows dc_amount_parse without '-' and its errors are returned as is;
 * then the errors of dc_denoms_validate (a 0 element or more than
 * DC_DENOMS_MAX elements is DC_ERR_DENOM_INVALID). *out is zeroed on failure.
 */
DC_MUST_CHECK enum dc_err dc_denoms_parse(struct dc_denoms *out, const struct dc_currency *cur,
                                          const char *text, size_t len);

/*
 * Decomposes `amount` (> 0) into the fewest coins: out[0..*n_out) receives the
 * coin values, largest first (the greedy decomposition). d is checked with
 * dc_denoms_validate first and its errors returned, so the result is minimal
 * whatever the caller built. DC_ERR_AMOUNT_ZERO if amount <= 0,
 * DC_ERR_DENOM_UNREACHABLE if amount is not a multiple of the base unit,
 * DC_ERR_BUFFER_TOO_SMALL if more than `cap` coins would be needed (then
 * *n_out holds the count needed, so cap = 0 with out = NULL asks for the
 * count). On any failure out[0..cap) is zeroed and *n_out is 0 (except
 * for DC_ERR_BUFFER_TOO_SMALL).
 */
DC_MUST_CHECK enum dc_err dc_denoms_decompose(int64_t *out, size_t cap, size_t *n_out,
                                              const struct dc_denoms *d, int64_t amount);

#ifdef __cplusplus
}
#endif
#endif

/*
 * fuzz_amount.c - libFuzzer target for amounts and denomination sets.
 *
 * Every input is used three ways, and any violated property abort()s:
 *  1. as amount text, parsed at several exponents with and without '-':
 *     success must format back to the same text in full form (padded to the
 *     exponent, "-0" as "0"), and that text must parse to the same value;
 *     failure must be one of the documented errors with a poisoned output;
 *     allow_negative may only widen what parses.
 *  2. as a comma-separated denomination list: success must validate,
 *     format and re-parse to the same set, and decompose exactly.
 *  3. as the increments of a small denomination set, whose dc_denoms_validate
 *     verdict is compared with a brute-force fewest-coins table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static struct dc_currency currency(unsigned exponent)
{
    struct dc_currency c;
    CHECK(dc_currency_init(&c, "CNY", 156, exponent) == DC_OK);
    return c;
}

static int is_parse_error(enum dc_err e)
{
    return e == DC_ERR_AMOUNT_SYNTAX || e == DC_ERR_AMOUNT_NEGATIVE ||
           e == DC_ERR_AMOUNT_PRECISION || e == DC_ERR_AMOUNT_OVERFLOW;
}

/* The full form of accepted text: "-0..." loses its sign, decimals are padded. */
static size_t full_form(char *out, size_t cap, const char *text, size_t len, unsigned exponent,
                        int64_t value)
{
    size_t o = 0, i = 0;
    if (value == 0 && len > 0 && text[0] == '-') i = 1;
    int has_point = 0;
    size_t n_frac = 0;
    for (; i < len && o < cap; i++) {
        out[o++] = text[i];
        if (has_point) n_frac++;
        if (text[i] == '.') has_point = 1;
    }
    if (exponent > 0 && !has_point && o < cap) out[o++] = '.';
    for (; n_frac < exponent && o < cap; n_frac++) out[o++] = '0';
    return o;
}

static void amount_text(const char *text, size_t len)
{
    static const unsigned exponents[] = {0, 1, 2, 3, 8};
    for (size_t x = 0; x < sizeof exponents / sizeof exponents[0]; x++) {
        const unsigned exponent = exponents[x];
        const struct dc_currency cur = currency(exponent);
        struct dc_amount got[2];
        enum dc_err err[2];
        for (int neg = 0; neg < 2; neg++) {
            struct dc_amount a = {.minor = 1, .currency = 1};
            const enum dc_err e = dc_amount_parse(&a, &cur, text, len, neg);
            got[neg] = a;
            err[neg] = e;
            if (e != DC_OK) {
                CHECK(is_parse_error(e));
                CHECK(a.minor == 0 && a.currency == 0);
                continue;
            }
            CHECK(a.currency == cur.numeric);
            CHECK(neg || a.minor >= 0);
            char buf[DC_AMOUNT_STR_MAX];
            CHECK(dc_amount_format(buf, sizeof buf, &cur, a) == DC_OK);
            const size_t n = strlen(buf);
            char want[DC_AMOUNT_STR_MAX + 1];
            CHECK(len <= DC_AMOUNT_STR_MAX); /* accepted text is at most 29 bytes */
            const size_t want_len = full_form(want, sizeof want, text, len, exponent, a.minor);
            CHECK(want_len == n && memcmp(want, buf, n) == 0);
            struct dc_amount back;
            CHECK(dc_amount_parse(&back, &cur, buf, n, 1) == DC_OK);
            CHECK(back.minor == a.minor && back.currency == a.currency);
        }
        /* allowing '-' changes only the verdict on negative text */
        if (err[0] == DC_OK) {
            CHECK(err[1] == DC_OK && got[1].minor == got[0].minor);
        } else if (err[0] != DC_ERR_AMOUNT_NEGATIVE) {
            CHECK(err[1] == err[0]);
        } else {
            CHECK(err[1] != DC_ERR_AMOUNT_NEGATIVE && err[1] != DC_ERR_AMOUNT_SYNTAX);
        }
    }
}

static void denoms_text(const char *text, size_t len)
{
    static const unsigned exponents[] = {0, 2};
    for (size_t x = 0; x < sizeof exponents / sizeof exponents[0]; x++) {
        const struct dc_currency cur = currency(exponents[x]);
        struct dc_denoms d;
        const enum dc_err e = dc_denoms_parse(&d, &cur, text, len);
        if (e != DC_OK) {
            CHECK(is_parse_error(e) || e == DC_ERR_DENOM_INVALID ||
                  e == DC_ERR_DENOM_NOT_CANONICAL);
            CHECK(d.n == 0 && d.v[0] == 0);
            continue;
        }
        CHECK(dc_denoms_validate(&d) == DC_OK);
        /* format every value, join with commas, parse again: the same set */
        char list[DC_DENOMS_MAX * (DC_AMOUNT_STR_MAX + 1)];
        size_t o = 0;
        for (size_t k = 0; k < d.n; k++) {
            if (k > 0) list[o++] = ',';
            const struct dc_amount a = {.minor = d.v[k], .currency = cur.numeric};
            CHECK(dc_amount_format(list + o, sizeof list - o, &cur, a) == DC_OK);
            o += strlen(list + o);
        }
        struct dc_denoms again;
        CHECK(dc_denoms_parse(&again, &cur, list, o) == DC_OK);
        CHECK(again.n == d.n && memcmp(again.v, d.v, sizeof d.v) == 0);
        /* decompose a few amounts: exact sums of coins, largest first */
        int64_t coins[64];
        int64_t amounts[3] = {d.v[0], d.v[d.n - 1], 0};
        if (dc_i64_mul(&amounts[2], d.v[0], 7) != DC_OK) amounts[2] = d.v[0];
        for (size_t t = 0; t < sizeof amounts / sizeof amounts[0]; t++) {
            size_t n = 0;
            const enum dc_err de = dc_denoms_decompose(coins, 64, &n, &d, amounts[t]);
            if (de == DC_ERR_BUFFER_TOO_SMALL) {
                CHECK(n > 64);
                continue;
            }
            CHECK(de == DC_OK && n >= 1);
            int64_t sum = 0;
            for (size_t i = 0; i < n; i++) {
                CHECK(i == 0 || coins[i] <= coins[i - 1]);
                CHECK(dc_i64_add(&sum, sum, coins[i]) == DC_OK);
            }
            CHECK(sum == amounts[t]);
        }
    }
}

/* Builds a small set from the bytes and compares validate with brute force. */
static void denoms_bytes(const uint8_t *data, size_t size)
{
    if (size < 2) return;
    struct dc_denoms d;
    memset(&d, 0, sizeof d);
    const int64_t base = 1 + data[0] % 3;
    d.n = 1 + (size - 1 < 10 ? size - 1 : 10);
    d.v[0] = base;
    for (size_t k = 1; k < d.n; k++) d.v[k] = d.v[k - 1] + base * (1 + data[k] % 48);
    const enum dc_err e = dc_denoms_validate(&d);
    CHECK(e == DC_OK || e == DC_ERR_DENOM_NOT_CANONICAL);

    /* fewest coins for every multiple of base up to twice the largest coin */
    enum { MAXU = 2 * (1 + 10 * 48) };
    unsigned best[MAXU + 1];
    const size_t max_u = (size_t)(2 * d.v[d.n - 1] / base);
    CHECK(max_u <= MAXU);
    int canonical = 1;
    best[0] = 0;
    for (size_t u = 1; u <= max_u; u++) {
        unsigned b = UINT32_MAX;
        for (size_t k = 0; k < d.n; k++) {
            const size_t c = (size_t)(d.v[k] / base);
            if (c <= u && best[u - c] + 1 < b) b = best[u - c] + 1;
        }
        best[u] = b;
        unsigned g = 0;
        size_t r = u;
        for (size_t k = d.n; k > 0; k--) {
            g += (unsigned)(r / (size_t)(d.v[k - 1] / base));
            r %= (size_t)(d.v[k - 1] / base);
        }
        if (g != b) canonical = 0;
    }
    CHECK(canonical == (e == DC_OK));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    amount_text(text, size);
    denoms_text(text, size);
    denoms_bytes(data, size);
    return 0;
}

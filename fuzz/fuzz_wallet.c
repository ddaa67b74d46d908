/*
 * fuzz_wallet.c - the wallet's plaintext decoder (dc_wallet_decode_plain) on
 * arbitrary bytes. Properties: decoding never reads out of bounds and never
 * leaks; a decoded wallet re-encodes to exactly the input (one encoding per
 * wallet); every read-only query on a decoded wallet is consistent: the
 * balance adds up, a selection plan only names HELD coins and pays exactly
 * the amount, and a found payment re-encodes coins that decode.
 * (The file layer above it, dc_wallet_open, is not fuzzed: every input
 * would cost an Argon2 run; its header checks are unit-tested byte by byte.)
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/wallet.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_plan(const struct dc_wallet *w, const struct dc_wallet_plan *p, int64_t amount)
{
    int64_t sum = 0;
    if (p->n < 1 || p->n > DC_WALLET_PLAN_MAX || p->amount != amount) abort();
    for (size_t i = 0; i < p->n; i++) {
        struct dc_wallet_coin_info c;
        if (dc_wallet_coin_info(w, p->coin[i], &c) != DC_OK) abort();
        if (c.status != DC_WALLET_HELD || !c.is_ours) abort();
        int64_t v = c.value;
        if (p->has_split && i == p->n - 1) {
            if (p->split_values[0] <= 0 || p->split_values[1] <= 0) abort();
            if (p->split_values[1] >= v || p->split_values[0] != v - p->split_values[1]) abort();
            v = p->split_values[0];
        }
        if (sum > INT64_MAX - v) abort();
        sum += v;
    }
    if (sum != amount) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0) abort();
        ready = 1;
    }
    struct dc_wallet *w = NULL;
    if (dc_wallet_decode_plain(&w, data, size) != DC_OK) {
        if (w) abort(); /* nothing half-built is handed out */
        return 0;
    }
    /* canonical: the same bytes back */
    size_t n = 0;
    if (dc_wallet_encode_plain(w, NULL, 0, &n) != DC_ERR_BUFFER_TOO_SMALL || n != size) abort();
    uint8_t *again = malloc(n);
    if (!again) abort();
    if (dc_wallet_encode_plain(w, again, n, &n) != DC_OK || n != size) abort();
    if (memcmp(again, data, size) != 0) abort();
    sodium_memzero(again, n);
    free(again);

    /* queries */
    struct dc_wallet_balance b;
    if (dc_wallet_balance(w, T0, DAY, &b) == DC_OK) {
        if (b.n_spendable + b.n_refresh > b.n_held) abort();
    }
    struct dc_wallet_params prm;
    if (dc_wallet_params(w, &prm) == DC_OK) {
        struct dc_trust t;
        size_t nr;
        (void)dc_wallet_revoked(w, &nr);
        enum dc_err e = dc_wallet_trust(w, &t, T0); /* a keycert may not check: refused, fine */
        if (e == DC_OK && t.n_revoked_devices != nr) abort();
        static const int64_t amounts[] = {1, 7, 100, 12345};
        for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
            struct dc_wallet_plan plan;
            if (amounts[i] > INT64_MAX / prm.base_unit) break;
            int64_t a = amounts[i] * prm.base_unit;
            if (dc_wallet_select(&plan, w, a, T0, DAY) == DC_OK) check_plan(w, &plan, a);
        }
    }
    for (size_t i = 0; i < dc_wallet_coin_count(w); i++) {
        const uint8_t *bytes;
        size_t len;
        struct dc_coin c;
        if (dc_wallet_coin_bytes(w, i, &bytes, &len) != DC_OK) abort();
        if (dc_coin_decode(&c, bytes, len) != DC_OK) abort();
    }
    dc_wallet_free(w);
    return 0;
}

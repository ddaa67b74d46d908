/*
 * offline.c - the payer's side of an offline payment over a wallet
 * (include/ducat/offline.h): assembling the PAYMENT from a prepared
 * outgoing payment, and matching a RECEIPT to the payment it names; and the
 * payee's: verification under the offline policy, the offline limit, and
 * keeping the coins.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"
#include "ducat/offline.h"

enum dc_err dc_offline_payment_encode(uint8_t *out, size_t cap, size_t *out_len,
                                      const struct dc_wallet_outgoing *o, const uint8_t *request,
                                      size_t request_len)
{
    if (!out_len || !o || !request || o->n == 0 || o->n > DC_PAYMENT_COINS_MAX) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    struct dc_payment p;
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, request, request_len);
    p.n = o->n;
    for (size_t i = 0; i < o->n; i++) {
        p.coin[i] = o->coin[i];
        p.coin_len[i] = o->coin_len[i];
    }
    return dc_payment_encode(out, cap, out_len, &p);
}

enum dc_err dc_offline_pay(struct dc_wallet *w, uint8_t *out, size_t cap, size_t *out_len,
                           int *again, int *has_split, const uint8_t *request, size_t request_len,
                           uint64_t now, uint64_t margin_ms)
{
    struct dc_request r;
    struct dc_wallet_outgoing o;
    if (!w || !out_len || !request) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = dc_request_decode(&r, request, request_len);
    if (e != DC_OK) return e;
    int found = dc_wallet_find_payment(w, &o, r.payee.pub, r.nonce) == DC_OK;
    if (again) *again = found;
    if (has_split) *has_split = 0;
    if (!found) {
        struct dc_wallet_plan plan;
        uint8_t cert[DC_DEVCERT_BYTES];
        e = dc_wallet_select(&plan, w, r.amount, now, margin_ms);
        if (e != DC_OK) return e;
        if (has_split) *has_split = plan.has_split;
        dc_devcert_encode(cert, &r.payee);
        e = dc_wallet_prepare_payment(w, &o, &plan, cert, r.nonce, now);
        if (e != DC_OK) return e;
    }
    return dc_offline_payment_encode(out, cap, out_len, &o, request, request_len);
}

enum dc_err dc_offline_confirm(struct dc_wallet *w, const uint8_t *request, size_t request_len,
                               const uint8_t *receipt, size_t receipt_len)
{
    struct dc_request r;
    struct dc_receipt rc;
    struct dc_wallet_outgoing o;
    uint8_t h[DC_HASH_BYTES], ph[DC_HASH_BYTES];
    if (!w || !request || !receipt) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = dc_receipt_decode(&rc, receipt, receipt_len);
    if (e == DC_OK) e = dc_request_decode(&r, request, request_len);
    if (e != DC_OK) return e;
    dc_request_hash(h, request, request_len);
    if (sodium_memcmp(h, rc.request_hash, DC_HASH_BYTES) != 0) return DC_ERR_RECEIPT_MISMATCH;
    e = dc_receipt_check(&rc, r.payee.pub);
    if (e == DC_OK) e = dc_wallet_find_payment(w, &o, r.payee.pub, r.nonce);
    if (e != DC_OK) return e;
    size_t need = 0, n;
    e = dc_offline_payment_encode(NULL, 0, &need, &o, request, request_len);
    uint8_t *pay = e == DC_ERR_BUFFER_TOO_SMALL ? malloc(need) : NULL;
    if (!pay) return e == DC_ERR_BUFFER_TOO_SMALL ? DC_ERR_NO_MEMORY : e;
    e = dc_offline_payment_encode(pay, need, &n, &o, request, request_len);
    if (e == DC_OK) {
        dc_payment_hash(ph, pay, n);
        if (sodium_memcmp(ph, rc.payment_hash, DC_HASH_BYTES) != 0) e = DC_ERR_RECEIPT_MISMATCH;
    }
    free(pay);
    if (e != DC_OK) return e;
    return dc_wallet_confirm_payment(w, r.payee.pub, r.nonce);
}

/* ---- Payee ------------------------------------------------------------- */

enum dc_err dc_offline_trust(const struct dc_wallet *w, struct dc_trust *t, uint64_t now)
{
    if (!w || !t) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = dc_wallet_trust(w, t, now);
    if (e != DC_OK) return e;
    t->clock_skew_ms = DC_OFFLINE_CLOCK_SKEW_MS;
    t->expiry_grace_ms = 0;
    return DC_OK;
}

enum dc_err dc_offline_within_limit(const struct dc_wallet *w, int64_t amount, uint64_t now,
                                    int64_t *after, int64_t *limit)
{
    uint8_t raw[DC_DEVCERT_BYTES];
    struct dc_devcert dc;
    struct dc_wallet_balance b;
    int64_t sum;
    if (!w) return DC_ERR_INVALID_ARGUMENT;
    if (dc_wallet_devcert(w, raw) != DC_OK || dc_devcert_decode(&dc, raw, sizeof raw) != DC_OK) {
        return DC_ERR_WALLET_NOT_REGISTERED;
    }
    if (dc_wallet_balance(w, now, 0, &b) != DC_OK || dc_i64_add(&sum, b.held, amount) != DC_OK) {
        sum = INT64_MAX; /* more than any limit */
    }
    if (after) *after = sum;
    if (limit) *limit = dc.offline_limit;
    return sum <= dc.offline_limit ? DC_OK : DC_ERR_OFFLINE_LIMIT;
}

enum dc_err dc_offline_accept(struct dc_wallet *w, struct dc_session *s,
                              struct dc_payment_result *res, const struct dc_trust *t, uint64_t now)
{
    if (!w || !s || !res || !t) return DC_ERR_INVALID_ARGUMENT;
    /* split siblings share ancestors: the cache spares re-verifying them */
    uint8_t(*slots)[DC_HASH_BYTES] = calloc(256, DC_HASH_BYTES);
    struct dc_verify_cache cache = {.slots = slots, .cap = slots ? 256 : 0};
    struct dc_payment_check chk = {t, dc_wallet_seen_check, w, slots ? &cache : NULL};
    enum dc_err e = dc_session_payee_verify(s, res, &chk, dc_wallet_device_sk(w), now);
    free(slots);
    if (e == DC_OK) e = dc_offline_within_limit(w, res->total, now, NULL, NULL);
    if (e != DC_OK) return e;
    size_t plen, added = 0;
    const uint8_t *pay = dc_session_payment(s, &plen);
    struct dc_payment p;
    e = dc_payment_decode(&p, NULL, pay, plen);
    if (e == DC_OK) e = dc_wallet_accept_coins(w, p.coin, p.coin_len, p.n, now, &added);
    return e;
}

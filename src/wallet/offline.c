/*
 * offline.c - the payer's side of an offline payment over a wallet
 * (include/ducat/offline.h): assembling the PAYMENT from a prepared
 * outgoing payment, and matching a RECEIPT to the payment it names.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

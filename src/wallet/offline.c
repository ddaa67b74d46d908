/*
 * offline.c - the payer's side of an offline payment over a wallet
 * (include/ducat/offline.h): assembling the PAYMENT from a prepared
 * outgoing payment, and matching a RECEIPT to the payment it names; and the
 * payee's: verification under the offline policy, the offline limit, and
 * keeping the coins.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"
#include "ducat/auth.h"
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

/* ---- Bookkeeping slots --------------------------------------------------- */

#define RX_HEADER 2
#define PY_KEEP_CONFIRMED_MS (24u * 3600u * 1000u)
enum { PY_OPEN = 0, PY_CONFIRMED = 1, PY_REFUSED = 2 };

/* The request's length in a "py:" body, 0 if the body is not sane. */
static size_t py_request_len(const uint8_t *b, size_t bl)
{
    if (bl < 2) return 0;
    if (b[0] == PY_REFUSED) {
        return bl > 1 + DC_REFUSAL_BYTES && bl - 1 - DC_REFUSAL_BYTES <= DC_REQUEST_BYTES
                   ? bl - 1 - DC_REFUSAL_BYTES
                   : 0;
    }
    return b[0] <= PY_CONFIRMED && bl - 1 <= DC_REQUEST_BYTES ? bl - 1 : 0;
}

static void slot_kind(char out[static 40], const char *prefix, const uint8_t hash[DC_HASH_BYTES])
{
    char hex[33];
    dc_hex_encode(hex, hash, 16);
    snprintf(out, 40, "%s%s", prefix, hex);
}

/* Replaces the slot `kind` (absent the first time). */
static enum dc_err slot_put(struct dc_wallet *w, const char *kind, const uint8_t id[DC_HASH_BYTES],
                            const uint8_t *body, size_t len, uint64_t at)
{
    enum dc_err e = dc_wallet_request_done(w, kind);
    (void)e;
    return dc_wallet_request_put(w, kind, id, body, len, at);
}

enum dc_err dc_offline_rx_save(struct dc_wallet *w, const struct dc_session *s, unsigned transport,
                               int done, uint64_t created)
{
    size_t len;
    const uint8_t *req = s ? dc_session_request(s, &len) : NULL;
    if (!w || !req || transport == 0 || transport > 255) return DC_ERR_INVALID_ARGUMENT;
    uint8_t h[DC_HASH_BYTES];
    char kind[40];
    dc_request_hash(h, req, len);
    slot_kind(kind, "rx:", h);
    uint8_t *body = malloc(RX_HEADER + sizeof *s);
    if (!body) return DC_ERR_NO_MEMORY;
    body[0] = (uint8_t)transport;
    body[1] = (uint8_t)(done ? 1 : 0);
    memcpy(body + RX_HEADER, s, sizeof *s);
    enum dc_err e = slot_put(w, kind, h, body, RX_HEADER + sizeof *s, created);
    free(body);
    return e;
}

/* The session in a slot body, checked. */
static enum dc_err rx_body(const uint8_t *b, size_t len, struct dc_session *s)
{
    if (len != RX_HEADER + sizeof *s) return DC_ERR_SESSION_CORRUPT;
    memcpy(s, b + RX_HEADER, sizeof *s);
    return dc_session_check(s);
}

enum dc_err dc_offline_rx_load(const struct dc_wallet *w,
                               const uint8_t request_hash[static DC_HASH_BYTES],
                               struct dc_session *s, unsigned *transport, int *done,
                               uint64_t *created)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t len;
    char kind[40];
    if (!w || !s) return DC_ERR_INVALID_ARGUMENT;
    slot_kind(kind, "rx:", request_hash);
    enum dc_err e = dc_wallet_request_get(w, kind, id, &b, &len, created);
    if (e == DC_OK) e = rx_body(b, len, s);
    if (e != DC_OK) return e;
    if (transport) *transport = b[0];
    if (done) *done = b[1];
    return DC_OK;
}

/* An open session of transport for amount in slot i: *at its time. */
static int rx_open_at(const struct dc_wallet *w, size_t i, int64_t amount, unsigned transport,
                      struct dc_session *s, uint64_t *at)
{
    const char *kind;
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b, *req;
    size_t bl, rl;
    struct dc_request r;
    if (dc_wallet_request_at(w, i, &kind, id, &b, &bl, at) != DC_OK) return 0;
    if (strncmp(kind, "rx:", 3) != 0 || bl != RX_HEADER + sizeof *s || b[0] != transport ||
        b[1] != 0 || rx_body(b, bl, s) != DC_OK || (dc_session_want(s) & DC_SESSION_FAILED)) {
        return 0;
    }
    req = dc_session_request(s, &rl);
    return req && dc_request_decode(&r, req, rl) == DC_OK && r.amount == amount;
}

enum dc_err dc_offline_rx_find_open(const struct dc_wallet *w, int64_t amount, unsigned transport,
                                    uint64_t now, uint64_t window_ms, struct dc_session *s,
                                    uint64_t *created)
{
    uint64_t best = 0, at;
    size_t best_i = SIZE_MAX;
    if (!w || !s) return DC_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < dc_wallet_request_count(w); i++) {
        if (!rx_open_at(w, i, amount, transport, s, &at) || at + window_ms < now) continue;
        if (best_i == SIZE_MAX || at >= best) {
            best = at;
            best_i = i;
        }
    }
    if (best_i == SIZE_MAX || !rx_open_at(w, best_i, amount, transport, s, &at)) {
        return DC_ERR_NOT_FOUND;
    }
    if (created) *created = at;
    return DC_OK;
}

void dc_offline_rx_prune(struct dc_wallet *w, size_t keep)
{
    if (!w) return;
    for (;;) {
        size_t n = 0, oldest_i = 0;
        uint64_t oldest = UINT64_MAX;
        for (size_t i = 0; i < dc_wallet_request_count(w); i++) {
            const char *kind;
            uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
            uint64_t at;
            if (dc_wallet_request_at(w, i, &kind, id, NULL, NULL, &at) != DC_OK) continue;
            if (strncmp(kind, "rx:", 3) != 0) continue;
            n++;
            if (at < oldest) {
                oldest = at;
                oldest_i = i;
            }
        }
        if (n < keep || n == 0) return;
        const char *kind;
        uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
        char copy[DC_WALLET_KIND_MAX + 1];
        if (dc_wallet_request_at(w, oldest_i, &kind, id, NULL, NULL, NULL) != DC_OK) return;
        snprintf(copy, sizeof copy, "%s", kind);
        if (dc_wallet_request_done(w, copy) != DC_OK) return;
    }
}

enum dc_err dc_offline_rx_forget(struct dc_wallet *w,
                                 const uint8_t request_hash[static DC_HASH_BYTES])
{
    char kind[40];
    if (!w) return DC_ERR_INVALID_ARGUMENT;
    slot_kind(kind, "rx:", request_hash);
    return dc_wallet_request_done(w, kind);
}

enum dc_err dc_offline_py_save(struct dc_wallet *w, const uint8_t *request, size_t len,
                               int confirmed, uint64_t now)
{
    if (!w || !request || len == 0 || len > DC_REQUEST_BYTES) return DC_ERR_INVALID_ARGUMENT;
    uint8_t h[DC_HASH_BYTES], body[1 + DC_REQUEST_BYTES];
    char kind[40];
    dc_request_hash(h, request, len);
    slot_kind(kind, "py:", h);
    body[0] = (uint8_t)(confirmed ? 1 : 0);
    memcpy(body + 1, request, len);
    /* forget confirmed payments from earlier days to keep slots free */
    for (size_t i = dc_wallet_request_count(w); i-- > 0;) {
        const char *k;
        uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
        const uint8_t *b;
        size_t bl;
        uint64_t at;
        if (dc_wallet_request_at(w, i, &k, id, &b, &bl, &at) != DC_OK) continue;
        if (strncmp(k, "py:", 3) == 0 && bl && b[0] == 1 && at + PY_KEEP_CONFIRMED_MS < now) {
            char copy[DC_WALLET_KIND_MAX + 1];
            snprintf(copy, sizeof copy, "%s", k);
            if (dc_wallet_request_done(w, copy) != DC_OK) break;
        }
    }
    return slot_put(w, kind, h, body, 1 + len, now);
}

enum dc_err dc_offline_py_load(const struct dc_wallet *w,
                               const uint8_t request_hash[static DC_HASH_BYTES],
                               uint8_t request[static DC_REQUEST_BYTES], size_t *len,
                               int *confirmed)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t bl;
    char kind[40];
    if (!w || !len) return DC_ERR_INVALID_ARGUMENT;
    slot_kind(kind, "py:", request_hash);
    enum dc_err e = dc_wallet_request_get(w, kind, id, &b, &bl, NULL);
    if (e != DC_OK) return e;
    size_t rl = py_request_len(b, bl);
    if (rl == 0) return DC_ERR_WALLET_CORRUPT;
    memcpy(request, b + 1, rl);
    *len = rl;
    if (confirmed) *confirmed = b[0] == 1;
    return DC_OK;
}

enum dc_err dc_offline_py_refusal(const struct dc_wallet *w,
                                  const uint8_t request_hash[static DC_HASH_BYTES],
                                  uint8_t refusal[static DC_REFUSAL_BYTES])
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t bl;
    char kind[40];
    if (!w) return DC_ERR_INVALID_ARGUMENT;
    slot_kind(kind, "py:", request_hash);
    enum dc_err e = dc_wallet_request_get(w, kind, id, &b, &bl, NULL);
    if (e != DC_OK) return e;
    size_t rl = py_request_len(b, bl);
    if (rl == 0) return DC_ERR_WALLET_CORRUPT;
    if (b[0] != PY_REFUSED) return DC_ERR_NOT_FOUND;
    memcpy(refusal, b + 1 + rl, DC_REFUSAL_BYTES);
    return DC_OK;
}

enum dc_err dc_offline_py_at(const struct dc_wallet *w, size_t i,
                             uint8_t request[static DC_REQUEST_BYTES], size_t *len, int *refused)
{
    const char *k;
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t bl;
    if (!w || !len) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = dc_wallet_request_at(w, i, &k, id, &b, &bl, NULL);
    if (e != DC_OK) return e;
    if (strncmp(k, "py:", 3) != 0) return DC_ERR_NOT_FOUND;
    size_t rl = py_request_len(b, bl);
    if (rl == 0) return DC_ERR_WALLET_CORRUPT;
    if (b[0] == PY_CONFIRMED) return DC_ERR_NOT_FOUND;
    memcpy(request, b + 1, rl);
    *len = rl;
    if (refused) *refused = b[0] == PY_REFUSED;
    return DC_OK;
}

enum dc_err dc_offline_py_settle(struct dc_wallet *w, const uint8_t *request, size_t len,
                                 uint64_t now)
{
    return dc_offline_py_save(w, request, len, 1, now);
}

/* ---- Refusals ------------------------------------------------------------ */

int dc_offline_refusable(enum dc_err e)
{
    switch (e) {
    case DC_OK:
    case DC_ERR_OFFLINE_LIMIT:
    case DC_ERR_NO_MEMORY:
    case DC_ERR_INVALID_ARGUMENT:
    case DC_ERR_INTERNAL:
    case DC_ERR_SESSION_STATE:
    case DC_ERR_SESSION_CORRUPT:
    case DC_ERR_WALLET_NOT_SYNCED:
    case DC_ERR_WALLET_NOT_REGISTERED:
    case DC_ERR_WALLET_CORRUPT:
    case DC_ERR_BUFFER_TOO_SMALL:
        return 0;
    default:
        return 1;
    }
}

enum dc_err dc_offline_refuse(const struct dc_wallet *w, const struct dc_session *s,
                              enum dc_err why, uint64_t now, uint8_t out[static DC_REFUSAL_BYTES])
{
    size_t rl, pl;
    if (!w || !s || !dc_offline_refusable(why)) return DC_ERR_INVALID_ARGUMENT;
    const uint8_t *req = dc_session_request(s, &rl);
    const uint8_t *pay = dc_session_payment(s, &pl);
    if (!req || !pay) return DC_ERR_SESSION_STATE;
    struct dc_request r;
    enum dc_err e = dc_request_decode(&r, req, rl);
    if (e != DC_OK) return e;
    const uint8_t *sk = dc_wallet_device_sk(w);
    if (!sk) return DC_ERR_WALLET_NOT_REGISTERED;
    struct dc_refusal f;
    memset(&f, 0, sizeof f);
    dc_request_hash(f.request_hash, req, rl);
    dc_payment_hash(f.payment_hash, pay, pl);
    memcpy(f.nonce, r.nonce, DC_NONCE_BYTES);
    f.reason = (uint16_t)why;
    f.time = now;
    dc_refusal_sign(out, &f, sk);
    return DC_OK;
}

/* The payment this wallet made for `request`, encoded (malloc'd). */
static enum dc_err own_payment(const struct dc_wallet *w, const uint8_t *request, size_t len,
                               const struct dc_request *r, uint8_t **pay, size_t *plen)
{
    struct dc_wallet_outgoing o;
    size_t need = 0;
    *pay = NULL;
    enum dc_err e = dc_wallet_find_payment(w, &o, r->payee.pub, r->nonce);
    if (e != DC_OK) return e;
    e = dc_offline_payment_encode(NULL, 0, &need, &o, request, len);
    if (e != DC_ERR_BUFFER_TOO_SMALL) return e == DC_OK ? DC_ERR_INTERNAL : e;
    *pay = malloc(need);
    if (!*pay) return DC_ERR_NO_MEMORY;
    e = dc_offline_payment_encode(*pay, need, plen, &o, request, len);
    if (e != DC_OK) {
        free(*pay);
        *pay = NULL;
    }
    return e;
}

enum dc_err dc_offline_refused(struct dc_wallet *w, const uint8_t *request, size_t request_len,
                               const uint8_t *refusal, size_t refusal_len, uint64_t now)
{
    struct dc_request r;
    struct dc_refusal f;
    uint8_t h[DC_HASH_BYTES], ph[DC_HASH_BYTES];
    if (!w || !request || !refusal || request_len > DC_REQUEST_BYTES) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    enum dc_err e = dc_refusal_decode(&f, refusal, refusal_len);
    if (e == DC_OK) e = dc_request_decode(&r, request, request_len);
    if (e != DC_OK) return e;
    dc_request_hash(h, request, request_len);
    if (sodium_memcmp(h, f.request_hash, DC_HASH_BYTES) != 0 ||
        sodium_memcmp(r.nonce, f.nonce, DC_NONCE_BYTES) != 0) {
        return DC_ERR_REFUSAL_MISMATCH;
    }
    e = dc_refusal_check(&f, r.payee.pub);
    uint8_t *pay = NULL;
    size_t plen = 0;
    if (e == DC_OK) e = own_payment(w, request, request_len, &r, &pay, &plen);
    if (e != DC_OK) return e;
    dc_payment_hash(ph, pay, plen);
    free(pay);
    if (sodium_memcmp(ph, f.payment_hash, DC_HASH_BYTES) != 0) return DC_ERR_REFUSAL_MISMATCH;
    uint8_t body[1 + DC_REQUEST_BYTES + DC_REFUSAL_BYTES];
    char kind[40];
    slot_kind(kind, "py:", h);
    body[0] = PY_REFUSED;
    memcpy(body + 1, request, request_len);
    memcpy(body + 1 + request_len, refusal, DC_REFUSAL_BYTES);
    return slot_put(w, kind, h, body, 1 + request_len + DC_REFUSAL_BYTES, now);
}

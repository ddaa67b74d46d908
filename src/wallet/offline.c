/*
 * offline.c - an offline payment over a wallet (include/ducat/offline.h).
 * The pieces: assembling the PAYMENT from a prepared outgoing payment,
 * matching a RECEIPT to the payment it names, the payee's verification
 * under the offline policy, the offline limit, keeping the coins, and the
 * bookkeeping slots. Then the host steps built from them, which own the
 * order of each side (check, sign, save, then send; receive, verify, save,
 * then answer), so that a transport only moves bytes.
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

_Static_assert(DC_PAYMENT_COINS_MAX == 16 && DC_PAYMENT_MAX_BYTES == 16384,
               "DC_ERR_PAYMENT_TOO_LARGE's text (errors.def) names these limits");

/* The PAYMENT's size once the plan's coins are signed over: each coin
 * grows by a TRANSFER, the split one also by its SPLIT (the sizes
 * dc_wallet_prepare_payment makes room for). */
static enum dc_err plan_bytes(const struct dc_wallet *w, const struct dc_wallet_plan *plan,
                              size_t *out)
{
    size_t total = DC_PAYMENT_HEADER_BYTES;
    for (size_t i = 0; i < plan->n; i++) {
        const uint8_t *b;
        size_t len;
        enum dc_err e = dc_wallet_coin_bytes(w, plan->coin[i], &b, &len);
        if (e != DC_OK) return e;
        int split = plan->has_split && i == plan->n - 1;
        total += 2 + len + DC_TRANSFER_BYTES + (split ? DC_SPLIT_BYTES(2) + 1 : 0);
    }
    *out = total;
    return DC_OK;
}

/* dc_offline_pay; *bytes (OUT) the size a payment too large would take. */
static enum dc_err pay(struct dc_wallet *w, uint8_t *out, size_t cap, size_t *out_len, int *again,
                       int *has_split, size_t *bytes, const uint8_t *request, size_t request_len,
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
        size_t need = 0;
        e = dc_wallet_select(&plan, w, r.amount, now, margin_ms);
        /* more coins than a payment carries (the only limit select has) */
        if (e == DC_ERR_LIMIT_EXCEEDED) return DC_ERR_PAYMENT_TOO_LARGE;
        if (e == DC_OK) e = plan_bytes(w, &plan, &need);
        if (e != DC_OK) return e;
        if (need > DC_PAYMENT_MAX_BYTES) {
            /* refused before signing: a payment that cannot be sent must
             * not leave coins signed over to the payee */
            if (bytes) *bytes = need;
            return DC_ERR_PAYMENT_TOO_LARGE;
        }
        if (has_split) *has_split = plan.has_split;
        dc_devcert_encode(cert, &r.payee);
        e = dc_wallet_prepare_payment(w, &o, &plan, cert, r.nonce, now);
        if (e != DC_OK) return e;
    }
    return dc_offline_payment_encode(out, cap, out_len, &o, request, request_len);
}

enum dc_err dc_offline_pay(struct dc_wallet *w, uint8_t *out, size_t cap, size_t *out_len,
                           int *again, int *has_split, const uint8_t *request, size_t request_len,
                           uint64_t now, uint64_t margin_ms)
{
    return pay(w, out, cap, out_len, again, has_split, NULL, request, request_len, now, margin_ms);
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
    size_t plen, added = 0;
    const uint8_t *pay = dc_session_payment(s, &plen);
    struct dc_payment p;
    memset(&p, 0, sizeof p);
    if (e == DC_OK) e = dc_payment_decode(&p, NULL, pay, plen);
    /* coins this wallet refused before (its signed refusal let the payer
     * take them back): refused again whatever else changed since - its
     * clock, its revocation list - before the limit is looked at */
    struct dc_coin *c = e == DC_OK ? malloc(sizeof *c) : NULL;
    if (e == DC_OK && !c) e = DC_ERR_NO_MEMORY;
    for (size_t i = 0; e == DC_OK && i < p.n; i++) {
        uint8_t st[DC_HASH_BYTES];
        e = dc_coin_decode(c, p.coin[i], p.coin_len[i]);
        if (e != DC_OK) break;
        dc_coin_state(st, c, c->n);
        if (dc_wallet_refused(w, c->genesis.serial, st)) {
            res->coin = i;
            res->record = c->n;
            e = DC_ERR_PAY_REFUSED_BEFORE;
        }
    }
    free(c);
    if (e == DC_OK) e = dc_offline_within_limit(w, res->total, now, NULL, NULL);
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

/* ---- Hosting an exchange ------------------------------------------------- */

/* A day of validity left on every coin paid: the payee must still be able
 * to deposit it (dc_service.h's DC_SERVICE_REFRESH_MARGIN_MS). */
#define PAY_MARGIN_MS (24u * 3600u * 1000u)
/* This device's certificate must outlive the exchange by this much. */
#define CERT_MARGIN_MS 60000u

static void note_clear(struct dc_offline *o)
{
    memset(&o->note, 0, sizeof o->note);
    o->note.res.coin = DC_PAYMENT_WHOLE;
}

static enum dc_err save(struct dc_offline *o, const char *point)
{
    enum dc_err e = o->save(o->save_ctx, o->w);
    if (e != DC_OK) {
        o->note.saving = 1;
        return e;
    }
    if (o->point) o->point(o->point_ctx, point);
    return DC_OK;
}

static int host_ok(const struct dc_offline *o)
{
    return o && o->w && o->save && o->transport >= 1 && o->transport <= 255;
}

enum dc_err dc_offline_payee_begin(struct dc_offline *o, struct dc_session *s, int64_t amount,
                                   uint32_t currency, unsigned frame_max, uint64_t now,
                                   uint64_t *created)
{
    if (!host_ok(o) || !s || !created) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    struct dc_request r;
    uint8_t raw[DC_DEVCERT_BYTES];
    memset(&r, 0, sizeof r);
    if (dc_wallet_devcert(o->w, raw) != DC_OK ||
        dc_devcert_decode(&r.payee, raw, sizeof raw) != DC_OK) {
        return DC_ERR_WALLET_NOT_REGISTERED;
    }
    if (r.payee.expires_at <= now + CERT_MARGIN_MS) {
        /* payers would refuse it */
        o->note.cert_expires_at = r.payee.expires_at;
        return DC_ERR_CERT_EXPIRED;
    }
    enum dc_err e = dc_offline_within_limit(o->w, amount, now, &o->note.after, &o->note.limit);
    if (e != DC_OK) return e;
    r.amount = amount;
    r.currency = currency;
    randombytes_buf(r.nonce, sizeof r.nonce);
    r.time = now;
    e = dc_session_payee_start(s, &r, dc_wallet_device_sk(o->w), frame_max);
    if (e != DC_OK) return e;
    if (o->transport == DC_OFFLINE_ARMOR) {
        /* the request leaves as armor, not through the session's frames */
        uint8_t sink[DC_FRAME_MAX];
        while (dc_session_pull(s, sink, sizeof sink) > 0) {
        }
    }
    dc_offline_rx_prune(o->w, DC_OFFLINE_RX_KEEP);
    e = dc_offline_rx_save(o->w, s, o->transport, 0, now);
    if (e != DC_OK) return e;
    *created = now;
    return save(o, "request-persisted");
}

enum dc_err dc_offline_payee_resume(struct dc_offline *o, struct dc_session *s, int64_t amount,
                                    uint64_t now, uint64_t *created)
{
    if (!host_ok(o) || !s || !created) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    return dc_offline_rx_find_open(o->w, amount, o->transport, now, DC_OFFLINE_RESUME_WINDOW_MS, s,
                                   created);
}

/* A refused payment ends its request: the slot is forgotten (saved). */
static void payee_forget(struct dc_offline *o, const struct dc_session *s)
{
    size_t rl;
    const uint8_t *req = dc_session_request(s, &rl);
    uint8_t h[DC_HASH_BYTES];
    if (!req) return;
    dc_request_hash(h, req, rl);
    if (dc_offline_rx_forget(o->w, h) == DC_OK) (void)o->save(o->save_ctx, o->w);
}

enum dc_err dc_offline_payee_step(struct dc_offline *o, struct dc_session *s, uint64_t created,
                                  uint64_t now)
{
    if (!host_ok(o) || !s) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    unsigned want = dc_session_want(s);
    if (want & DC_SESSION_NEED_PERSIST) {
        /* restored in the state it was saved in, with its coins */
        return dc_session_persisted(s);
    }
    if (!(want & DC_SESSION_NEED_VERIFY)) return DC_OK;
    struct dc_trust *t = malloc(sizeof *t);
    if (!t) return DC_ERR_NO_MEMORY;
    enum dc_err e = dc_offline_trust(o->w, t, now);
    if (e == DC_OK) {
        o->note.n_revoked = t->n_revoked_devices;
        e = dc_offline_accept(o->w, s, &o->note.res, t, now);
        /* only the verification's verdict is signed as a refusal: not a
         * wrong request, a conflict with a payment accepted before or a
         * failed save, which refuse nothing the payer could take back */
        if (e != DC_OK && dc_offline_refusable(e)) o->note.refused = e;
    }
    free(t);
    if (e == DC_ERR_OFFLINE_LIMIT) {
        /* verified, nothing kept; the request stays open (see the header) */
        enum dc_err again =
            dc_offline_within_limit(o->w, o->note.res.total, now, &o->note.after, &o->note.limit);
        return again == DC_OK ? e : again;
    }
    if (e != DC_OK) {
        /* a link's session that failed ends its request; an armor file
         * may come from anyone, so a bad one changes nothing */
        if ((dc_session_want(s) & DC_SESSION_FAILED) && o->transport != DC_OFFLINE_ARMOR) {
            payee_forget(o, s);
        }
        return e;
    }
    /* the same save holds the coins and the session */
    e = dc_offline_rx_save(o->w, s, o->transport, o->transport == DC_OFFLINE_ARMOR, created);
    if (e == DC_OK) e = save(o, "coins-persisted");
    if (e == DC_OK) e = dc_session_persisted(s);
    return e;
}

enum dc_err dc_offline_payee_take(struct dc_offline *o, struct dc_session *s,
                                  const uint8_t *payment, size_t len, uint64_t now)
{
    if (!host_ok(o) || !s || !payment) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    struct dc_payment p;
    size_t bad = 0;
    enum dc_err e = dc_payment_decode(&p, &bad, payment, len);
    if (e != DC_OK) {
        o->note.res.coin = bad;
        return e;
    }
    uint64_t created = 0;
    if (dc_offline_rx_load(o->w, p.request_hash, s, NULL, NULL, &created) != DC_OK) {
        return DC_ERR_PAY_WRONG_REQUEST;
    }
    size_t have_len, rl;
    const uint8_t *have = dc_session_payment(s, &have_len);
    if (have && dc_session_receipt(s, &rl)) {
        /* accepted before: the same payment gets the same receipt again */
        if (have_len != len || memcmp(have, payment, len) != 0) return DC_ERR_FRAME_CONFLICT;
        o->note.again = 1;
        return DC_OK;
    }
    /* the payment goes in as the frames a link would carry */
    size_t count = dc_frame_count(len, DC_FRAME_MAX);
    for (size_t i = 0; i < count && e == DC_OK; i++) {
        uint8_t fr[DC_FRAME_MAX];
        size_t fl;
        e = dc_frame_encode(fr, sizeof fr, &fl, payment, len, DC_FRAME_MAX, i);
        if (e == DC_OK && dc_session_push(s, fr, fl) != fl) e = dc_session_error(s);
        if (e == DC_OK && (dc_session_want(s) & DC_SESSION_FAILED)) e = dc_session_error(s);
    }
    if (e == DC_OK && !(dc_session_want(s) & DC_SESSION_NEED_VERIFY)) e = DC_ERR_SESSION_STATE;
    if (e != DC_OK) return e;
    e = dc_offline_payee_step(o, s, created, now);
    if (e == DC_OK && !dc_session_receipt(s, &rl)) e = DC_ERR_INTERNAL;
    return e;
}

enum dc_err dc_offline_payee_finish(struct dc_offline *o, const struct dc_session *s,
                                    uint64_t created)
{
    if (!host_ok(o) || !s) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    enum dc_err e = dc_offline_rx_save(o->w, s, o->transport, 1, created);
    return e == DC_OK ? save(o, "request-closed") : e;
}

enum dc_err dc_offline_payer_check(struct dc_offline *o, const uint8_t *request, size_t len,
                                   int64_t max, uint64_t now)
{
    if (!o || !o->w || !request) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    enum dc_err e = dc_request_decode(&o->note.request, request, len);
    if (e != DC_OK) return e;
    struct dc_trust *t = malloc(sizeof *t);
    if (!t) return DC_ERR_NO_MEMORY;
    e = dc_offline_trust(o->w, t, now);
    if (e == DC_OK) {
        o->note.n_revoked = t->n_revoked_devices;
        e = dc_request_verify(&o->note.request, t);
    }
    free(t);
    if (e == DC_OK && max > 0 && o->note.request.amount > max) {
        o->note.max = max;
        e = DC_ERR_LIMIT_EXCEEDED;
    }
    return e;
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

enum dc_err dc_offline_payee_refuse(struct dc_offline *o, const struct dc_session *s,
                                    enum dc_err why, uint64_t now,
                                    uint8_t out[static DC_REFUSAL_BYTES])
{
    if (!host_ok(o) || !s || !out) return DC_ERR_INVALID_ARGUMENT;
    uint8_t f[DC_REFUSAL_BYTES];
    enum dc_err e = dc_offline_refuse(o->w, s, why, now, f);
    size_t pl;
    const uint8_t *pay = dc_session_payment(s, &pl);
    struct dc_payment p;
    if (e == DC_OK) e = dc_payment_decode(&p, NULL, pay, pl);
    /* remembered and saved before the refusal can leave: once the payer
     * holds it she may reclaim the coins, so this wallet must never take
     * them later, whatever its clock or revocation list says then */
    if (e == DC_OK) e = dc_wallet_refuse_coins(o->w, p.coin, p.coin_len, p.n);
    if (e == DC_OK) e = save(o, "refusal-persisted");
    if (e == DC_OK) memcpy(out, f, DC_REFUSAL_BYTES);
    sodium_memzero(f, sizeof f);
    return e;
}

enum dc_err dc_offline_payer_refusal(struct dc_offline *o, const uint8_t *refusal, size_t len,
                                     uint64_t now)
{
    if (!o || !o->w || !o->save || !refusal) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    struct dc_refusal f;
    enum dc_err e = dc_refusal_decode(&f, refusal, len);
    if (e != DC_OK) return e;
    uint8_t req[DC_REQUEST_BYTES];
    size_t rlen;
    if (dc_offline_py_load(o->w, f.request_hash, req, &rlen, NULL) != DC_OK) {
        return DC_ERR_REFUSAL_MISMATCH; /* names no payment made from this wallet */
    }
    e = dc_request_decode(&o->note.request, req, rlen);
    if (e == DC_OK) e = dc_offline_refused(o->w, req, rlen, refusal, len, now);
    if (e != DC_OK) return e;
    o->note.refused = (enum dc_err)f.reason;
    return save(o, "refusal-kept");
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

enum dc_err dc_offline_payer_pay(struct dc_offline *o, uint8_t *out, size_t cap, size_t *out_len,
                                 const uint8_t *request, size_t len, uint64_t now)
{
    if (!o || !o->w || !o->save || !out || !out_len || !request) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    enum dc_err e = dc_request_decode(&o->note.request, request, len);
    if (e != DC_OK) return e;
    /* written to out only once saved: a host can never send unsaved bytes */
    uint8_t *b = malloc(DC_PAYMENT_MAX_BYTES);
    size_t n = 0;
    if (!b) return DC_ERR_NO_MEMORY;
    e = pay(o->w, b, DC_PAYMENT_MAX_BYTES, &n, &o->note.again, &o->note.has_split,
            &o->note.payment_bytes, request, len, now, PAY_MARGIN_MS);
    uint8_t h[DC_HASH_BYTES], copy[DC_REQUEST_BYTES];
    size_t cl;
    dc_request_hash(h, request, len);
    if (e == DC_OK && dc_offline_py_load(o->w, h, copy, &cl, NULL) != DC_OK) {
        e = dc_offline_py_save(o->w, request, len, 0, now);
    }
    if (e == DC_OK) e = save(o, "payment-persisted");
    if (e == DC_OK && cap < n) e = DC_ERR_BUFFER_TOO_SMALL;
    if (e == DC_OK) memcpy(out, b, n);
    *out_len = n;
    free(b);
    return e;
}

enum dc_err dc_offline_payer_step(struct dc_offline *o, struct dc_session *s, int64_t max,
                                  uint64_t now)
{
    if (!o || !s) return DC_ERR_INVALID_ARGUMENT;
    if (!(dc_session_want(s) & DC_SESSION_NEED_COINS)) return DC_OK;
    size_t rl, n;
    const uint8_t *req = dc_session_request(s, &rl);
    enum dc_err e = dc_offline_payer_check(o, req, rl, max, now);
    if (e != DC_OK) return e;
    struct dc_request r = o->note.request;
    uint8_t *b = malloc(DC_PAYMENT_MAX_BYTES);
    if (!b) return DC_ERR_NO_MEMORY;
    e = dc_offline_payer_pay(o, b, DC_PAYMENT_MAX_BYTES, &n, req, rl, now);
    if (e == DC_OK) e = dc_session_payer_pay(s, b, n);
    if (e == DC_OK) e = dc_session_persisted(s);
    o->note.request = r;
    free(b);
    return e;
}

enum dc_err dc_offline_payer_confirm(struct dc_offline *o, const uint8_t *receipt, size_t len,
                                     uint64_t now)
{
    if (!o || !o->w || !o->save || !receipt) return DC_ERR_INVALID_ARGUMENT;
    note_clear(o);
    struct dc_receipt rc;
    enum dc_err e = dc_receipt_decode(&rc, receipt, len);
    if (e != DC_OK) return e;
    uint8_t req[DC_REQUEST_BYTES];
    size_t rlen;
    int confirmed = 0;
    if (dc_offline_py_load(o->w, rc.request_hash, req, &rlen, &confirmed) != DC_OK) {
        return DC_ERR_RECEIPT_MISMATCH; /* names no payment made from this wallet */
    }
    e = dc_request_decode(&o->note.request, req, rlen);
    if (e == DC_OK) e = dc_offline_confirm(o->w, req, rlen, receipt, len);
    if (e == DC_OK && !confirmed) e = dc_offline_py_save(o->w, req, rlen, 1, now);
    if (e != DC_OK) return e;
    o->note.again = confirmed;
    return save(o, "receipt-confirmed");
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

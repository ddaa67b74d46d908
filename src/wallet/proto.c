/*
 * proto.c - the offline payment messages (REQUEST, PAYMENT, RECEIPT), their
 * framing and reassembly, and payee-side payment verification.
 *
 * Byte layouts and the rules are in include/ducat/proto.h (and
 * docs/PROTOCOL.md). Workload: one payment per tap; verification is bound by
 * Ed25519 (two signatures per hop: the record and the new owner's
 * certificate), everything else here is linear scans over a few KB.
 *
 * Pure like the core: no I/O, no allocation, no clock, no RNG. Decoders are
 * strict (one encoding per value) and yield a whole struct or an error.
 */
#include <string.h>

#include "ducat/amount.h"
#include "ducat/codec.h"
#include "ducat/crypto.h"
#include "ducat/proto.h"
#include "ducat/refusal.h"
#include "wallet/proto_int.h"

/* refusal evidence (core, which cannot see this header) carries one payment */
_Static_assert(DC_REFUSAL_EVIDENCE_COINS_MAX == DC_PAYMENT_COINS_MAX, "refusal evidence coins");
_Static_assert(DC_REFUSAL_EVIDENCE_COINS_BYTES == DC_PAYMENT_MAX_BYTES, "refusal evidence bytes");

static const char request_label[] = "ducat/request/v1";
static const char payment_label[] = "ducat/payment/v1";

_Static_assert(DC_REQUEST_BYTES == 228, "request layout");
_Static_assert(DC_RECEIPT_BYTES == 138, "receipt layout");
_Static_assert(DC_REQUEST_BODY_BYTES <= DC_GENESIS_BYTES, "dc_sign takes bodies up to a genesis");
_Static_assert(DC_FRAME_PAYLOAD_MAX == 249, "frame layout");
_Static_assert(DC_COIN_MAX_BYTES + DC_PAYMENT_HEADER_BYTES + 2 <= DC_PAYMENT_MAX_BYTES,
               "the longest coin fits a payment");
_Static_assert(DC_PAYMENT_MAX_BYTES / (DC_FRAME_MIN - DC_FRAME_HEADER_BYTES) < 65535,
               "frame counts fit u16");

size_t dc_msg_max_bytes(uint8_t tag)
{
    switch (tag) {
    case DC_MSG_REQUEST:
        return DC_REQUEST_BYTES;
    case DC_MSG_PAYMENT:
        return DC_PAYMENT_MAX_BYTES;
    case DC_MSG_RECEIPT:
        return DC_RECEIPT_BYTES;
    default:
        return 0;
    }
}

static void label_hash(uint8_t out[static DC_HASH_BYTES], const char *label, const uint8_t *p,
                       size_t len)
{
    struct dc_hash h;
    dc_hash_init(&h, label);
    dc_hash_update(&h, p, len);
    dc_hash_final(&h, out);
}

/* ---- REQUEST ---------------------------------------------------------- */

static void request_body(uint8_t out[static DC_REQUEST_BODY_BYTES], const struct dc_request *r)
{
    struct dc_writer w;
    dc_writer_init(&w, out, DC_REQUEST_BODY_BYTES);
    dc_write_u8(&w, DC_MSG_REQUEST);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_i64(&w, r->amount);
    dc_write_u32(&w, r->currency);
    uint8_t *cert = dc_write_reserve(&w, DC_DEVCERT_BYTES);
    if (cert) dc_devcert_encode(cert, &r->payee);
    dc_write_bytes(&w, r->nonce, DC_NONCE_BYTES);
    dc_write_u64(&w, r->time);
}

enum dc_err dc_request_sign(uint8_t out[static DC_REQUEST_BYTES], struct dc_request *r,
                            const uint8_t payee_sk[static DC_SECKEY_BYTES])
{
    if (r->amount <= 0) return DC_ERR_AMOUNT_ZERO;
    /* libsodium's secret key is seed || public key */
    if (memcmp(payee_sk + DC_SEED_BYTES, r->payee.pub, DC_PUBKEY_BYTES) != 0 ||
        r->payee.offline_limit < 0) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    request_body(out, r);
    dc_sign(r->sig, out, DC_REQUEST_BODY_BYTES, NULL, payee_sk);
    memcpy(out + DC_REQUEST_BODY_BYTES, r->sig, DC_SIG_BYTES);
    return DC_OK;
}

void dc_request_encode(uint8_t out[static DC_REQUEST_BYTES], const struct dc_request *r)
{
    request_body(out, r);
    memcpy(out + DC_REQUEST_BODY_BYTES, r->sig, DC_SIG_BYTES);
}

enum dc_err dc_request_decode(struct dc_request *out, const uint8_t *in, size_t len)
{
    struct dc_reader r;
    struct dc_request q;
    memset(&q, 0, sizeof q);
    dc_reader_init(&r, in, len);
    if (dc_read_u8(&r) != DC_MSG_REQUEST) dc_reader_fail(&r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(&r) != DC_WIRE_VERSION) dc_reader_fail(&r, DC_ERR_DECODE_VERSION);
    q.amount = dc_read_i64(&r);
    q.currency = dc_read_u32(&r);
    const uint8_t *cert = dc_read_bytes(&r, DC_DEVCERT_BYTES);
    if (cert) {
        enum dc_err ce = dc_devcert_decode(&q.payee, cert, DC_DEVCERT_BYTES);
        if (ce != DC_OK) dc_reader_fail(&r, ce);
    }
    dc_read_copy(&r, q.nonce, DC_NONCE_BYTES);
    q.time = dc_read_u64(&r);
    dc_read_copy(&r, q.sig, DC_SIG_BYTES);
    if (q.amount <= 0) dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) {
        memset(out, 0, sizeof *out);
        return e;
    }
    *out = q;
    return DC_OK;
}

enum dc_err dc_request_check(const struct dc_request *r)
{
    uint8_t body[DC_REQUEST_BODY_BYTES];
    request_body(body, r);
    return dc_sign_check(r->sig, body, sizeof body, NULL, r->payee.pub) ? DC_OK
                                                                        : DC_ERR_BAD_SIGNATURE;
}

enum dc_err dc_request_verify(const struct dc_request *r, const struct dc_trust *t)
{
    enum dc_err e = dc_request_check(r);
    if (e != DC_OK) return e;
    const struct dc_trust_key *k = dc_trust_find_key(t, r->payee.key_id);
    if (!k) return DC_ERR_UNKNOWN_KEY;
    int use_time = !(t->flags & DC_VERIFY_IGNORE_TIME);
    if (use_time) {
        if (k->revoked_at != 0 && t->now >= k->revoked_at) return DC_ERR_KEY_REVOKED;
        if (t->now >= k->cert.verify_until) return DC_ERR_KEY_EXPIRED;
    }
    /* The certificate's body is its encoding without the signature. */
    uint8_t cert[DC_DEVCERT_BYTES];
    dc_devcert_encode(cert, &r->payee);
    if (!dc_sign_check(r->payee.sig, cert, DC_DEVCERT_BYTES - DC_SIG_BYTES, NULL, k->cert.pub)) {
        return DC_ERR_CERT_INVALID;
    }
    if (use_time && t->now >= r->payee.expires_at) return DC_ERR_CERT_EXPIRED;
    if ((t->flags & DC_VERIFY_DEVICE_REVOCATION) && dc_trust_device_revoked(t, r->payee.pub)) {
        return DC_ERR_CERT_REVOKED;
    }
    if (r->currency != t->currency) return DC_ERR_CURRENCY_MISMATCH;
    if (t->base_unit <= 0 || r->amount % t->base_unit != 0) return DC_ERR_DENOM_UNREACHABLE;
    return DC_OK;
}

void dc_request_hash(uint8_t out[static DC_HASH_BYTES], const uint8_t *req, size_t len)
{
    label_hash(out, request_label, req, len);
}

/* ---- PAYMENT ---------------------------------------------------------- */

enum dc_err dc_payment_encode(uint8_t *out, size_t cap, size_t *out_len, const struct dc_payment *p)
{
    *out_len = 0;
    if (p->n < 1 || p->n > DC_PAYMENT_COINS_MAX) return DC_ERR_INVALID_ARGUMENT;
    size_t total = DC_PAYMENT_HEADER_BYTES;
    for (size_t i = 0; i < p->n; i++) {
        if (!p->coin[i] || p->coin_len[i] < 1 || p->coin_len[i] > UINT16_MAX) {
            return DC_ERR_INVALID_ARGUMENT;
        }
        total += 2 + p->coin_len[i];
        if (total > DC_PAYMENT_MAX_BYTES) return DC_ERR_MSG_TOO_LARGE;
    }
    *out_len = total;
    if (!out || cap < total) return DC_ERR_BUFFER_TOO_SMALL;
    struct dc_writer w;
    dc_writer_init(&w, out, cap);
    dc_write_u8(&w, DC_MSG_PAYMENT);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_bytes(&w, p->request_hash, DC_HASH_BYTES);
    dc_write_u8(&w, (uint8_t)p->n);
    for (size_t i = 0; i < p->n; i++) {
        uint8_t *q = dc_write_reserve(&w, 2);
        if (q) dc_store16_le(q, (uint16_t)p->coin_len[i]);
        dc_write_bytes(&w, p->coin[i], p->coin_len[i]);
    }
    return DC_OK;
}

/* Decodes the payment structure and checks that every coin decodes, with
 * one scratch coin supplied by the caller (it is 15 KB). */
static enum dc_err payment_read(struct dc_payment *out, size_t *bad, const uint8_t *in, size_t len,
                                struct dc_coin *scratch)
{
    struct dc_reader r;
    *bad = DC_PAYMENT_WHOLE;
    memset(out, 0, sizeof *out);
    if (len > DC_PAYMENT_MAX_BYTES) return DC_ERR_MSG_TOO_LARGE;
    dc_reader_init(&r, in, len);
    if (dc_read_u8(&r) != DC_MSG_PAYMENT) dc_reader_fail(&r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(&r) != DC_WIRE_VERSION) dc_reader_fail(&r, DC_ERR_DECODE_VERSION);
    dc_read_copy(&r, out->request_hash, DC_HASH_BYTES);
    uint8_t n = dc_read_u8(&r);
    if (n < 1 || n > DC_PAYMENT_COINS_MAX) dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
    if (r.err != DC_OK) return r.err;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = dc_read_bytes(&r, 2);
        size_t clen = q ? dc_load16_le(q) : 0;
        const uint8_t *coin = q ? dc_read_bytes(&r, clen) : NULL;
        if (!coin) {
            *bad = i;
            return r.err;
        }
        enum dc_err e = clen ? dc_coin_decode(scratch, coin, clen) : DC_ERR_DECODE_VALUE;
        if (e != DC_OK) {
            *bad = i;
            return e;
        }
        out->coin[i] = coin;
        out->coin_len[i] = clen;
    }
    out->n = n;
    return dc_reader_finish(&r);
}

enum dc_err dc_payment_decode(struct dc_payment *out, size_t *bad_coin, const uint8_t *in,
                              size_t len)
{
    struct dc_coin scratch;
    size_t bad;
    enum dc_err e = payment_read(out, &bad, in, len, &scratch);
    if (e != DC_OK) memset(out, 0, sizeof *out);
    if (bad_coin) *bad_coin = e != DC_OK ? bad : DC_PAYMENT_WHOLE;
    return e;
}

void dc_payment_hash(uint8_t out[static DC_HASH_BYTES], const uint8_t *pay, size_t len)
{
    label_hash(out, payment_label, pay, len);
}

/*
 * Walking two already-decoded coin encodings side by side. A record's size
 * follows from its tag (docs/PROTOCOL.md); inside a coin a split is followed
 * by its part byte.
 */
static void raw_record(const uint8_t *p, size_t *body, size_t *total)
{
    switch (p[0]) {
    case DC_TYPE_TRANSFER:
        *body = DC_TRANSFER_BYTES - DC_SIG_BYTES;
        *total = DC_TRANSFER_BYTES;
        break;
    case DC_TYPE_SPLIT:
        *body = DC_SPLIT_BYTES(p[2]) - DC_SIG_BYTES;
        *total = DC_SPLIT_BYTES(p[2]) + 1;
        break;
    default: /* deposit */
        *body = DC_DEPOSIT_BYTES - DC_SIG_BYTES;
        *total = DC_DEPOSIT_BYTES;
        break;
    }
}

/*
 * Whether coins a and b (same serial) share a state that they do not both
 * leave the same way. DC_ERR_PAY_DUPLICATE_COIN: the chain of one is a
 * prefix of the other's (the same final state twice, or a final state of
 * one consumed in the other); DC_ERR_FORK_DETECTED: one state consumed by
 * records with different bodies (a double spend inside the payment); DC_OK
 * if they share nothing. *at is the record index (0 = genesis) in b.
 * States depend on record bodies only, so two encodings that differ only
 * in signature bytes are the same coin. Siblings of a split (same split
 * body, different part) share nothing after it.
 */
static enum dc_err chains_conflict(const uint8_t *a, const uint8_t *b, size_t *at)
{
    const size_t gbody = DC_GENESIS_BYTES - DC_SIG_BYTES;
    if (memcmp(a + DC_COIN_HEADER_BYTES, b + DC_COIN_HEADER_BYTES, gbody) != 0) return DC_OK;
    size_t na = a[2], nb = b[2];
    size_t pa = DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES, pb = pa;
    for (size_t k = 0;; k++) {
        if (k == na || k == nb) {
            *at = k;
            return DC_ERR_PAY_DUPLICATE_COIN;
        }
        size_t ba, ta, bb, tb;
        raw_record(a + pa, &ba, &ta);
        raw_record(b + pb, &bb, &tb);
        if (ba != bb || memcmp(a + pa, b + pb, ba) != 0) {
            *at = k + 1;
            return DC_ERR_FORK_DETECTED;
        }
        if (a[pa] == DC_TYPE_SPLIT && a[pa + ta - 1] != b[pb + tb - 1]) return DC_OK;
        pa += ta;
        pb += tb;
    }
}

static enum dc_err fail_at(struct dc_payment_result *res, enum dc_err e, size_t coin, size_t record)
{
    res->coin = coin;
    res->record = record;
    return e;
}

enum dc_err dc_payment_verify(struct dc_payment_result *res, const struct dc_payment_check *chk,
                              const uint8_t *request, size_t request_len, const uint8_t *payment,
                              size_t payment_len)
{
    struct dc_request req;
    struct dc_payment pay;
    struct dc_coin coin;
    uint8_t h[DC_HASH_BYTES];
    size_t bad;
    enum dc_err e;

    memset(res, 0, sizeof *res);
    res->coin = DC_PAYMENT_WHOLE;
    if (!chk || !chk->trust) return DC_ERR_INVALID_ARGUMENT;
    const struct dc_trust *t = chk->trust;

    e = dc_request_decode(&req, request, request_len);
    if (e != DC_OK) return e;
    e = payment_read(&pay, &bad, payment, payment_len, &coin);
    if (e != DC_OK) return fail_at(res, e, bad, 0);
    res->n_coins = pay.n;
    dc_request_hash(h, request, request_len);
    if (memcmp(h, pay.request_hash, DC_HASH_BYTES) != 0) return DC_ERR_PAY_WRONG_REQUEST;
    if (req.currency != t->currency) return DC_ERR_CURRENCY_MISMATCH;

    /* 1. every coin, fully, ending with the payee and the payee's nonce */
    const struct dc_verify_opts opts = {req.payee.pub, req.nonce, 0};
    for (size_t i = 0; i < pay.n; i++) {
        struct dc_verify_result vr;
        struct dc_payment_coin_result *cr = &res->coins[i];
        if (dc_coin_decode(&coin, pay.coin[i], pay.coin_len[i]) != DC_OK) {
            return fail_at(res, DC_ERR_INTERNAL, i, 0); /* decoded above */
        }
        e = dc_coin_verify(&vr, t, &coin, &opts, chk->cache);
        res->sigs_checked += vr.sigs_checked;
        if (e != DC_OK) return fail_at(res, e, i, vr.index);
        cr->value = vr.value;
        memcpy(cr->serial, coin.genesis.serial, DC_SERIAL_BYTES);
        memcpy(cr->state, vr.state, DC_HASH_BYTES);
        cr->records = coin.n;
        cr->expired_in_grace = vr.expired_in_grace;
    }

    /* 2. no state twice inside the payment */
    for (size_t j = 1; j < pay.n; j++) {
        for (size_t i = 0; i < j; i++) {
            size_t at;
            if (memcmp(res->coins[i].serial, res->coins[j].serial, DC_SERIAL_BYTES) != 0) continue;
            e = chains_conflict(pay.coin[i], pay.coin[j], &at);
            if (e != DC_OK) return fail_at(res, e, j, at);
        }
    }

    /* 3. the payee's seen-set: every consumed state, with its successor */
    if (chk->seen) {
        for (size_t i = 0; i < pay.n; i++) {
            uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
            e = dc_coin_decode(&coin, pay.coin[i], pay.coin_len[i]);
            if (e != DC_OK) return fail_at(res, DC_ERR_INTERNAL, i, 0); /* decoded above */
            dc_state_genesis(state, coin.genesis_bytes);
            for (size_t k = 0; k < coin.n; k++) {
                dc_coin_successor(succ, &coin, k);
                e = chk->seen(chk->seen_ctx, coin.genesis.serial, state, succ);
                if (e != DC_OK) {
                    /* the callback's "known with another successor" is a
                     * fork seen on the spot, whichever code it used */
                    if (e == DC_ERR_COIN_SPENT) e = DC_ERR_FORK_DETECTED;
                    res->from_seen = 1;
                    return fail_at(res, e, i, k + 1);
                }
                dc_state_next(state, state, &coin.rec[k]);
            }
        }
    }

    /* 4. the amount, exactly, overflow checked before adding */
    int64_t sum = 0;
    for (size_t i = 0; i < pay.n; i++) {
        int64_t v = res->coins[i].value;
        if (dc_i64_add(&sum, sum, v) != DC_OK) return DC_ERR_AMOUNT_OVERFLOW;
    }
    res->total = sum; /* also on a mismatch, so the host can show both */
    return sum == req.amount ? DC_OK : DC_ERR_PAY_AMOUNT;
}

/* ---- RECEIPT ---------------------------------------------------------- */

static void receipt_body(uint8_t out[static DC_RECEIPT_BODY_BYTES], const struct dc_receipt *r)
{
    struct dc_writer w;
    dc_writer_init(&w, out, DC_RECEIPT_BODY_BYTES);
    dc_write_u8(&w, DC_MSG_RECEIPT);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_bytes(&w, r->request_hash, DC_HASH_BYTES);
    dc_write_bytes(&w, r->payment_hash, DC_HASH_BYTES);
    dc_write_u64(&w, r->time);
}

void dc_receipt_sign(uint8_t out[static DC_RECEIPT_BYTES], struct dc_receipt *r,
                     const uint8_t payee_sk[static DC_SECKEY_BYTES])
{
    receipt_body(out, r);
    dc_sign(r->sig, out, DC_RECEIPT_BODY_BYTES, NULL, payee_sk);
    memcpy(out + DC_RECEIPT_BODY_BYTES, r->sig, DC_SIG_BYTES);
}

void dc_receipt_encode(uint8_t out[static DC_RECEIPT_BYTES], const struct dc_receipt *r)
{
    receipt_body(out, r);
    memcpy(out + DC_RECEIPT_BODY_BYTES, r->sig, DC_SIG_BYTES);
}

enum dc_err dc_receipt_decode(struct dc_receipt *out, const uint8_t *in, size_t len)
{
    struct dc_reader r;
    struct dc_receipt q;
    dc_reader_init(&r, in, len);
    if (dc_read_u8(&r) != DC_MSG_RECEIPT) dc_reader_fail(&r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(&r) != DC_WIRE_VERSION) dc_reader_fail(&r, DC_ERR_DECODE_VERSION);
    dc_read_copy(&r, q.request_hash, DC_HASH_BYTES);
    dc_read_copy(&r, q.payment_hash, DC_HASH_BYTES);
    q.time = dc_read_u64(&r);
    dc_read_copy(&r, q.sig, DC_SIG_BYTES);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) {
        memset(out, 0, sizeof *out);
        return e;
    }
    *out = q;
    return DC_OK;
}

enum dc_err dc_receipt_check(const struct dc_receipt *r,
                             const uint8_t payee_pub[static DC_PUBKEY_BYTES])
{
    uint8_t body[DC_RECEIPT_BODY_BYTES];
    receipt_body(body, r);
    return dc_sign_check(r->sig, body, sizeof body, NULL, payee_pub) ? DC_OK : DC_ERR_BAD_SIGNATURE;
}

/* ---- Framing ---------------------------------------------------------- */

size_t dc_frame_count(size_t msg_len, size_t frame_max)
{
    if (msg_len == 0 || frame_max < DC_FRAME_MIN || frame_max > DC_FRAME_MAX) return 0;
    size_t p = frame_max - DC_FRAME_HEADER_BYTES;
    return (msg_len + p - 1) / p;
}

size_t dc_frame_build(uint8_t out[static DC_FRAME_MAX], const uint8_t *msg, size_t msg_len,
                      size_t payload_max, size_t index)
{
    size_t count = (msg_len + payload_max - 1) / payload_max;
    size_t off = index * payload_max;
    size_t n = msg_len - off < payload_max ? msg_len - off : payload_max;
    out[0] = msg[0];
    dc_store16_le(out + 1, (uint16_t)index);
    dc_store16_le(out + 3, (uint16_t)count);
    out[5] = (uint8_t)n;
    memcpy(out + DC_FRAME_HEADER_BYTES, msg + off, n);
    return DC_FRAME_HEADER_BYTES + n;
}

enum dc_err dc_frame_encode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *msg,
                            size_t msg_len, size_t frame_max, size_t index)
{
    *out_len = 0;
    size_t count = dc_frame_count(msg_len, frame_max);
    if (count == 0 || msg_len > dc_msg_max_bytes(msg[0]) || index >= count) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    size_t p = frame_max - DC_FRAME_HEADER_BYTES;
    size_t off = index * p;
    size_t need = DC_FRAME_HEADER_BYTES + (msg_len - off < p ? msg_len - off : p);
    *out_len = need;
    if (!out || cap < need) return DC_ERR_BUFFER_TOO_SMALL;
    uint8_t frame[DC_FRAME_MAX];
    size_t n = dc_frame_build(frame, msg, msg_len, p, index);
    memcpy(out, frame, n);
    return DC_OK;
}

enum dc_err dc_frame_header_check(const uint8_t h[static DC_FRAME_HEADER_BYTES])
{
    if (dc_msg_max_bytes(h[0]) == 0) return DC_ERR_DECODE_TYPE;
    uint16_t index = dc_load16_le(h + 1), count = dc_load16_le(h + 3);
    if (h[5] < 1 || h[5] > DC_FRAME_PAYLOAD_MAX || count < 1 || index >= count) {
        return DC_ERR_DECODE_VALUE;
    }
    return DC_OK;
}

/* A frame's payload size must be the message's (plen) except for the last
 * frame, which carries at most that. */
static int len_fits(size_t index, size_t count, size_t len, size_t plen)
{
    return index + 1 < count ? len == plen : len <= plen;
}

enum dc_err dc_rx_frame(struct dc_rx *rx, int *event, uint8_t *slot, size_t cap, uint32_t *slot_len,
                        const uint8_t *f, size_t flen)
{
    *event = DC_RX_NONE;
    if (flen < DC_FRAME_HEADER_BYTES) return DC_ERR_DECODE_TRUNCATED;
    enum dc_err e = dc_frame_header_check(f);
    if (e != DC_OK) return e;
    size_t index = dc_load16_le(f + 1), count = dc_load16_le(f + 3), len = f[5];
    if (flen < DC_FRAME_HEADER_BYTES + len) return DC_ERR_DECODE_TRUNCATED;
    if (flen > DC_FRAME_HEADER_BYTES + len) return DC_ERR_DECODE_TRAILING;
    const uint8_t *pl = f + DC_FRAME_HEADER_BYTES;
    if (index == 0 && pl[0] != f[0]) return DC_ERR_DECODE_TYPE;

    if (*slot_len == 0) {
        /* store mode: the message is being received for the first time */
        if (rx->next == 0) {
            if (index != 0) return DC_ERR_FRAME_ORDER;
            if (count == 1 ? len > cap : (count - 1) * len + 1 > cap) {
                return DC_ERR_MSG_TOO_LARGE;
            }
            memcpy(slot, pl, len);
            rx->count = (uint16_t)count;
            rx->plen = (uint16_t)len;
            if (count == 1) {
                rx->next = 0;
                rx->len = 0;
                *slot_len = (uint32_t)len;
                *event = DC_RX_COMPLETE;
            } else {
                rx->next = 1;
                rx->len = (uint32_t)len;
            }
            return DC_OK;
        }
        if (count != rx->count || !len_fits(index, count, len, rx->plen)) {
            return DC_ERR_DECODE_VALUE;
        }
        if (index > rx->next) return DC_ERR_FRAME_ORDER;
        size_t off = index * rx->plen;
        if (off > cap || len > cap - off) return DC_ERR_MSG_TOO_LARGE;
        if (index < rx->next) { /* a re-sent frame */
            return memcmp(slot + off, pl, len) == 0 ? DC_OK : DC_ERR_FRAME_CONFLICT;
        }
        memcpy(slot + off, pl, len);
        rx->len = (uint32_t)(off + len);
        rx->next++;
        if (rx->next == count) {
            *slot_len = rx->len;
            rx->next = 0;
            rx->len = 0;
            *event = DC_RX_COMPLETE;
        }
        return DC_OK;
    }

    /* compare mode: the message is complete; frames must match it */
    size_t total = *slot_len > cap ? cap : *slot_len;
    size_t plen = rx->plen;
    if (index == 0) { /* a new pass, possibly with another frame size */
        if (count == 1 ? len != total : ((count - 1) * len >= total || count * len < total)) {
            return DC_ERR_FRAME_CONFLICT;
        }
        plen = len;
    } else if (count != rx->count) {
        return DC_ERR_FRAME_CONFLICT;
    } else if (!len_fits(index, count, len, plen)) {
        return DC_ERR_DECODE_VALUE;
    }
    size_t off = index * plen;
    if (off > total || len > total - off || (index + 1 == count && off + len != total)) {
        return DC_ERR_FRAME_CONFLICT;
    }
    if (memcmp(slot + off, pl, len) != 0) return DC_ERR_FRAME_CONFLICT;
    if (index == 0) {
        rx->count = (uint16_t)count;
        rx->plen = (uint16_t)len;
        rx->next = 0;
    }
    if (index == rx->next) {
        rx->next++;
        if (rx->next == count) {
            rx->next = 0;
            *event = DC_RX_REPEAT;
        }
    }
    return DC_OK;
}

/* ---- Standalone reassembler ------------------------------------------- */

void dc_reasm_init(struct dc_reasm *r)
{
    memset(&r->rx, 0, sizeof r->rx);
    r->tag = 0;
    r->len = 0;
}

enum dc_err dc_reasm_push(struct dc_reasm *r, int *event, const uint8_t *frame, size_t len)
{
    *event = DC_RX_NONE;
    if (len < 1) return DC_ERR_DECODE_TRUNCATED;
    if (r->tag != 0 && frame[0] != r->tag) return DC_ERR_MSG_UNEXPECTED;
    size_t cap = dc_msg_max_bytes(frame[0]);
    if (cap == 0) return DC_ERR_DECODE_TYPE;
    enum dc_err e = dc_rx_frame(&r->rx, event, r->msg, cap, &r->len, frame, len);
    if (e == DC_OK) r->tag = frame[0];
    return e;
}

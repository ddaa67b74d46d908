/*
 * fixture.h - tools/world.h (the deterministic world) plus what only
 * white-box tests do: sign hand-made record bodies with any key through the
 * core-private crypto.h, as an attacker or a buggy wallet would.
 */
#ifndef DUCAT_TEST_FIXTURE_H
#define DUCAT_TEST_FIXTURE_H

#include "ducat/codec.h"
#include "ducat/crypto.h"
#include "ducat/refusal.h"
#include "world.h"

/* Appends a hand-made record body signed by any key over the current state
 * of the coin in b (*len bytes, room for the record assumed), then part (a
 * SPLIT part index; -1 for none): how an attacker (or a buggy wallet) builds
 * what the API refuses. Fails only if b does not decode. */
static inline enum dc_err append_raw(uint8_t *b, size_t *len, const uint8_t *body, size_t body_len,
                                     const uint8_t *sk, int part)
{
    struct dc_coin c;
    uint8_t state[DC_HASH_BYTES];
    enum dc_err e = dc_coin_decode(&c, b, *len);
    if (e != DC_OK) return e;
    dc_coin_state(state, &c, c.n);
    memcpy(b + *len, body, body_len);
    dc_sign(b + *len + body_len, body, body_len, state, sk);
    *len += body_len + DC_SIG_BYTES;
    if (part >= 0) b[(*len)++] = (uint8_t)part;
    b[2]++;
    return DC_OK;
}

/*
 * A maximal refused payment: 16 coins of Alice's, each passed to Carol and
 * back once or twice, then to Bob with nonce 0x66, filling a PAYMENT of
 * 16,035 bytes (DC_PAYMENT_MAX_BYTES 16,384: one more round trip would not
 * fit); Bob's refusal of it, and coin 0 passed on by Bob to Carol. A 17th
 * coin (cb[16]) for the tests of the coin-count limit. (2 + len) per coin,
 * len = 244 + 208 * transfers: `total` is 16,000.
 */
#define MAX_REFUSAL_COINS (DC_REFUSAL_EVIDENCE_COINS_MAX + 1)
struct max_refusal {
    uint8_t cb[MAX_REFUSAL_COINS][2048], on[2048], refusal[DC_REFUSAL_BYTES];
    const uint8_t *coin[MAX_REFUSAL_COINS];
    size_t coin_len[MAX_REFUSAL_COINS], on_len, total;
    struct dc_coin c0, on_coin; /* coin 0 decoded, and as Bob passed it on */
};

static inline size_t max_refusal_pay(uint8_t *buf, size_t len, const struct party *from,
                                     const struct party *to, uint8_t nonce_tag)
{
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, nonce_tag);
    if (dc_coin_transfer(buf, 2048, &len, from->sk, to->cert_bytes, nonce) != DC_OK) abort();
    return len;
}

static inline void max_refusal_make(struct world *w, struct max_refusal *m)
{
    m->total = 0;
    for (size_t i = 0; i < MAX_REFUSAL_COINS; i++) {
        size_t len = issue(w, m->cb[i], sizeof m->cb[i], 100, &w->alice, (uint8_t)(0x70 + i), 10);
        for (size_t k = 0; k < (i < 5 ? 2u : 1u); k++) {
            len = max_refusal_pay(m->cb[i], len, &w->alice, &w->carol, 0x01);
            len = max_refusal_pay(m->cb[i], len, &w->carol, &w->alice, 0x02);
        }
        m->coin_len[i] = max_refusal_pay(m->cb[i], len, &w->alice, &w->bob, 0x66);
        m->coin[i] = m->cb[i];
        if (i < DC_REFUSAL_EVIDENCE_COINS_MAX) m->total += 2 + m->coin_len[i];
    }
    struct dc_refusal r;
    memset(&r, 0, sizeof r);
    memset(r.request_hash, 0x6b, DC_HASH_BYTES);
    nonce_of(r.nonce, 0x66);
    r.reason = (uint16_t)DC_ERR_CERT_REVOKED;
    r.time = T0;
    if (dc_refusal_payment_hash(r.payment_hash, r.request_hash, m->coin, m->coin_len,
                                DC_REFUSAL_EVIDENCE_COINS_MAX) != DC_OK)
        abort();
    dc_refusal_sign(m->refusal, &r, w->bob.sk);
    memcpy(m->on, m->cb[0], m->coin_len[0]);
    m->on_len = max_refusal_pay(m->on, m->coin_len[0], &w->bob, &w->carol, 0x44);
    if (dc_coin_decode(&m->c0, m->cb[0], m->coin_len[0]) != DC_OK ||
        dc_coin_decode(&m->on_coin, m->on, m->on_len) != DC_OK)
        abort();
}

/* Its refusal evidence, coin 0 refused and passed on. */
static inline enum dc_err max_refusal_evidence(const struct world *w, const struct max_refusal *m,
                                               uint8_t *out, size_t cap, size_t *len)
{
    return dc_refusal_evidence_build(out, cap, len, &w->trust, m->refusal, m->coin, m->coin_len,
                                     DC_REFUSAL_EVIDENCE_COINS_MAX, 0, &m->c0,
                                     &m->on_coin.rec[m->c0.n]);
}

#endif

/*
 * test_proto.c - the offline payment messages, framing and payee-side
 * verification: round trips, strict decoding (every truncation, trailing
 * bytes, bad tags and versions, bad signatures), each threat of DESIGN.md
 * section 9 that reaches a payee (wrong nonce = replayed transfer, wrong
 * receiver, sum mismatch, duplicate coin, forged coin, revoked or expired
 * payer, a fork in the seen-set or inside one payment), and frames of 255,
 * 32 and 16 bytes for 1-, 5- and 10-hop payments. Prints the payee's CPU
 * cost for a 10-hop coin against raw Ed25519 (lines starting with "# ").
 */
#include <time.h>

#include "ducat/proto.h"
#include "fixture.h"
#include "test.h"

static struct world W;
static uint8_t coin_a[DC_COIN_MAX_BYTES], coin_b[DC_COIN_MAX_BYTES], coin_c[DC_COIN_MAX_BYTES];
static uint8_t req[DC_REQUEST_BYTES];
static uint8_t pay[DC_PAYMENT_MAX_BYTES], pay2[DC_PAYMENT_MAX_BYTES];
static struct dc_request R;
static struct dc_payment_result RES;
static struct dc_reasm RA;

/* ---- Helpers ---------------------------------------------------------- */

static void make_req(int64_t amount, const struct party *payee, uint8_t nonce_tag)
{
    memset(&R, 0, sizeof R);
    R.amount = amount;
    R.currency = CNY;
    R.payee = payee->cert;
    nonce_of(R.nonce, nonce_tag);
    R.time = T0 + 1000;
    ASSERT_OK(dc_request_sign(req, &R, payee->sk));
}

/* A coin of `value` issued to Alice that made `hops` transfers (Alice and
 * Carol in turn), the last to `to` with `nonce_tag`. */
static size_t make_coin(uint8_t *buf, int64_t value, int hops, const struct party *to,
                        uint8_t nonce_tag, uint8_t serial_tag)
{
    const struct party *owner = &W.alice;
    size_t len = issue(&W, buf, DC_COIN_MAX_BYTES, value, owner, serial_tag, 32);
    for (int i = 1; i <= hops; i++) {
        const struct party *next = i == hops ? to : owner == &W.alice ? &W.carol : &W.alice;
        uint8_t n[DC_NONCE_BYTES];
        nonce_of(n, i == hops ? nonce_tag : (uint8_t)(0x80 + i));
        ASSERT_OK(dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, owner->sk, next->cert_bytes, n));
        owner = next;
    }
    return len;
}

static size_t transfer(uint8_t *buf, size_t len, const struct party *from, const struct party *to,
                       uint8_t nonce_tag)
{
    uint8_t n[DC_NONCE_BYTES];
    nonce_of(n, nonce_tag);
    ASSERT_OK(dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, from->sk, to->cert_bytes, n));
    return len;
}

/* Encodes a payment of n coins for the current request into out. */
static size_t make_pay(uint8_t *out, const uint8_t *const *coins, const size_t *lens, size_t n)
{
    struct dc_payment p;
    size_t len;
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, req, sizeof req);
    p.n = n;
    for (size_t i = 0; i < n; i++) {
        p.coin[i] = coins[i];
        p.coin_len[i] = lens[i];
    }
    ASSERT_OK(dc_payment_encode(out, DC_PAYMENT_MAX_BYTES, &len, &p));
    return len;
}

static size_t pay1(uint8_t *out, const uint8_t *c, size_t len)
{
    return make_pay(out, &c, &len, 1);
}

/* A seen-set: what the payee knows, (serial, state) -> successor. */
struct seen_set {
    size_t n;
    enum dc_err fail_with; /* DC_OK, or an error every query returns */
    size_t queries;
    struct {
        uint8_t serial[DC_SERIAL_BYTES], state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    } e[64];
};

static enum dc_err seen_cb(void *ctx, const uint8_t serial[DC_SERIAL_BYTES],
                           const uint8_t state[DC_HASH_BYTES],
                           const uint8_t successor[DC_HASH_BYTES])
{
    struct seen_set *ss = ctx;
    ss->queries++;
    if (ss->fail_with != DC_OK) return ss->fail_with;
    for (size_t i = 0; i < ss->n; i++) {
        if (memcmp(ss->e[i].serial, serial, DC_SERIAL_BYTES) == 0 &&
            memcmp(ss->e[i].state, state, DC_HASH_BYTES) == 0) {
            return memcmp(ss->e[i].succ, successor, DC_HASH_BYTES) == 0 ? DC_OK : DC_ERR_COIN_SPENT;
        }
    }
    return DC_OK;
}

/* Records every state the coin consumes (as a payee's wallet would). */
static void seen_add_coin(struct seen_set *ss, const uint8_t *c, size_t len)
{
    static struct dc_coin dc;
    ASSERT_OK(dc_coin_decode(&dc, c, len));
    for (size_t k = 0; k < dc.n; k++) {
        memcpy(ss->e[ss->n].serial, dc.genesis.serial, DC_SERIAL_BYTES);
        dc_coin_state(ss->e[ss->n].state, &dc, k);
        dc_coin_successor(ss->e[ss->n].succ, &dc, k);
        ss->n++;
    }
}

static enum dc_err verify_with(const uint8_t *p, size_t len, struct seen_set *ss,
                               struct dc_verify_cache *cache)
{
    struct dc_payment_check chk = {&W.trust, ss ? seen_cb : NULL, ss, cache};
    return dc_payment_verify(&RES, &chk, req, sizeof req, p, len);
}

static enum dc_err verify(const uint8_t *p, size_t len)
{
    return verify_with(p, len, NULL, NULL);
}

/* ---- REQUEST ---------------------------------------------------------- */

static void test_request_roundtrip(void)
{
    world_init(&W);
    make_req(500, &W.bob, 0x55);
    struct dc_request d;
    uint8_t again[DC_REQUEST_BYTES];
    ASSERT_OK(dc_request_decode(&d, req, sizeof req));
    ASSERT_EQ(d.amount, 500);
    ASSERT_EQ(d.currency, CNY);
    ASSERT_EQ(d.time, T0 + 1000);
    ASSERT_MEM(d.payee.pub, W.bob.pk, DC_PUBKEY_BYTES);
    ASSERT_MEM(d.nonce, R.nonce, DC_NONCE_BYTES);
    dc_request_encode(again, &d);
    ASSERT_MEM(again, req, sizeof req);
    ASSERT_OK(dc_request_check(&d));
    ASSERT_OK(dc_request_verify(&d, &W.trust));
    /* deterministic: signing again gives the same bytes */
    struct dc_request r2 = R;
    ASSERT_OK(dc_request_sign(again, &r2, W.bob.sk));
    ASSERT_MEM(again, req, sizeof req);
    /* the payee signs with its own key only, and only positive amounts */
    ASSERT_ERR(dc_request_sign(again, &r2, W.alice.sk), DC_ERR_INVALID_ARGUMENT);
    r2.amount = 0;
    ASSERT_ERR(dc_request_sign(again, &r2, W.bob.sk), DC_ERR_AMOUNT_ZERO);
    /* the hash names these exact bytes */
    uint8_t h1[DC_HASH_BYTES], h2[DC_HASH_BYTES];
    dc_request_hash(h1, req, sizeof req);
    make_req(500, &W.bob, 0x56);
    dc_request_hash(h2, req, sizeof req);
    ASSERT(memcmp(h1, h2, DC_HASH_BYTES) != 0);
}

static void test_request_strict(void)
{
    world_init(&W);
    make_req(500, &W.bob, 0x55);
    struct dc_request d;
    uint8_t b[DC_REQUEST_BYTES + 1];
    for (size_t n = 0; n < sizeof req; n++) {
        ASSERT_ERR(dc_request_decode(&d, req, n), DC_ERR_DECODE_TRUNCATED);
    }
    memcpy(b, req, sizeof req);
    b[sizeof req] = 0;
    ASSERT_ERR(dc_request_decode(&d, b, sizeof b), DC_ERR_DECODE_TRAILING);
    b[0] = DC_MSG_RECEIPT;
    ASSERT_ERR(dc_request_decode(&d, b, sizeof req), DC_ERR_DECODE_TYPE);
    memcpy(b, req, sizeof req);
    b[1] = 2;
    ASSERT_ERR(dc_request_decode(&d, b, sizeof req), DC_ERR_DECODE_VERSION);
    /* amount must be positive: zero and negative are refused */
    memcpy(b, req, sizeof req);
    memset(b + 2, 0, 8);
    ASSERT_ERR(dc_request_decode(&d, b, sizeof req), DC_ERR_DECODE_VALUE);
    memset(b + 2, 0xff, 8);
    ASSERT_ERR(dc_request_decode(&d, b, sizeof req), DC_ERR_DECODE_VALUE);
    /* the embedded certificate is decoded strictly too */
    memcpy(b, req, sizeof req);
    b[14] = DC_TYPE_KEYCERT;
    ASSERT_ERR(dc_request_decode(&d, b, sizeof req), DC_ERR_DECODE_TYPE);
    /* every byte is signed: flip one anywhere, the signature fails */
    for (size_t i = 2; i < sizeof req; i += 7) {
        memcpy(b, req, sizeof req);
        b[i] ^= 0x01;
        if (dc_request_decode(&d, b, sizeof req) != DC_OK) continue;
        ASSERT_ERR(dc_request_check(&d), DC_ERR_BAD_SIGNATURE);
    }
}

static void test_request_verify_trust(void)
{
    world_init(&W);
    struct dc_request d;
    make_req(500, &W.bob, 0x55);
    ASSERT_OK(dc_request_decode(&d, req, sizeof req));
    struct dc_trust t = W.trust;
    t.currency = 978;
    ASSERT_ERR(dc_request_verify(&d, &t), DC_ERR_CURRENCY_MISMATCH);
    t = W.trust;
    t.now = W.bob.cert.expires_at;
    ASSERT_ERR(dc_request_verify(&d, &t), DC_ERR_CERT_EXPIRED);
    t = W.trust;
    static uint8_t revoked[1][DC_PUBKEY_BYTES];
    memcpy(revoked[0], W.bob.pk, DC_PUBKEY_BYTES);
    t.revoked_devices = (const uint8_t(*)[DC_PUBKEY_BYTES])revoked;
    t.n_revoked_devices = 1;
    ASSERT_ERR(dc_request_verify(&d, &t), DC_ERR_CERT_REVOKED);
    t = W.trust;
    t.base_unit = 7;
    ASSERT_ERR(dc_request_verify(&d, &t), DC_ERR_DENOM_UNREACHABLE);
    /* a certificate its payee made up: signed by a key the issuer never certified */
    struct party mallory = W.bob;
    dc_devcert_sign(mallory.cert_bytes, &mallory.cert, W.alice.sk);
    R.payee = mallory.cert;
    ASSERT_OK(dc_request_sign(req, &R, W.bob.sk));
    ASSERT_OK(dc_request_decode(&d, req, sizeof req));
    ASSERT_OK(dc_request_check(&d));
    ASSERT_ERR(dc_request_verify(&d, &W.trust), DC_ERR_CERT_INVALID);
    mallory.cert.key_id = 9;
    dc_devcert_sign(mallory.cert_bytes, &mallory.cert, W.key_sk);
    R.payee = mallory.cert;
    ASSERT_OK(dc_request_sign(req, &R, W.bob.sk));
    ASSERT_OK(dc_request_decode(&d, req, sizeof req));
    ASSERT_ERR(dc_request_verify(&d, &W.trust), DC_ERR_UNKNOWN_KEY);
}

/* ---- RECEIPT ---------------------------------------------------------- */

static void test_receipt_roundtrip_and_strict(void)
{
    world_init(&W);
    struct dc_receipt r, d;
    uint8_t out[DC_RECEIPT_BYTES], again[DC_RECEIPT_BYTES], b[DC_RECEIPT_BYTES + 1];
    memset(&r, 0, sizeof r);
    memset(r.request_hash, 0x11, DC_HASH_BYTES);
    memset(r.payment_hash, 0x22, DC_HASH_BYTES);
    r.time = T0 + 5;
    dc_receipt_sign(out, &r, W.bob.sk);
    ASSERT_OK(dc_receipt_decode(&d, out, sizeof out));
    ASSERT_EQ(d.time, T0 + 5);
    ASSERT_MEM(d.payment_hash, r.payment_hash, DC_HASH_BYTES);
    dc_receipt_encode(again, &d);
    ASSERT_MEM(again, out, sizeof out);
    ASSERT_OK(dc_receipt_check(&d, W.bob.pk));
    ASSERT_ERR(dc_receipt_check(&d, W.alice.pk), DC_ERR_BAD_SIGNATURE);
    for (size_t n = 0; n < sizeof out; n++) {
        ASSERT_ERR(dc_receipt_decode(&d, out, n), DC_ERR_DECODE_TRUNCATED);
    }
    memcpy(b, out, sizeof out);
    b[sizeof out] = 9;
    ASSERT_ERR(dc_receipt_decode(&d, b, sizeof b), DC_ERR_DECODE_TRAILING);
    b[0] = DC_MSG_REQUEST;
    ASSERT_ERR(dc_receipt_decode(&d, b, sizeof out), DC_ERR_DECODE_TYPE);
    b[0] = DC_MSG_RECEIPT;
    b[1] = 0;
    ASSERT_ERR(dc_receipt_decode(&d, b, sizeof out), DC_ERR_DECODE_VERSION);
    for (size_t i = 2; i < sizeof out; i++) {
        memcpy(b, out, sizeof out);
        b[i] ^= 0x80;
        ASSERT_OK(dc_receipt_decode(&d, b, sizeof out));
        ASSERT_ERR(dc_receipt_check(&d, W.bob.pk), DC_ERR_BAD_SIGNATURE);
    }
}

/* ---- PAYMENT encoding ------------------------------------------------- */

static void test_payment_roundtrip_and_strict(void)
{
    world_init(&W);
    make_req(300, &W.bob, 0x55);
    size_t la = make_coin(coin_a, 100, 1, &W.bob, 0x55, 1);
    size_t lb = make_coin(coin_b, 150, 2, &W.bob, 0x55, 2);
    size_t lc = make_coin(coin_c, 50, 3, &W.bob, 0x55, 3);
    const uint8_t *cs[3] = {coin_a, coin_b, coin_c};
    size_t ls[3] = {la, lb, lc};
    size_t len = make_pay(pay, cs, ls, 3);
    ASSERT_EQ(len, DC_PAYMENT_HEADER_BYTES + 6 + la + lb + lc);

    struct dc_payment p;
    size_t bad;
    ASSERT_OK(dc_payment_decode(&p, &bad, pay, len));
    ASSERT_EQ(bad, DC_PAYMENT_WHOLE);
    ASSERT_EQ(p.n, 3);
    ASSERT_EQ(p.coin_len[1], lb);
    ASSERT_MEM(p.coin[2], coin_c, lc);
    size_t len2;
    ASSERT_OK(dc_payment_encode(pay2, sizeof pay2, &len2, &p));
    ASSERT_EQ(len2, len);
    ASSERT_MEM(pay2, pay, len);
    /* BUFFER_TOO_SMALL tells the size needed */
    ASSERT_ERR(dc_payment_encode(pay2, len - 1, &len2, &p), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(len2, len);

    /* every truncation fails (a prefix is never a valid payment) */
    for (size_t n = 0; n < len; n++) {
        enum dc_err e = dc_payment_decode(&p, &bad, pay, n);
        ASSERT(e != DC_OK);
    }
    memcpy(pay2, pay, len);
    pay2[len] = 0;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len + 1), DC_ERR_DECODE_TRAILING);
    pay2[0] = DC_MSG_REQUEST;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_TYPE);
    pay2[0] = DC_MSG_PAYMENT;
    pay2[1] = 7;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_VERSION);
    pay2[1] = 1;
    pay2[34] = 0;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_VALUE);
    pay2[34] = DC_PAYMENT_COINS_MAX + 1;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_VALUE);
    pay2[34] = 3;
    /* a coin length one short: that coin is truncated, and named */
    pay2[35 + 2 + la + 0] = (uint8_t)(lb - 1);
    pay2[35 + 2 + la + 1] = (uint8_t)((lb - 1) >> 8);
    ASSERT(dc_payment_decode(&p, &bad, pay2, len) != DC_OK);
    ASSERT_EQ(bad, 1);
    /* a zero-length coin */
    memcpy(pay2, pay, len);
    pay2[35] = pay2[36] = 0;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_VALUE);
    ASSERT_EQ(bad, 0);
    /* a coin with a bad record tag inside */
    memcpy(pay2, pay, len);
    pay2[35 + 2 + 3 + DC_GENESIS_BYTES] = 0x77;
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay2, len), DC_ERR_DECODE_TYPE);
    ASSERT_EQ(bad, 0);
    /* size bound */
    ASSERT_ERR(dc_payment_decode(&p, &bad, pay, DC_PAYMENT_MAX_BYTES + 1), DC_ERR_MSG_TOO_LARGE);
    p.n = 0;
    ASSERT_ERR(dc_payment_encode(pay2, sizeof pay2, &len2, &p), DC_ERR_INVALID_ARGUMENT);
    p.n = 3;
    p.coin_len[0] = DC_PAYMENT_MAX_BYTES;
    ASSERT_ERR(dc_payment_encode(pay2, sizeof pay2, &len2, &p), DC_ERR_INVALID_ARGUMENT);
    p.n = DC_PAYMENT_COINS_MAX;
    for (size_t i = 0; i < p.n; i++) {
        p.coin[i] = coin_b;
        p.coin_len[i] = 2000;
    }
    ASSERT_ERR(dc_payment_encode(pay2, sizeof pay2, &len2, &p), DC_ERR_MSG_TOO_LARGE);
}

/* ---- Payee-side verification ------------------------------------------ */

static void test_verify_one_hop(void)
{
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    size_t la = make_coin(coin_a, 100, 1, &W.bob, 0x55, 1);
    size_t len = pay1(pay, coin_a, la);
    struct seen_set ss;
    memset(&ss, 0, sizeof ss);
    ASSERT_OK(verify_with(pay, len, &ss, NULL));
    ASSERT_EQ(RES.n_coins, 1);
    ASSERT_EQ(RES.total, 100);
    ASSERT_EQ(RES.coins[0].value, 100);
    ASSERT_EQ(RES.coins[0].records, 1);
    ASSERT_EQ(RES.sigs_checked, 4); /* genesis, Alice's cert, transfer, Bob's cert */
    ASSERT_EQ(ss.queries, 1);
    struct dc_coin c;
    uint8_t st[DC_HASH_BYTES];
    ASSERT_OK(dc_coin_decode(&c, coin_a, la));
    dc_coin_state(st, &c, 1);
    ASSERT_MEM(RES.coins[0].state, st, DC_HASH_BYTES);
    ASSERT_MEM(RES.coins[0].serial, c.genesis.serial, DC_SERIAL_BYTES);
    /* the payee knows these states with the same successors: still fine
     * (how a restored payee re-accepts the same coins) */
    seen_add_coin(&ss, coin_a, la);
    ASSERT_OK(verify_with(pay, len, &ss, NULL));
    /* a seen-set that cannot answer stops verification with its error */
    ss.fail_with = DC_ERR_STORE;
    ASSERT_ERR(verify_with(pay, len, &ss, NULL), DC_ERR_STORE);
    ASSERT_EQ(RES.from_seen, 1);
    ASSERT_EQ(RES.coin, 0);
}

static void test_verify_split_payments(void)
{
    world_init(&W);
    /* 70 out of a 100 coin: Alice splits 30/30/40 and pays parts 0 and 2 */
    make_req(70, &W.bob, 0x55);
    size_t la = issue(&W, coin_a, sizeof coin_a, 100, &W.alice, 1, 16);
    const int64_t parts[3] = {30, 30, 40};
    ASSERT_OK(dc_coin_split(coin_a, sizeof coin_a, &la, W.alice.sk, parts, 3));
    memcpy(coin_b, coin_a, la);
    size_t lb = la;
    ASSERT_OK(dc_coin_select_part(coin_b, lb, 2));
    la = transfer(coin_a, la, &W.alice, &W.bob, 0x55);
    lb = transfer(coin_b, lb, &W.alice, &W.bob, 0x55);
    const uint8_t *cs[2] = {coin_a, coin_b};
    size_t ls[2] = {la, lb};
    size_t len = make_pay(pay, cs, ls, 2);
    struct seen_set ss;
    memset(&ss, 0, sizeof ss);
    ASSERT_OK(verify_with(pay, len, &ss, NULL));
    ASSERT_EQ(RES.total, 70);
    ASSERT_EQ(RES.coins[0].value, 30);
    ASSERT_EQ(RES.coins[1].value, 40);
    size_t without_cache = RES.sigs_checked;
    /* siblings share their history: a cache verifies it once */
    static uint8_t slots[64][DC_HASH_BYTES];
    memset(slots, 0, sizeof slots);
    struct dc_verify_cache cache = {.slots = slots, .cap = 64};
    ASSERT_OK(verify_with(pay, len, &ss, &cache));
    ASSERT(RES.sigs_checked < without_cache);
    /* siblings are not a fork, nor a duplicate, in the seen-set either */
    seen_add_coin(&ss, coin_a, la);
    ASSERT_OK(verify_with(pay, len, &ss, NULL));

    /* several coins: 50 + 20 (5 hops) = 70 */
    size_t l1 = make_coin(coin_a, 50, 1, &W.bob, 0x55, 3);
    size_t l2 = make_coin(coin_b, 20, 5, &W.bob, 0x55, 4);
    ls[0] = l1;
    ls[1] = l2;
    len = make_pay(pay, cs, ls, 2);
    ASSERT_OK(verify(pay, len));
    ASSERT_EQ(RES.total, 70);
    ASSERT_EQ(RES.coins[1].records, 5);
}

static void test_verify_rejects(void)
{
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    size_t len, la;

    /* wrong nonce: an old transfer to Bob (another request's nonce) replayed */
    la = make_coin(coin_a, 100, 1, &W.bob, 0x54, 1);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_NONCE_MISMATCH);
    ASSERT_EQ(RES.coin, 0);
    ASSERT_EQ(RES.record, 1);

    /* wrong receiver: transferred to Carol */
    la = make_coin(coin_a, 100, 1, &W.carol, 0x55, 1);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_WRONG_RECEIVER);
    /* not transferred at all (still Alice's) */
    la = issue(&W, coin_a, sizeof coin_a, 100, &W.alice, 1, 16);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_WRONG_RECEIVER);

    /* sum mismatch: too little and too much */
    la = make_coin(coin_a, 99, 1, &W.bob, 0x55, 1);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_PAY_AMOUNT);
    ASSERT_EQ(RES.coin, DC_PAYMENT_WHOLE);
    la = make_coin(coin_a, 101, 1, &W.bob, 0x55, 1);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_PAY_AMOUNT);

    /* duplicate coin: the same 50 twice for 100 */
    make_req(100, &W.bob, 0x55);
    la = make_coin(coin_a, 50, 2, &W.bob, 0x55, 1);
    const uint8_t *cs[2] = {coin_a, coin_a};
    size_t ls[2] = {la, la};
    len = make_pay(pay, cs, ls, 2);
    ASSERT_ERR(verify(pay, len), DC_ERR_PAY_DUPLICATE_COIN);
    ASSERT_EQ(RES.coin, 1);
    ASSERT_EQ(RES.record, 2);

    /* forged coin: genesis signed by a key the issuer never certified */
    struct dc_genesis g;
    genesis_of(&g, 100, &W.alice, 7, 16);
    ASSERT_OK(dc_coin_issue(coin_a, sizeof coin_a, &la, &g, W.alice.sk));
    la = transfer(coin_a, la, &W.alice, &W.bob, 0x55);
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_COIN_FORGED);
    ASSERT_EQ(RES.coin, 0);
    ASSERT_EQ(RES.record, 0);
    /* altered value in a genuine coin */
    la = make_coin(coin_a, 100, 1, &W.bob, 0x55, 1);
    coin_a[3 + 2 + 4 + 16 + 4] ^= 0x01; /* value's low byte: 100 -> 101 */
    len = pay1(pay, coin_a, la);
    ASSERT_ERR(verify(pay, len), DC_ERR_COIN_FORGED);

    /* revoked payer device (on the list the payee last synced) */
    la = make_coin(coin_a, 100, 3, &W.bob, 0x55, 1);
    len = pay1(pay, coin_a, la);
    static uint8_t revoked[1][DC_PUBKEY_BYTES];
    memcpy(revoked[0], W.alice.pk, DC_PUBKEY_BYTES);
    W.trust.revoked_devices = (const uint8_t(*)[DC_PUBKEY_BYTES])revoked;
    W.trust.n_revoked_devices = 1;
    ASSERT_ERR(verify(pay, len), DC_ERR_CERT_REVOKED);
    ASSERT_EQ(RES.record, 1);
    W.trust.n_revoked_devices = 0;
    ASSERT_OK(verify(pay, len));

    /* expired payer certificate (the last signer must be fresh) */
    W.trust.now = W.alice.cert.expires_at + 1;
    ASSERT_ERR(verify(pay, len), DC_ERR_CERT_EXPIRED);
    ASSERT_EQ(RES.record, 3);
    W.trust.now = T0 + DAY;

    /* a payment for another request, and another currency */
    la = make_coin(coin_a, 100, 1, &W.bob, 0x55, 1);
    len = pay1(pay, coin_a, la);
    make_req(100, &W.bob, 0x56);
    ASSERT_ERR(verify(pay, len), DC_ERR_PAY_WRONG_REQUEST);
    ASSERT_EQ(RES.coin, DC_PAYMENT_WHOLE);
    make_req(100, &W.bob, 0x55);
    W.trust.currency = 978;
    ASSERT_ERR(verify(pay, len), DC_ERR_CURRENCY_MISMATCH);
    W.trust.currency = CNY;
    ASSERT_OK(verify(pay, len));
    /* an undecodable request or payment */
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
    ASSERT_ERR(dc_payment_verify(&RES, &chk, req, sizeof req - 1, pay, len),
               DC_ERR_DECODE_TRUNCATED);
    ASSERT_ERR(dc_payment_verify(&RES, &chk, req, sizeof req, pay, len - 1),
               DC_ERR_DECODE_TRUNCATED);
    ASSERT_EQ(RES.coin, 0);
}

static void test_verify_forks(void)
{
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    /* Alice gave this coin to Carol first; Bob heard of it (the seen-set) */
    size_t base = issue(&W, coin_a, sizeof coin_a, 100, &W.alice, 1, 16);
    memcpy(coin_b, coin_a, base);
    size_t lc = transfer(coin_b, base, &W.alice, &W.carol, 0x31);
    struct seen_set ss;
    memset(&ss, 0, sizeof ss);
    seen_add_coin(&ss, coin_b, lc);
    size_t la = transfer(coin_a, base, &W.alice, &W.bob, 0x55);
    size_t len = pay1(pay, coin_a, la);
    ASSERT_OK(verify(pay, len)); /* without the seen-set it looks fine */
    ASSERT_ERR(verify_with(pay, len, &ss, NULL), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(RES.from_seen, 1);
    ASSERT_EQ(RES.coin, 0);
    ASSERT_EQ(RES.record, 1);

    /* a fork deeper in the chain: Carol -> Alice -> (Bob | Carol) */
    size_t l1 = make_coin(coin_a, 100, 2, &W.alice, 0x41, 2); /* Alice->Carol->Alice */
    memcpy(coin_b, coin_a, l1);
    size_t l2 = transfer(coin_b, l1, &W.alice, &W.carol, 0x42);
    memset(&ss, 0, sizeof ss);
    seen_add_coin(&ss, coin_b, l2);
    l1 = transfer(coin_a, l1, &W.alice, &W.bob, 0x55);
    len = pay1(pay, coin_a, l1);
    ASSERT_ERR(verify_with(pay, len, &ss, NULL), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(RES.record, 3);

    /* a fork inside one payment: the whole coin, and a part of its split */
    make_req(160, &W.bob, 0x55);
    base = issue(&W, coin_a, sizeof coin_a, 100, &W.alice, 3, 16);
    memcpy(coin_b, coin_a, base);
    la = transfer(coin_a, base, &W.alice, &W.bob, 0x55);
    const int64_t parts[2] = {60, 40};
    size_t lb = base;
    ASSERT_OK(dc_coin_split(coin_b, sizeof coin_b, &lb, W.alice.sk, parts, 2));
    lb = transfer(coin_b, lb, &W.alice, &W.bob, 0x55);
    const uint8_t *cs[2] = {coin_a, coin_b};
    size_t ls[2] = {la, lb};
    len = make_pay(pay, cs, ls, 2);
    ASSERT_ERR(verify(pay, len), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(RES.from_seen, 0);
    ASSERT_EQ(RES.coin, 1);
    ASSERT_EQ(RES.record, 1);
}

/* ---- Framing ---------------------------------------------------------- */

static size_t frame_of(uint8_t *out, const uint8_t *msg, size_t len, size_t fmax, size_t i)
{
    size_t n;
    ASSERT_OK(dc_frame_encode(out, DC_FRAME_MAX, &n, msg, len, fmax, i));
    ASSERT(n <= fmax);
    return n;
}

static void push_all(const uint8_t *msg, size_t len, size_t fmax, int want_last)
{
    uint8_t f[DC_FRAME_MAX];
    size_t count = dc_frame_count(len, fmax);
    for (size_t i = 0; i < count; i++) {
        int ev;
        size_t n = frame_of(f, msg, len, fmax, i);
        ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
        ASSERT_EQ(ev, i + 1 == count ? want_last : DC_RX_NONE);
    }
}

static void test_framing_payments(void)
{
    static const int hops[3] = {1, 5, 10};
    static const size_t fmax[3] = {255, 32, 16};
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    for (int h = 0; h < 3; h++) {
        size_t la = make_coin(coin_a, 100, hops[h], &W.bob, 0x55, 1);
        size_t len = pay1(pay, coin_a, la);
        for (int m = 0; m < 3; m++) {
            size_t count = dc_frame_count(len, fmax[m]);
            size_t p = fmax[m] - DC_FRAME_HEADER_BYTES;
            ASSERT_EQ(count, (len + p - 1) / p);
            dc_reasm_init(&RA);
            push_all(pay, len, fmax[m], DC_RX_COMPLETE);
            ASSERT_EQ(RA.len, len);
            ASSERT_EQ(RA.tag, DC_MSG_PAYMENT);
            ASSERT_MEM(RA.msg, pay, len);
            ASSERT_OK(verify(RA.msg, RA.len));
            /* the whole message again, with any frame size: a repeat */
            push_all(pay, len, fmax[m], DC_RX_REPEAT);
            push_all(pay, len, fmax[(m + 1) % 3], DC_RX_REPEAT);
        }
    }
    /* the small messages */
    dc_reasm_init(&RA);
    push_all(req, sizeof req, 255, DC_RX_COMPLETE);
    ASSERT_MEM(RA.msg, req, sizeof req);
    ASSERT_EQ(dc_frame_count(sizeof req, 255), 1);
    ASSERT_EQ(dc_frame_count(sizeof req, 32), 9);
    ASSERT_EQ(dc_frame_count(0, 255), 0);
    ASSERT_EQ(dc_frame_count(10, 15), 0);
    ASSERT_EQ(dc_frame_count(10, 256), 0);
}

static void test_framing_faults(void)
{
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    size_t la = make_coin(coin_a, 100, 5, &W.bob, 0x55, 1);
    size_t len = pay1(pay, coin_a, la);
    uint8_t f[DC_FRAME_MAX + 1], g[DC_FRAME_MAX];
    int ev;
    size_t n;

    /* duplicates are idempotent; a gap is refused; nothing changes on refusal */
    dc_reasm_init(&RA);
    n = frame_of(f, pay, len, 32, 0);
    ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
    ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
    n = frame_of(f, pay, len, 32, 1);
    ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
    struct dc_rx before = RA.rx;
    n = frame_of(f, pay, len, 32, 3);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, n), DC_ERR_FRAME_ORDER);
    ASSERT_MEM(&RA.rx, &before, sizeof before);
    /* a duplicate whose bytes differ */
    n = frame_of(f, pay, len, 32, 0);
    f[10] ^= 1;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, n), DC_ERR_FRAME_CONFLICT);
    /* truncated and overlong frames */
    n = frame_of(f, pay, len, 32, 2);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, n - 1), DC_ERR_DECODE_TRUNCATED);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, 3), DC_ERR_DECODE_TRUNCATED);
    f[n] = 0;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, n + 1), DC_ERR_DECODE_TRAILING);
    /* count changed mid-message; a short middle frame */
    memcpy(g, f, n);
    g[3] = (uint8_t)(g[3] + 1);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_VALUE);
    memcpy(g, f, n);
    g[5] = (uint8_t)(g[5] - 1);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n - 1), DC_ERR_DECODE_VALUE);
    /* another message type in the middle */
    n = frame_of(g, req, sizeof req, 32, 0);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_MSG_UNEXPECTED);
    /* and the rest still completes */
    for (size_t i = 2; i < dc_frame_count(len, 32); i++) {
        n = frame_of(f, pay, len, 32, i);
        ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
    }
    ASSERT_EQ(ev, DC_RX_COMPLETE);
    ASSERT_MEM(RA.msg, pay, len);
    /* once complete, a frame of another payment is refused */
    size_t lb = make_coin(coin_b, 100, 5, &W.bob, 0x55, 2);
    size_t len2 = pay1(pay2, coin_b, lb);
    n = frame_of(f, pay2, len2, 32, 2); /* bytes 52..78: the serial differs */
    ASSERT_ERR(dc_reasm_push(&RA, &ev, f, n), DC_ERR_FRAME_CONFLICT);
    /* a re-sent last frame alone is harmless */
    n = frame_of(f, pay, len, 32, dc_frame_count(len, 32) - 1);
    ASSERT_OK(dc_reasm_push(&RA, &ev, f, n));
    ASSERT_EQ(ev, DC_RX_NONE);

    /* header fields */
    dc_reasm_init(&RA);
    n = frame_of(f, req, sizeof req, 255, 0);
    memcpy(g, f, n);
    g[0] = 0x43;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_TYPE);
    memcpy(g, f, n);
    g[6] = DC_MSG_RECEIPT; /* payload disagrees with the frame's tag */
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_TYPE);
    memcpy(g, f, n);
    g[3] = g[4] = 0;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_VALUE);
    memcpy(g, f, n);
    g[1] = 1; /* index 1 of 1 */
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_VALUE);
    memcpy(g, f, 6);
    g[5] = 0;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, 6), DC_ERR_DECODE_VALUE);
    memcpy(g, f, n);
    g[5] = 250;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_DECODE_VALUE);
    /* oversize, refused at the first frame: a 2-frame request of 249-byte
     * frames, a payment announcing 100 full frames */
    memcpy(g, f, n);
    g[3] = 2;
    g[5] = 249;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, 6 + 249), DC_ERR_MSG_TOO_LARGE);
    n = frame_of(g, pay, len, 255, 0);
    g[3] = 100;
    g[4] = 0;
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_MSG_TOO_LARGE);
    /* a first frame that is not frame 0 */
    n = frame_of(g, pay, len, 255, 1);
    ASSERT_ERR(dc_reasm_push(&RA, &ev, g, n), DC_ERR_FRAME_ORDER);
    ASSERT_EQ(RA.tag, 0);
    /* encoder arguments */
    ASSERT_ERR(dc_frame_encode(g, sizeof g, &n, pay, len, 255, 99), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_frame_encode(g, sizeof g, &n, pay, len, 8, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_frame_encode(g, sizeof g, &n, req, sizeof req + 1, 255, 0),
               DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_frame_encode(g, 10, &n, pay, len, 255, 0), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, 255);
}

/* ---- Figures ---------------------------------------------------------- */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_figures_verify_cost(void)
{
    world_init(&W);
    make_req(100, &W.bob, 0x55);
    size_t la = make_coin(coin_a, 100, 10, &W.bob, 0x55, 1);
    size_t len = pay1(pay, coin_a, la);
    ASSERT_OK(verify(pay, len));
    size_t sigs = RES.sigs_checked;
    ASSERT_EQ(sigs, 22); /* genesis + first cert + 10 x (record + new owner's cert) */
    /* raw: the same number of Ed25519 verifications of 200-byte messages */
    static uint8_t msg[22][200], sig[22][64];
    for (size_t i = 0; i < sigs; i++) {
        memset(msg[i], (int)i, sizeof msg[i]);
        crypto_sign_detached(sig[i], NULL, msg[i], sizeof msg[i], W.alice.sk);
    }
    double best_ours = 1e9, best_raw = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = cpu_s();
        for (int k = 0; k < 10; k++) ASSERT_OK(verify(pay, len));
        double t1 = cpu_s();
        for (int k = 0; k < 10; k++) {
            for (size_t i = 0; i < sigs; i++) {
                ASSERT(crypto_sign_verify_detached(sig[i], msg[i], sizeof msg[i], W.alice.pk) == 0);
            }
        }
        double t2 = cpu_s();
        if ((t1 - t0) / 10 < best_ours) best_ours = (t1 - t0) / 10;
        if ((t2 - t1) / 10 < best_raw) best_raw = (t2 - t1) / 10;
    }
    printf("# figure: payee verify of a 10-hop coin (%zu B payment, %zu signatures): %.3f ms CPU; "
           "raw Ed25519 x%zu: %.3f ms; ratio %.2f\n",
           len, sigs, best_ours * 1e3, sigs, best_raw * 1e3, best_ours / best_raw);
}

TESTS(T(test_request_roundtrip), T(test_request_strict), T(test_request_verify_trust),
      T(test_receipt_roundtrip_and_strict), T(test_payment_roundtrip_and_strict),
      T(test_verify_one_hop), T(test_verify_split_payments), T(test_verify_rejects),
      T(test_verify_forks), T(test_framing_payments), T(test_framing_faults),
      T(test_figures_verify_cost))

/*
 * test_evidence.c - fork evidence: built from two chains that fork, checked
 * with nothing but the master public key, naming the culprit; refused for
 * siblings, extensions, unrelated coins and any tampering.
 */
#include "ducat/armor.h"
#include "ducat/refusal.h"
#include "fixture.h"
#include "test.h"

static struct world W;
static uint8_t a[DC_COIN_MAX_BYTES], b[DC_COIN_MAX_BYTES];
static uint8_t ev[DC_EVIDENCE_MAX_BYTES], ev2[DC_EVIDENCE_MAX_BYTES];
static uint8_t c3[DC_COIN_MAX_BYTES];
static struct dc_coin CA, CB;

static size_t pay(uint8_t *buf, size_t len, const struct party *from, const struct party *to,
                  uint8_t nonce_tag)
{
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, nonce_tag);
    ASSERT_OK(dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, from->sk, to->cert_bytes, nonce));
    return len;
}

/* Alice pays Bob, then restores a backup and pays the same coin to Carol. */
static void make_fork(size_t *la, size_t *lb)
{
    size_t len = issue(&W, a, sizeof a, 500, &W.alice, 1, 10);
    memcpy(b, a, len);
    *la = pay(a, len, &W.alice, &W.bob, 0x11);
    *lb = pay(b, len, &W.alice, &W.carol, 0x22);
    ASSERT_OK(dc_coin_decode(&CA, a, *la));
    ASSERT_OK(dc_coin_decode(&CB, b, *lb));
}

/* The deterministic world, made before the first case whichever it is; the
 * cases only read it (DUCAT_TEST_REVERSE=1 runs them last to first). */
__attribute__((constructor)) static void init_world(void)
{
    world_init(&W);
}

static void test_double_spend_proves_culprit(void)
{
    size_t la, lb, len, len2;
    world_init(&W);
    make_fork(&la, &lb);
    ASSERT_OK(dc_evidence_build(ev, sizeof ev, &len, &W.trust, &CA, &CB));
    struct dc_evidence_info info;
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, ev, len));
    ASSERT_MEM(info.culprit, W.alice.pk, DC_PUBKEY_BYTES);
    ASSERT_MEM(info.alias, "alice\0\0\0", DC_ALIAS_BYTES);
    ASSERT_MEM(info.serial, CA.genesis.serial, DC_SERIAL_BYTES);
    ASSERT_EQ(info.value, 500);
    ASSERT_EQ(info.fork_index, 0);
    ASSERT_EQ(info.type_a, DC_TYPE_TRANSFER);
    uint8_t s0[DC_HASH_BYTES];
    dc_coin_state(s0, &CA, 0);
    ASSERT_MEM(info.state, s0, DC_HASH_BYTES);
    /* one fork, one encoding, whichever branch came first */
    ASSERT_OK(dc_evidence_build(ev2, sizeof ev2, &len2, &W.trust, &CB, &CA));
    ASSERT_EQ(len2, len);
    ASSERT_MEM(ev, ev2, len);
    /* another master key proves nothing */
    ASSERT_ERR(dc_evidence_verify(&info, W.key_pk, ev, len), DC_ERR_EVIDENCE_INVALID);
    /* too small a buffer reports the size needed */
    ASSERT_ERR(dc_evidence_build(ev2, 10, &len2, &W.trust, &CA, &CB), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(len2, len);
}

static void test_fork_later_in_chain(void)
{
    /* Alice -> Bob honestly; Bob splits, then pays the same part twice. */
    int64_t parts[2] = {300, 200};
    size_t len = issue(&W, a, sizeof a, 500, &W.alice, 2, 10);
    len = pay(a, len, &W.alice, &W.bob, 1);
    ASSERT_OK(dc_coin_split(a, sizeof a, &len, W.bob.sk, parts, 2));
    memcpy(b, a, len);
    size_t la = pay(a, len, &W.bob, &W.carol, 2);
    size_t lb = len;
    ASSERT_OK(dc_coin_deposit(b, sizeof b, &lb, W.bob.sk, 42, T0 + DAY)); /* deposit then spend */
    ASSERT_OK(dc_coin_decode(&CA, a, la));
    ASSERT_OK(dc_coin_decode(&CB, b, lb));
    size_t elen;
    ASSERT_OK(dc_evidence_build(ev, sizeof ev, &elen, &W.trust, &CA, &CB));
    struct dc_evidence_info info;
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, ev, elen));
    ASSERT_MEM(info.culprit, W.bob.pk, DC_PUBKEY_BYTES);
    ASSERT_EQ(info.fork_index, 2);
    ASSERT_EQ(info.value, 300);
    ASSERT((info.type_a == DC_TYPE_DEPOSIT) != (info.type_b == DC_TYPE_DEPOSIT));
    /* the proof outlives every key window: it is timeless */
    W.trust.now = T0 + 1000 * DAY;
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, ev, elen));
    W.trust.now = T0 + DAY;
}

static void test_no_fork(void)
{
    size_t len = issue(&W, a, sizeof a, 500, &W.alice, 3, 10), elen;
    int64_t parts[2] = {300, 200};
    /* split siblings are both legitimate */
    ASSERT_OK(dc_coin_split(a, sizeof a, &len, W.alice.sk, parts, 2));
    memcpy(b, a, len);
    memcpy(c3, a, len);
    ASSERT_OK(dc_coin_select_part(b, len, 1));
    size_t la = pay(a, len, &W.alice, &W.bob, 1);
    size_t lb = pay(b, len, &W.alice, &W.carol, 2);
    ASSERT_OK(dc_coin_decode(&CA, a, la));
    ASSERT_OK(dc_coin_decode(&CB, b, lb));
    ASSERT_ERR(dc_evidence_build(ev, sizeof ev, &elen, &W.trust, &CA, &CB), DC_ERR_NO_FORK);
    /* one chain extends the other */
    ASSERT_OK(dc_coin_decode(&CB, c3, len));
    ASSERT_ERR(dc_evidence_build(ev, sizeof ev, &elen, &W.trust, &CA, &CB), DC_ERR_NO_FORK);
    /* the same chain twice */
    ASSERT_ERR(dc_evidence_build(ev, sizeof ev, &elen, &W.trust, &CA, &CA), DC_ERR_NO_FORK);
    /* unrelated coins */
    size_t lc = issue(&W, b, sizeof b, 500, &W.alice, 4, 10);
    ASSERT_OK(dc_coin_decode(&CB, b, lc));
    ASSERT_ERR(dc_evidence_build(ev, sizeof ev, &elen, &W.trust, &CA, &CB), DC_ERR_NO_FORK);
}

static void test_tampered_evidence(void)
{
    size_t la, lb, len;
    make_fork(&la, &lb);
    ASSERT_OK(dc_evidence_build(ev, sizeof ev, &len, &W.trust, &CA, &CB));
    struct dc_evidence_info info;
    /* every single-bit flip is refused (decode or proof error), never OK */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(ev2, ev, len);
            ev2[i] ^= (uint8_t)(1u << bit);
            enum dc_err e = dc_evidence_verify(&info, W.master_pk, ev2, len);
            if (e == DC_OK) FAIL_AT("bit %d of byte %zu flipped, still verifies", bit, i);
        }
    }
    /* every truncation too, and trailing bytes */
    for (size_t cut = 0; cut < len; cut++) {
        if (dc_evidence_verify(&info, W.master_pk, ev, cut) == DC_OK) FAIL_AT("cut %zu", cut);
    }
    ev[len] = 0;
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, ev, len + 1), DC_ERR_DECODE_TRAILING);
    /* the two successors swapped (non-canonical order) */
    size_t tail = len - 2 * DC_TRANSFER_BYTES;
    memcpy(ev2, ev, tail);
    memcpy(ev2 + tail, ev + tail + DC_TRANSFER_BYTES, DC_TRANSFER_BYTES);
    memcpy(ev2 + tail + DC_TRANSFER_BYTES, ev + tail, DC_TRANSFER_BYTES);
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, ev2, len), DC_ERR_EVIDENCE_INVALID);
    /* the same successor twice is no double spend */
    memcpy(ev2 + tail + DC_TRANSFER_BYTES, ev2 + tail, DC_TRANSFER_BYTES);
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, ev2, len), DC_ERR_EVIDENCE_INVALID);
}

/* Refusal evidence: Alice pays Bob two coins (nonce 0x33), Bob signs a
 * refusal of that payment and then pays coin 1 on to Carol. Verified with
 * the master key alone, culprit Bob; refused if any byte changes, if the
 * coins are not the refused payment, or if the onward record is not
 * Bob's. */
static void test_refusal_passed_on(void)
{
    static uint8_t p0[DC_COIN_MAX_BYTES], p1[DC_COIN_MAX_BYTES], on[DC_COIN_MAX_BYTES];
    static uint8_t rev[2 * DC_COIN_MAX_BYTES + 1024];
    static struct dc_coin C1, ON, OTHER;
    size_t l0 = issue(&W, p0, sizeof p0, 200, &W.alice, 1, 10);
    size_t l1 = issue(&W, p1, sizeof p1, 100, &W.alice, 2, 10);
    l0 = pay(p0, l0, &W.alice, &W.bob, 0x33);
    l1 = pay(p1, l1, &W.alice, &W.bob, 0x33);
    const uint8_t *coin[2] = {p0, p1};
    size_t coin_len[2] = {l0, l1};
    struct dc_refusal r;
    memset(&r, 0, sizeof r);
    memset(r.request_hash, 0x5a, DC_HASH_BYTES);
    nonce_of(r.nonce, 0x33);
    r.reason = (uint16_t)DC_ERR_CERT_REVOKED;
    r.time = T0;
    ASSERT_OK(dc_refusal_payment_hash(r.payment_hash, r.request_hash, coin, coin_len, 2));
    uint8_t rb[DC_REFUSAL_BYTES];
    dc_refusal_sign(rb, &r, W.bob.sk);
    memcpy(on, p1, l1);
    size_t lon = pay(on, l1, &W.bob, &W.carol, 0x44);
    ASSERT_OK(dc_coin_decode(&C1, p1, l1));
    ASSERT_OK(dc_coin_decode(&ON, on, lon));

    size_t len = 0, need = 0;
    ASSERT_ERR(dc_refusal_evidence_build(rev, 10, &need, &W.trust, rb, coin, coin_len, 2, 1, &C1,
                                         &ON.rec[C1.n]),
               DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_OK(dc_refusal_evidence_build(rev, sizeof rev, &len, &W.trust, rb, coin, coin_len, 2, 1,
                                        &C1, &ON.rec[C1.n]));
    ASSERT_EQ(len, need);
    ASSERT_EQ(rev[0], DC_TYPE_REFUSAL_EVIDENCE);
    struct dc_evidence_info info;
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, rev, len));
    ASSERT_EQ(info.kind, DC_TYPE_REFUSAL_EVIDENCE);
    ASSERT_MEM(info.culprit, W.bob.pk, DC_PUBKEY_BYTES);
    ASSERT_MEM(info.alias, "bob\0\0\0\0\0", DC_ALIAS_BYTES);
    ASSERT_MEM(info.serial, C1.genesis.serial, DC_SERIAL_BYTES);
    ASSERT_EQ(info.value, 100);
    ASSERT_EQ(info.fork_index, 1);
    ASSERT_EQ(info.type_a, DC_REFUSAL_TAG);
    ASSERT_EQ(info.type_b, DC_TYPE_TRANSFER);
    ASSERT_MEM(rev + info.succ_off[0], rb, DC_REFUSAL_BYTES);
    uint8_t s1[DC_HASH_BYTES];
    dc_coin_state(s1, &C1, C1.n);
    ASSERT_MEM(info.state, s1, DC_HASH_BYTES);
    /* another master key: not this issuer's proof */
    ASSERT_ERR(dc_evidence_verify(&info, W.key_pk, rev, len), DC_ERR_EVIDENCE_INVALID);
    /* every byte matters */
    for (size_t at = 0; at < len; at++) {
        rev[at] ^= 0x01;
        if (dc_evidence_verify(&info, W.master_pk, rev, len) == DC_OK) FAIL_AT("byte %zu", at);
        rev[at] ^= 0x01;
    }
    for (size_t cut = 0; cut < len; cut += 13) {
        if (dc_evidence_verify(&info, W.master_pk, rev, cut) == DC_OK) FAIL_AT("cut %zu", cut);
    }
    /* the coins in another order are another payment: the refusal does not cover it */
    const uint8_t *swapped[2] = {p1, p0};
    size_t swapped_len[2] = {l1, l0};
    ASSERT_OK(dc_refusal_evidence_build(rev, sizeof rev, &len, &W.trust, rb, swapped, swapped_len,
                                        2, 0, &C1, &ON.rec[C1.n]));
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, rev, len), DC_ERR_EVIDENCE_INVALID);
    /* a record that is not Bob's over the refused state (Alice's other transfer) */
    size_t lalt = issue(&W, on, sizeof on, 100, &W.alice, 2, 10);
    lalt = pay(on, lalt, &W.alice, &W.carol, 0x55);
    ASSERT_OK(dc_coin_decode(&OTHER, on, lalt));
    ASSERT_OK(dc_refusal_evidence_build(rev, sizeof rev, &len, &W.trust, rb, coin, coin_len, 2, 1,
                                        &C1, &OTHER.rec[0]));
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, rev, len), DC_ERR_EVIDENCE_INVALID);
    /* a refusal signed by someone else than the payee */
    dc_refusal_sign(rb, &r, W.carol.sk);
    ASSERT_OK(dc_refusal_evidence_build(rev, sizeof rev, &len, &W.trust, rb, coin, coin_len, 2, 1,
                                        &C1, &ON.rec[C1.n]));
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, rev, len), DC_ERR_EVIDENCE_INVALID);
}

/* The refusal evidence of a maximal payment (16 coins, a 16,035-byte
 * PAYMENT) is larger than fork evidence's maximum, fits
 * DC_REFUSAL_EVIDENCE_MAX_BYTES and verifies, also through the armor; 17
 * coins are neither built nor accepted. */
static void test_refusal_evidence_of_maximal_payment(void)
{
    static struct max_refusal m;
    static uint8_t rev[DC_REFUSAL_EVIDENCE_MAX_BYTES + 4096];
    max_refusal_make(&W, &m);
    ASSERT(m.total <= DC_REFUSAL_EVIDENCE_COINS_BYTES - 35); /* one PAYMENT's room */
    ASSERT(m.total + 2 * DC_TRANSFER_BYTES > DC_REFUSAL_EVIDENCE_COINS_BYTES - 35);
    size_t len = 0;
    ASSERT_OK(max_refusal_evidence(&W, &m, rev, sizeof rev, &len));
    printf("# refusal evidence of a %zu-byte payment: %zu bytes (fork evidence max %d)\n",
           m.total + 35, len, (int)DC_EVIDENCE_MAX_BYTES);
    ASSERT(len > DC_EVIDENCE_MAX_BYTES);
    ASSERT(len <= DC_REFUSAL_EVIDENCE_MAX_BYTES);
    ASSERT(DC_EVIDENCE_READ_MAX_BYTES >= DC_REFUSAL_EVIDENCE_MAX_BYTES);
    struct dc_evidence_info info;
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, rev, len));
    ASSERT_EQ(info.kind, DC_TYPE_REFUSAL_EVIDENCE);
    ASSERT_MEM(info.culprit, W.bob.pk, DC_PUBKEY_BYTES);
    /* through the armor */
    static char armor[4 * sizeof rev];
    static uint8_t back[DC_EVIDENCE_READ_MAX_BYTES];
    size_t alen = 0, blen = 0;
    ASSERT_OK(dc_armor_encode(armor, sizeof armor, &alen, DC_ARMOR_EVIDENCE, rev, len));
    ASSERT_OK(dc_armor_decode(back, sizeof back, &blen, DC_ARMOR_EVIDENCE, armor, alen));
    ASSERT_EQ(blen, len);
    ASSERT_OK(dc_evidence_verify(&info, W.master_pk, back, blen));

    /* 17 coins: not built; and a hand-made one with n = 17 is refused */
    ASSERT_ERR(dc_refusal_evidence_build(rev, sizeof rev, &len, &W.trust, m.refusal, m.coin,
                                         m.coin_len, MAX_REFUSAL_COINS, 0, &m.c0,
                                         &m.on_coin.rec[m.c0.n]),
               DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(max_refusal_evidence(&W, &m, rev, sizeof rev, &len));
    size_t at_n = 3 + (size_t)rev[2] * DC_KEYCERT_BYTES + DC_REFUSAL_BYTES;
    ASSERT_EQ(rev[at_n], 16);
    /* coin 16 appended before the onward record, n = 17 */
    size_t l16 = m.coin_len[16], tail = m.on_coin.rec[m.c0.n].len, at = len - tail;
    memmove(rev + at + 2 + l16, rev + at, tail);
    rev[at] = (uint8_t)(l16 & 0xff);
    rev[at + 1] = (uint8_t)(l16 >> 8);
    memcpy(rev + at + 2, m.cb[16], l16);
    rev[at_n] = 17;
    ASSERT_ERR(dc_evidence_verify(&info, W.master_pk, rev, len + 2 + l16), DC_ERR_DECODE_VALUE);
}

TESTS(T(test_double_spend_proves_culprit), T(test_fork_later_in_chain), T(test_no_fork),
      T(test_tampered_evidence), T(test_refusal_passed_on),
      T(test_refusal_evidence_of_maximal_payment))

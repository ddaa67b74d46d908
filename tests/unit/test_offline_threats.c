/*
 * test_offline_threats.c - the payee's offline defences, end to end at the
 * library level: real wallets (ducat/wallet.h) on both sides, the real
 * session engines (ducat/proto.h) moving 255-byte frames, and the payee's
 * host loop as an app would write it (trust from the wallet's last sync,
 * the wallet's seen-set as the fork detector, accept_coins, commit).
 *
 * test_proto.c checks dc_payment_verify rule by rule with a toy seen-set,
 * test_session.c the engine's framing and re-sends, test_wallet.c the file
 * format byte by byte; this file names each threat of the offline payment
 * and checks, through all of them at once, that the payee refuses it with
 * its own error, that the session ends FAILED with that error, and that
 * the payee's wallet (its plaintext, hence every coin, seen entry and
 * history line) and its file on disk are unchanged.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/proto.h"
#include "ducat/wallet.h"
#include "test.h"
#include "wallet_fixture.h"

#define NOW (T0 + DAY)
#define PASS "payee passphrase"
#define PASS_LEN (sizeof PASS - 1)

static struct world W;
static const struct dc_wallet_kdf FAST = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
static char dir[64], bob_path[128];
static struct dc_wallet *bob;         /* the payee */
static struct dc_session PE, PR;      /* payee and payer sessions */
static uint8_t req[DC_REQUEST_BYTES]; /* the payee's current request */
static uint8_t pay[DC_PAYMENT_MAX_BYTES];
static size_t pay_len;

/* ---- Wallets ---------------------------------------------------------- */

static struct dc_wallet *wallet_of(const struct party *p, uint8_t tag)
{
    struct dc_wallet *w;
    ASSERT_OK(wallet_of_party(&w, &W, p, tag));
    return w;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = malloc(1 << 20);
    if (!b) abort();
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(b, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

/* What "the payee's state" is: the plaintext (coins, seen-set, history)
 * and the file bytes. */
struct snapshot {
    uint8_t *plain, *file;
    size_t plain_len, file_len;
};

static void snap(struct snapshot *s)
{
    size_t n = 0;
    ASSERT_ERR(dc_wallet_encode_plain(bob, NULL, 0, &n), DC_ERR_BUFFER_TOO_SMALL);
    s->plain = malloc(n);
    ASSERT(s->plain);
    ASSERT_OK(dc_wallet_encode_plain(bob, s->plain, n, &s->plain_len));
    s->file = read_file(bob_path, &s->file_len);
    ASSERT(s->file);
}

static void same_as(struct snapshot *s)
{
    struct snapshot now;
    snap(&now);
    ASSERT(now.plain_len == s->plain_len && memcmp(now.plain, s->plain, s->plain_len) == 0);
    ASSERT(now.file_len == s->file_len && memcmp(now.file, s->file, s->file_len) == 0);
    sodium_memzero(now.plain, now.plain_len);
    sodium_memzero(s->plain, s->plain_len);
    free(now.plain);
    free(now.file);
    free(s->plain);
    free(s->file);
}

static int64_t held(struct dc_wallet *w)
{
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(w, NOW, 0, &b));
    return b.held;
}

/* Removes the payee's directory at exit, whichever tests ran (no test may
 * depend on another having run first, so cleaning up is not a test). */
static void cleanup(void)
{
    dc_wallet_free(bob);
    bob = NULL;
    unlink(bob_path);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", bob_path);
    unlink(tmp);
    rmdir(dir);
}

/* A fresh payee: Bob's wallet, committed to its file. */
static void new_payee(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ducat-threats-XXXXXX");
        if (!mkdtemp(dir)) abort();
        snprintf(bob_path, sizeof bob_path, "%s/bob.wallet", dir);
        atexit(cleanup);
    }
    dc_wallet_free(bob);
    bob = wallet_of(&W.bob, 0xB0);
    ASSERT_OK(dc_wallet_save(bob, bob_path, PASS, PASS_LEN, &FAST, DC_WALLET_KEEP_KEY));
}

/* ---- Coins an attacker builds with the core (the wallet refuses to) ---- */

static size_t transfer(uint8_t *b, size_t len, const struct party *from, const struct party *to,
                       uint8_t nonce_tag)
{
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, nonce_tag);
    ASSERT_OK(dc_coin_transfer(b, DC_COIN_MAX_BYTES, &len, from->sk, to->cert_bytes, nonce));
    return len;
}

/* A payment of the given coins answering the current request. */
static void make_pay(const uint8_t *const *coins, const size_t *lens, size_t n)
{
    struct dc_payment p;
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, req, sizeof req);
    p.n = n;
    for (size_t i = 0; i < n; i++) {
        p.coin[i] = coins[i];
        p.coin_len[i] = lens[i];
    }
    ASSERT_OK(dc_payment_encode(pay, sizeof pay, &pay_len, &p));
}

static void make_pay1(const uint8_t *coin, size_t len)
{
    make_pay(&coin, &len, 1);
}

/* ---- The payee's side ------------------------------------------------- */

/* Starts the payee's session for `amount` with its nonce, and takes the
 * request's frames off the wire (into the payer when `to_payer`). */
static void payee_start(int64_t amount, uint8_t nonce_tag, int to_payer)
{
    struct dc_request r;
    memset(&r, 0, sizeof r);
    r.amount = amount;
    r.currency = CNY;
    r.payee = W.bob.cert;
    nonce_of(r.nonce, nonce_tag);
    r.time = NOW;
    ASSERT_OK(dc_session_payee_start(&PE, &r, dc_wallet_device_sk(bob), 0));
    size_t n;
    const uint8_t *q = dc_session_request(&PE, &n);
    ASSERT(q && n == sizeof req);
    memcpy(req, q, n);
    uint8_t buf[4096];
    size_t got = dc_session_pull(&PE, buf, sizeof buf);
    ASSERT(got > 0);
    if (to_payer) ASSERT_EQ(dc_session_push(&PR, buf, got), got);
}

/* The attacker puts `pay` on the wire in 255-byte PAYMENT frames, built by
 * hand so that even a payment whose own tag byte was altered is framed. */
static void deliver(void)
{
    uint8_t f[DC_FRAME_MAX];
    size_t count = (pay_len + DC_FRAME_PAYLOAD_MAX - 1) / DC_FRAME_PAYLOAD_MAX;
    for (size_t i = 0; i < count; i++) {
        size_t off = i * DC_FRAME_PAYLOAD_MAX;
        size_t n = pay_len - off < DC_FRAME_PAYLOAD_MAX ? pay_len - off : DC_FRAME_PAYLOAD_MAX;
        f[0] = DC_MSG_PAYMENT;
        f[1] = (uint8_t)i;
        f[2] = (uint8_t)(i >> 8);
        f[3] = (uint8_t)count;
        f[4] = (uint8_t)(count >> 8);
        f[5] = (uint8_t)n;
        memcpy(f + DC_FRAME_HEADER_BYTES, pay + off, n);
        dc_session_push(&PE, f, DC_FRAME_HEADER_BYTES + n); /* a FAILED session takes no more */
        if (dc_session_want(&PE) & DC_SESSION_FAILED) return;
    }
}

/*
 * The payee app's loop on a delivered payment: verify under its wallet's
 * trust and seen-set; on success accept the coins, commit the wallet file,
 * then let the receipt go. Returns the verification outcome.
 */
static enum dc_err payee_host(size_t *added)
{
    *added = 0;
    if (!(dc_session_want(&PE) & DC_SESSION_NEED_VERIFY)) return dc_session_error(&PE);
    struct dc_trust t;
    ASSERT_OK(dc_wallet_trust(bob, &t, NOW));
    struct dc_payment_check chk = {&t, dc_wallet_seen_check, bob, NULL};
    struct dc_payment_result res;
    enum dc_err e = dc_session_payee_verify(&PE, &res, &chk, dc_wallet_device_sk(bob), NOW);
    if (e != DC_OK) return e;
    struct dc_payment p;
    size_t len;
    const uint8_t *b = dc_session_payment(&PE, &len);
    ASSERT_OK(dc_payment_decode(&p, NULL, b, len));
    ASSERT_OK(dc_wallet_accept_coins(bob, p.coin, p.coin_len, p.n, NOW, added));
    ASSERT_OK(dc_wallet_commit(bob, bob_path));
    ASSERT_OK(dc_session_persisted(&PE));
    return DC_OK;
}

/* A threat: the payee refuses with `want`, FAILED, nothing changed. */
static void refused(enum dc_err want)
{
    struct snapshot before;
    snap(&before);
    int64_t h = held(bob);
    size_t added;
    deliver();
    ASSERT_ERR(payee_host(&added), want);
    ASSERT_EQ(dc_session_want(&PE), DC_SESSION_FAILED);
    ASSERT_ERR(dc_session_error(&PE), want);
    /* a refusal for good, not a failure to retry: the payer must not be led
     * to send the same coins again */
    ASSERT_EQ(dc_err_class(dc_session_error(&PE)), DC_CLASS_REFUSED);
    size_t n;
    ASSERT(dc_session_send_buf(&PE, &n) == NULL && n == 0); /* no receipt leaves */
    ASSERT_EQ(held(bob), h);
    same_as(&before);
}

/* The payer's host on NEED_COINS: checks the request under its own trust,
 * selects, signs with its wallet and hands the PAYMENT (left in `pay`) to
 * its engine, then makes it "durable". */
static void payer_host(struct dc_wallet *payer)
{
    ASSERT(dc_session_want(&PR) & DC_SESSION_NEED_COINS);
    size_t rlen;
    const uint8_t *rq = dc_session_request(&PR, &rlen);
    struct dc_request r;
    struct dc_trust t;
    ASSERT_OK(dc_request_decode(&r, rq, rlen));
    ASSERT_OK(dc_wallet_trust(payer, &t, NOW));
    ASSERT_OK(dc_request_verify(&r, &t));
    struct dc_wallet_plan plan;
    ASSERT_OK(dc_wallet_select(&plan, payer, r.amount, NOW, DAY));
    uint8_t cert[DC_DEVCERT_BYTES];
    dc_devcert_encode(cert, &r.payee);
    struct dc_wallet_outgoing out;
    ASSERT_OK(dc_wallet_prepare_payment(payer, &out, &plan, cert, r.nonce, NOW));
    make_pay(out.coin, out.coin_len, out.n);
    ASSERT_OK(dc_session_payer_pay(&PR, pay, pay_len));
    ASSERT_OK(dc_session_persisted(&PR));
}

/* An honest payment from `payer` through both engines and both hosts; the
 * PAYMENT bytes stay in `pay`. Returns what the payee added. */
static size_t honest_payment(struct dc_wallet *payer, int64_t amount, uint8_t nonce_tag)
{
    ASSERT_OK(dc_session_payer_start(&PR, 0));
    payee_start(amount, nonce_tag, 1);
    payer_host(payer);
    /* the payment crosses the wire frame by frame */
    uint8_t buf[DC_FRAME_MAX];
    size_t n;
    while ((n = dc_session_pull(&PR, buf, sizeof buf)) > 0) {
        ASSERT_EQ(dc_session_push(&PE, buf, n), n);
    }
    size_t added;
    ASSERT_OK(payee_host(&added));
    uint8_t rbuf[1024];
    n = dc_session_pull(&PE, rbuf, sizeof rbuf);
    ASSERT_EQ(n, DC_RECEIPT_BYTES + DC_FRAME_HEADER_BYTES);
    ASSERT_EQ(dc_session_push(&PR, rbuf, n), n);
    ASSERT_EQ(dc_session_want(&PR), DC_SESSION_DONE);
    ASSERT(dc_session_want(&PE) & DC_SESSION_DONE);
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, nonce_tag);
    ASSERT_OK(dc_wallet_confirm_payment(payer, W.bob.pk, nonce));
    return added;
}

/* Alice's wallet holding one fresh coin of `value`. */
static struct dc_wallet *alice_with(int64_t value, uint8_t tag, uint8_t hop_limit)
{
    struct dc_wallet *a = wallet_of(&W.alice, 0xA1);
    uint8_t c[DC_COIN_MAX_BYTES];
    size_t len = issue(&W, c, sizeof c, value, &W.alice, tag, hop_limit);
    const uint8_t *cp = c;
    size_t added;
    ASSERT_OK(dc_wallet_accept_coins(a, &cp, &len, 1, NOW, &added));
    ASSERT_EQ(added, 1);
    return a;
}

/* ---- Tests ------------------------------------------------------------ */

static void setup(void)
{
    world_init(&W);
    new_payee();
}

/* The control: an honest payment goes through, and is counted once. */
static void test_honest_payment_accepted(void)
{
    setup();
    struct dc_wallet *alice = alice_with(100, 1, 16);
    ASSERT_EQ(honest_payment(alice, 100, 0x55), 1);
    ASSERT_EQ(held(bob), 100);
    ASSERT_EQ(held(alice), 0);
    /* the committed file holds it */
    struct dc_wallet *back;
    ASSERT_OK(dc_wallet_load(&back, bob_path, PASS, PASS_LEN, 0));
    ASSERT_EQ(held(back), 100);
    dc_wallet_free(back);
    dc_wallet_free(alice);
}

static void test_forged_genesis(void)
{
    setup();
    /* a genesis "issued" by Alice's own key under key id 1 */
    struct dc_genesis g;
    uint8_t c[DC_COIN_MAX_BYTES];
    genesis_of(&g, 100, &W.alice, 9, 16);
    size_t len;
    ASSERT_OK(dc_coin_issue(c, sizeof c, &len, &g, W.alice.sk));
    payee_start(100, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    refused(DC_ERR_COIN_FORGED);
}

/* Every single byte of an honest 1-hop PAYMENT altered in transit, one at
 * a time: never accepted, never a change at the payee. */
static void test_altered_in_transit(void)
{
    setup();
    struct dc_wallet *alice = alice_with(100, 2, 16);
    /* the honest bytes, as Alice's engine sends them */
    ASSERT_OK(dc_session_payer_start(&PR, 0));
    payee_start(100, 0x55, 1);
    payer_host(alice);
    static uint8_t orig[DC_PAYMENT_MAX_BYTES];
    size_t orig_len = pay_len;
    memcpy(orig, pay, pay_len);
    /* the value's low byte inside the genesis: the issuer's signature fails */
    size_t value_at = DC_PAYMENT_HEADER_BYTES + 2 + DC_COIN_HEADER_BYTES + 2 + 4 + 16 + 4;
    payee_start(100, 0x55, 0);
    memcpy(pay, orig, orig_len);
    pay[value_at] ^= 0x01;
    refused(DC_ERR_COIN_FORGED);
    /* the transfer's nonce: the record no longer carries the owner's
     * signature (the core names it: not signed by the current owner) */
    payee_start(100, 0x55, 0);
    memcpy(pay, orig, orig_len);
    pay[orig_len - DC_SIG_BYTES - 1] ^= 0x01;
    refused(DC_ERR_NOT_OWNER);
    /* every byte flipped in turn: each refused for good with a registered
     * error, and the refusals name what broke (several distinct errors, not
     * one catch-all) */
    enum dc_err seen[16];
    size_t n_seen = 0;
    for (size_t i = 0; i < orig_len; i++) {
        payee_start(100, 0x55, 0);
        memcpy(pay, orig, orig_len);
        pay[i] ^= 0x20;
        pay_len = orig_len;
        size_t added;
        deliver();
        enum dc_err e = payee_host(&added);
        if (e == DC_OK) FAIL_AT("byte %zu altered: accepted", i);
        ASSERT_EQ(dc_session_want(&PE), DC_SESSION_FAILED);
        enum dc_err got;
        if (!dc_err_from_code(&got, (int)e)) FAIL_AT("byte %zu: unregistered error %d", i, (int)e);
        if (dc_err_class(e) != DC_CLASS_REFUSED) {
            FAIL_AT("byte %zu altered: %s is not a refusal", i, dc_err_name(e));
        }
        size_t k = 0;
        while (k < n_seen && seen[k] != e) k++;
        if (k == n_seen && n_seen < sizeof seen / sizeof seen[0]) seen[n_seen++] = e;
    }
    printf("# %zu bytes altered one at a time: %zu distinct refusals\n", orig_len, n_seen);
    ASSERT(n_seen >= 4);
    ASSERT_EQ(held(bob), 0);
    ASSERT_EQ(dc_wallet_coin_count(bob), 0);
    ASSERT_EQ(dc_wallet_seen_count(bob), 0);
    /* and the unaltered bytes are accepted: the loop above tested something */
    payee_start(100, 0x55, 0);
    memcpy(pay, orig, orig_len);
    pay_len = orig_len;
    deliver();
    size_t added;
    ASSERT_OK(payee_host(&added));
    ASSERT_EQ(held(bob), 100);
    dc_wallet_free(alice);
}

static void test_split_not_conserving(void)
{
    setup();
    uint8_t c[DC_COIN_MAX_BYTES], body[3 + 8 * 2];
    size_t len = issue(&W, c, sizeof c, 500, &W.alice, 3, 16);
    /* 500 -> 300 + 300, signed by the owner: 100 out of thin air */
    body[0] = DC_TYPE_SPLIT;
    body[1] = 1;
    body[2] = 2;
    dc_store64_le(body + 3, 300);
    dc_store64_le(body + 11, 300);
    ASSERT_OK(append_raw(c, &len, body, sizeof body, W.alice.sk, 0));
    payee_start(300, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    refused(DC_ERR_SPLIT_SUM);
}

static void test_expired_coin(void)
{
    setup();
    struct dc_genesis g;
    uint8_t c[DC_COIN_MAX_BYTES];
    genesis_of(&g, 100, &W.alice, 4, 16);
    g.expires_at = T0 + DAY / 2; /* the payee's clock says T0 + DAY */
    size_t len;
    ASSERT_OK(dc_coin_issue(c, sizeof c, &len, &g, W.key_sk));
    payee_start(100, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    refused(DC_ERR_COIN_EXPIRED);
}

static void test_hop_limit_exceeded(void)
{
    setup();
    uint8_t c[DC_COIN_MAX_BYTES], body[DC_TRANSFER_BYTES];
    size_t len = issue(&W, c, sizeof c, 100, &W.alice, 5, 2);
    len = transfer(c, len, &W.alice, &W.carol, 0x31);
    len = transfer(c, len, &W.carol, &W.alice, 0x32); /* both hops used */
    payee_start(100, 0x55, 0);
    /* a third transfer, built by hand because dc_coin_transfer refuses it */
    body[0] = DC_TYPE_TRANSFER;
    body[1] = 1;
    memcpy(body + 2, W.bob.cert_bytes, DC_DEVCERT_BYTES);
    nonce_of(body + 2 + DC_DEVCERT_BYTES, 0x55);
    ASSERT_OK(append_raw(c, &len, body, DC_TRANSFER_BYTES - DC_SIG_BYTES, W.alice.sk, -1));
    make_pay1(c, len);
    refused(DC_ERR_HOP_LIMIT);
}

static void test_amount_not_the_request(void)
{
    setup();
    uint8_t c[DC_COIN_MAX_BYTES];
    /* more than asked: a payee must not be handed change it did not want */
    size_t len = issue(&W, c, sizeof c, 100, &W.alice, 6, 16);
    payee_start(60, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    refused(DC_ERR_PAY_AMOUNT);
    /* less than asked */
    len = issue(&W, c, sizeof c, 100, &W.alice, 6, 16);
    payee_start(200, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    refused(DC_ERR_PAY_AMOUNT);
    /* the same coin twice to make up the sum */
    len = issue(&W, c, sizeof c, 100, &W.alice, 6, 16);
    payee_start(200, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    const uint8_t *two[2] = {c, c};
    size_t two_len[2] = {len, len};
    make_pay(two, two_len, 2);
    refused(DC_ERR_PAY_DUPLICATE_COIN);
}

static void test_revoked_payer_device(void)
{
    setup();
    /* Bob's last sync listed Alice's device as revoked (she double spent) */
    struct dc_wallet_params prm;
    wallet_params_of(&prm, &W);
    const uint8_t(*list)[DC_PUBKEY_BYTES] = (const uint8_t(*)[DC_PUBKEY_BYTES])W.alice.pk;
    ASSERT_OK(dc_wallet_set_trust(bob, &prm, W.keycert_bytes, 1, NULL, list, 1));
    ASSERT_OK(dc_wallet_commit(bob, bob_path));
    struct dc_wallet *alice = alice_with(100, 7, 16);
    /* Alice's own engine and wallet build a well-formed payment */
    ASSERT_OK(dc_session_payer_start(&PR, 0));
    payee_start(100, 0x55, 1);
    payer_host(alice);
    refused(DC_ERR_CERT_REVOKED);
    dc_wallet_free(alice);
}

/* The same payment delivered again: accepted once, never counted twice. */
static void test_replayed_payment(void)
{
    setup();
    struct dc_wallet *alice = alice_with(100, 8, 16);
    ASSERT_EQ(honest_payment(alice, 100, 0x55), 1);
    ASSERT_EQ(held(bob), 100);
    static uint8_t orig[DC_PAYMENT_MAX_BYTES];
    size_t orig_len = pay_len;
    memcpy(orig, pay, pay_len);
    struct snapshot before;

    /* 1. again on the same link: the engine re-sends the same receipt */
    snap(&before);
    uint8_t sink[1024];
    deliver();
    ASSERT_EQ(dc_session_pull(&PE, sink, sizeof sink), DC_RECEIPT_BYTES + DC_FRAME_HEADER_BYTES);
    ASSERT(dc_session_want(&PE) & DC_SESSION_DONE);
    same_as(&before);

    /* 2. to a payee restored from before its receipt left (same request):
     * verified again, accepted again, credited once */
    payee_start(100, 0x55, 0);
    memcpy(pay, orig, orig_len);
    pay_len = orig_len;
    deliver();
    size_t added = 9;
    ASSERT_OK(payee_host(&added));
    ASSERT_EQ(added, 0);
    ASSERT_EQ(held(bob), 100);
    ASSERT_EQ(dc_wallet_history_count(bob), 1);

    /* 3. against a new request: the old payment answers another one */
    payee_start(100, 0x56, 0);
    refused(DC_ERR_PAY_WRONG_REQUEST);

    /* 4. the old coins re-wrapped for the new request: their transfer still
     * carries the old nonce, so the replay cannot frame anyone */
    payee_start(100, 0x56, 0);
    struct dc_payment p;
    ASSERT_OK(dc_payment_decode(&p, NULL, orig, orig_len));
    make_pay(p.coin, p.coin_len, p.n);
    refused(DC_ERR_NONCE_MISMATCH);
    dc_wallet_free(alice);
}

/* A second, different successor of a state the payee holds: a double
 * spend, refused on the spot, with no network. */
static void test_fork_on_the_spot(void)
{
    setup();
    uint8_t c[DC_COIN_MAX_BYTES], twin[DC_COIN_MAX_BYTES];
    size_t base = issue(&W, c, sizeof c, 100, &W.alice, 10, 16);
    memcpy(twin, c, base);
    /* first spend, accepted */
    payee_start(100, 0x55, 0);
    size_t len = transfer(c, base, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    deliver();
    size_t added;
    ASSERT_OK(payee_host(&added));
    ASSERT_EQ(added, 1);
    ASSERT_EQ(held(bob), 100);
    /* Alice signs the same genesis state away again, to Bob's next request
     * (her wallet would refuse: she uses the core directly) */
    payee_start(100, 0x66, 0);
    len = transfer(twin, base, &W.alice, &W.bob, 0x66);
    make_pay1(twin, len);
    refused(DC_ERR_FORK_DETECTED);
    /* deeper: the fork below a state reached through the payee's own coin */
    uint8_t d[DC_COIN_MAX_BYTES], dtwin[DC_COIN_MAX_BYTES];
    size_t dl = issue(&W, d, sizeof d, 50, &W.carol, 11, 16);
    dl = transfer(d, dl, &W.carol, &W.alice, 0x21);
    memcpy(dtwin, d, dl);
    payee_start(50, 0x57, 0);
    size_t l1 = transfer(d, dl, &W.alice, &W.bob, 0x57);
    make_pay1(d, l1);
    deliver();
    ASSERT_OK(payee_host(&added));
    payee_start(50, 0x58, 0);
    size_t l2 = transfer(dtwin, dl, &W.alice, &W.bob, 0x58);
    make_pay1(dtwin, l2);
    refused(DC_ERR_FORK_DETECTED);
    ASSERT_EQ(held(bob), 150);
}

static void test_wrong_nonce(void)
{
    setup();
    uint8_t c[DC_COIN_MAX_BYTES];
    size_t len = issue(&W, c, sizeof c, 100, &W.alice, 12, 16);
    /* a transfer made for another of Bob's requests (an old nonce) */
    len = transfer(c, len, &W.alice, &W.bob, 0x54);
    payee_start(100, 0x55, 0);
    make_pay1(c, len);
    refused(DC_ERR_NONCE_MISMATCH);
    /* and one to another receiver */
    len = issue(&W, c, sizeof c, 100, &W.alice, 12, 16);
    len = transfer(c, len, &W.alice, &W.carol, 0x55);
    payee_start(100, 0x55, 0);
    make_pay1(c, len);
    refused(DC_ERR_WRONG_RECEIVER);
}

/* Garbage on the link, and a payment armored for copy-paste with a typo:
 * clear errors, nothing changes. */
static void test_garbage_input(void)
{
    setup();
    struct snapshot before;
    snap(&before);
    payee_start(100, 0x55, 0);
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    dc_session_push(&PE, junk, sizeof junk);
    ASSERT_EQ(dc_session_want(&PE), DC_SESSION_FAILED);
    ASSERT_ERR(dc_session_error(&PE), DC_ERR_DECODE_TYPE);
    /* an armored payment with one character changed */
    uint8_t c[DC_COIN_MAX_BYTES];
    size_t len = issue(&W, c, sizeof c, 100, &W.alice, 13, 16);
    payee_start(100, 0x55, 0);
    len = transfer(c, len, &W.alice, &W.bob, 0x55);
    make_pay1(c, len);
    static char text[4 * DC_PAYMENT_MAX_BYTES];
    size_t tl;
    ASSERT_OK(dc_armor_encode(text, sizeof text, &tl, DC_ARMOR_PAYMENT, pay, pay_len));
    text[40] = text[40] == 'A' ? 'B' : 'A';
    size_t got = 1;
    ASSERT_ERR(dc_armor_decode(pay, sizeof pay, &got, DC_ARMOR_PAYMENT, text, tl),
               DC_ERR_ARMOR_CHECKSUM);
    ASSERT_EQ(got, 0);
    ASSERT_ERR(
        dc_armor_decode(pay, sizeof pay, &got, DC_ARMOR_PAYMENT, "ducat:payment:1:!!:00", 21),
        DC_ERR_ARMOR_SYNTAX);
    same_as(&before);
}

/* The payee's wallet file after it received coins: a wrong passphrase, a
 * cut, a flipped byte and garbage each give their own error, hand out no
 * wallet and leave the file as it was; the right passphrase then opens
 * exactly what was committed. */
static void file_case(const uint8_t *bytes, size_t n, const char *pass, enum dc_err want)
{
    write_file(bob_path, bytes, n);
    struct dc_wallet *w = (struct dc_wallet *)1;
    ASSERT_ERR(dc_wallet_load(&w, bob_path, pass, strlen(pass), 0), want);
    ASSERT(w == NULL);
    size_t now_len;
    uint8_t *now = read_file(bob_path, &now_len);
    ASSERT(now && now_len == n && memcmp(now, bytes, n) == 0);
    free(now);
}

static void test_wallet_file_after_receiving(void)
{
    setup();
    struct dc_wallet *alice = alice_with(100, 14, 16);
    ASSERT_EQ(honest_payment(alice, 100, 0x55), 1);
    size_t len;
    uint8_t *orig = read_file(bob_path, &len);
    ASSERT(orig && len > DC_WALLET_HEADER_BYTES);
    uint8_t *bad = malloc(len);
    ASSERT(bad);
    struct dc_wallet *w;
    /* wrong passphrase */
    file_case(orig, len, "wrong", DC_ERR_WALLET_PASSPHRASE);
    file_case(orig, len, "", DC_ERR_WALLET_PASSPHRASE);
    /* cut in the header, cut in the body */
    file_case(orig, 50, PASS, DC_ERR_WALLET_TRUNCATED);
    file_case(orig, len - 1, PASS, DC_ERR_WALLET_TRUNCATED);
    /* a flipped salt byte (would derive another key: not "wrong passphrase"),
     * a flipped ciphertext byte */
    memcpy(bad, orig, len);
    bad[30] ^= 0x04;
    file_case(bad, len, PASS, DC_ERR_WALLET_CORRUPT);
    memcpy(bad, orig, len);
    bad[len - 20] ^= 0x04;
    file_case(bad, len, PASS, DC_ERR_WALLET_CORRUPT);
    /* garbage */
    for (size_t i = 0; i < len; i++) bad[i] = (uint8_t)(i * 91 + 3);
    file_case(bad, len, PASS, DC_ERR_WALLET_NOT_WALLET);
    write_file(bob_path, orig, len);
    ASSERT_OK(dc_wallet_load(&w, bob_path, PASS, PASS_LEN, 0));
    ASSERT_EQ(held(w), 100);
    ASSERT_EQ(dc_wallet_seen_count(w), dc_wallet_seen_count(bob));
    dc_wallet_free(w);
    free(bad);
    free(orig);
    dc_wallet_free(alice);
}

TESTS(T(test_honest_payment_accepted), T(test_forged_genesis), T(test_altered_in_transit),
      T(test_split_not_conserving), T(test_expired_coin), T(test_hop_limit_exceeded),
      T(test_amount_not_the_request), T(test_revoked_payer_device), T(test_replayed_payment),
      T(test_fork_on_the_spot), T(test_wrong_nonce), T(test_garbage_input),
      T(test_wallet_file_after_receiving))

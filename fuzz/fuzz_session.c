/*
 * fuzz_session.c - the session engine fed with arbitrary bytes, and with
 * saved contexts altered at random (a context read back from disk is input
 * too).
 *
 * Input: byte 0 is the mode.
 *   bit 7 clear: bit 0 role (0 payee, 1 payer), bits 1-2 frame size
 *     (255/32/16/64), bits 3-4 delivery chunk (1/7/64/all bytes), bit 5
 *     reconnect halfway; the rest is the peer's byte stream. A host answers
 *     every want: the payer pays with the fixture's payment, the payee
 *     verifies under the fixture's trust, both persist at once.
 *   bit 7 set: bits 0-1 pick a saved context (payee fresh, payee holding a
 *     payment, payee done, payer mid-payment); the rest is (pos:u16, xor:u8)
 *     triples applied to it; then every entry point is called on it.
 * Properties: no out-of-bounds access; the engine never leaves a consistent
 * context inconsistent (dc_session_check); FAILED comes alone and with an
 * error, never an error without FAILED; a payer is DONE only holding a
 * receipt that verifies, a payee only after a verification succeeded; the
 * same input on a copied context ends in the same bytes (determinism).
 * Seeds: tests/unit/test_session.c with DC_WRITE_CORPUS=1.
 */
#include "ducat/proto.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct world W;
static int ready;
static struct dc_request R;
static uint8_t PAY[DC_PAYMENT_MAX_BYTES];
static size_t PAY_LEN;
static struct dc_session S, S2, SNAP[4];
static uint8_t sink[1 << 16];

static void build_payment(void)
{
    static uint8_t coin[DC_COIN_MAX_BYTES];
    uint8_t req[DC_REQUEST_BYTES], nonce[DC_NONCE_BYTES];
    struct dc_request r = R;
    if (dc_request_sign(req, &r, W.bob.sk) != DC_OK) abort();
    nonce_of(nonce, 0x55);
    size_t len = issue(&W, coin, sizeof coin, 100, &W.alice, 1, 32);
    if (dc_coin_transfer(coin, sizeof coin, &len, W.alice.sk, W.bob.cert_bytes, nonce) != DC_OK) {
        abort();
    }
    struct dc_payment p;
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, req, sizeof req);
    p.n = 1;
    p.coin[0] = coin;
    p.coin_len[0] = len;
    if (dc_payment_encode(PAY, sizeof PAY, &PAY_LEN, &p) != DC_OK) abort();
}

/* Answers whatever the session needs; returns 1 if a verification passed. */
static int host(struct dc_session *s)
{
    int verified = 0;
    for (int guard = 0; guard < 8; guard++) {
        unsigned w = dc_session_want(s);
        if (w & DC_SESSION_NEED_COINS) {
            if (dc_session_payer_pay(s, PAY, PAY_LEN) != DC_OK) break;
        } else if (w & DC_SESSION_NEED_VERIFY) {
            struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
            if (dc_session_payee_verify(s, NULL, &chk, W.bob.sk, T0 + 2000) != DC_OK) break;
            verified = 1;
        } else if (w & DC_SESSION_NEED_PERSIST) {
            if (dc_session_persisted(s) != DC_OK) abort();
        } else {
            break;
        }
    }
    while (dc_session_pull(s, sink, sizeof sink) != 0) {
    }
    return verified;
}

static void check(const struct dc_session *s, int strict, int verified)
{
    if (dc_session_check(s) != DC_OK) abort();
    unsigned w = dc_session_want(s);
    enum dc_err e = dc_session_error(s);
    if ((w & DC_SESSION_FAILED) && (w != DC_SESSION_FAILED || e == DC_OK)) abort();
    if (!(w & DC_SESSION_FAILED) && e != DC_OK) abort();
    if (!strict || !(w & DC_SESSION_DONE)) return;
    if (s->role == DC_ROLE_PAYEE) {
        if (!verified) abort();
        return;
    }
    size_t rl, ql;
    const uint8_t *rc = dc_session_receipt(s, &rl), *rq = dc_session_request(s, &ql);
    struct dc_receipt r;
    struct dc_request q;
    if (!rc || !rq || dc_receipt_decode(&r, rc, rl) != DC_OK ||
        dc_request_decode(&q, rq, ql) != DC_OK || dc_receipt_check(&r, q.payee.pub) != DC_OK) {
        abort();
    }
}

static void init(void)
{
    world_init(&W);
    memset(&R, 0, sizeof R);
    R.amount = 100;
    R.currency = CNY;
    R.payee = W.bob.cert;
    nonce_of(R.nonce, 0x55);
    R.time = T0 + 1000;
    build_payment();
    /* saved contexts: payee fresh; payee holding the payment; payee done;
     * payer having sent 40 bytes (a frame and a bit) of its payment */
    static uint8_t frames[1 << 15], reqf[DC_FRAME_MAX * 2];
    if (dc_session_payee_start(&SNAP[0], &R, W.bob.sk, 0) != DC_OK) abort();
    SNAP[1] = SNAP[0];
    size_t rn = dc_session_pull(&SNAP[1], reqf, sizeof reqf);
    size_t n = 0;
    for (size_t i = 0; i < dc_frame_count(PAY_LEN, 64); i++) {
        size_t fl;
        if (dc_frame_encode(frames + n, sizeof frames - n, &fl, PAY, PAY_LEN, 64, i) != DC_OK) {
            abort();
        }
        n += fl;
    }
    dc_session_push(&SNAP[1], frames, n);
    SNAP[2] = SNAP[1];
    if (!host(&SNAP[2]) || !(dc_session_want(&SNAP[2]) & DC_SESSION_DONE)) abort();
    if (dc_session_payer_start(&SNAP[3], 32) != DC_OK) abort();
    dc_session_push(&SNAP[3], reqf, rn);
    if (dc_session_payer_pay(&SNAP[3], PAY, PAY_LEN) != DC_OK) abort();
    if (dc_session_persisted(&SNAP[3]) != DC_OK) abort();
    dc_session_pull(&SNAP[3], sink, 40);
    for (int i = 0; i < 4; i++) {
        if (dc_session_check(&SNAP[i]) != DC_OK) abort();
    }
}

static void drive(struct dc_session *s, const uint8_t *d, size_t n, uint8_t mode)
{
    static const unsigned fmax[4] = {255, 32, 16, 64};
    static const size_t chunk[4] = {1, 7, 64, (size_t)-1};
    size_t step = chunk[(mode >> 3) & 3];
    int reconnect = (mode & 0x20) != 0, verified = 0;
    if (mode & 1) {
        if (dc_session_payer_start(s, fmax[(mode >> 1) & 3]) != DC_OK) abort();
    } else if (dc_session_payee_start(s, &R, W.bob.sk, fmax[(mode >> 1) & 3]) != DC_OK) {
        abort();
    }
    verified |= host(s);
    for (size_t pos = 0; pos < n;) {
        size_t k = n - pos < step ? n - pos : step;
        if (reconnect && pos >= n / 2) {
            dc_session_reconnect(s, 0);
            reconnect = 0;
        }
        dc_session_push(s, d + pos, k);
        pos += k;
        verified |= host(s);
        check(s, 1, verified);
    }
}

static void poke(struct dc_session *s)
{
    size_t n;
    int strict = dc_session_check(s) == DC_OK;
    (void)dc_session_want(s);
    (void)dc_session_error(s);
    (void)dc_session_send_buf(s, &n);
    (void)dc_session_recv_buf(s, &n);
    (void)dc_session_request(s, &n);
    (void)dc_session_payment(s, &n);
    (void)dc_session_receipt(s, &n);
    host(s);
    if (strict) check(s, 0, 0);
    dc_session_reconnect(s, 32);
    host(s);
    if (strict) check(s, 0, 0);
    /* feed it the fixture payment's frames, as a payee would get them */
    uint8_t f[DC_FRAME_MAX];
    for (size_t i = 0; i < dc_frame_count(PAY_LEN, 255); i++) {
        size_t fl;
        if (dc_frame_encode(f, sizeof f, &fl, PAY, PAY_LEN, 255, i) != DC_OK) abort();
        dc_session_push(s, f, fl);
        host(s);
        if (strict) check(s, 0, 0);
    }
    dc_session_send_ack(s, 3);
    dc_session_recv_ack(s, 3);
    if (strict) check(s, 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        init();
        ready = 1;
    }
    if (size < 1) return 0;
    uint8_t mode = data[0];
    if (mode & 0x80) {
        memcpy(&S, &SNAP[mode & 3], sizeof S);
        for (size_t i = 1; i + 3 <= size; i += 3) {
            size_t pos = (size_t)(data[i] | data[i + 1] << 8) % sizeof S;
            ((uint8_t *)&S)[pos] ^= data[i + 2];
        }
        memcpy(&S2, &S, sizeof S);
        poke(&S);
        poke(&S2);
    } else {
        drive(&S, data + 1, size - 1, mode);
        drive(&S2, data + 1, size - 1, mode);
    }
    if (memcmp(&S, &S2, sizeof S) != 0) abort();
    return 0;
}

/*
 * test_apdu.c - tap to pay in memory: the reader engine (payee terminal)
 * and the card responder (payer phone) exchange real APDU bytes, short with
 * chaining and GET RESPONSE or extended; 1 and 10 hops. The field is dropped
 * after every APDU (before the card saw it, or after it answered and the
 * answer was lost) and the tap repeated with a fresh card context and the
 * payee's last durable session: paid once, the payer's wallet built one
 * payment, the coins kept once. Then the card alone: wrong AID, wrong class
 * and instruction, bad lengths, chaining out of order, GET RESPONSE with
 * nothing pending, refusals; and the seed corpus of fuzz/fuzz_apdu.c
 * (DC_WRITE_CORPUS=1).
 */
#include <sys/stat.h>

#include "ducat/apdu.h"
#include "fixture.h"
#include "test.h"

static struct world W;

/* A coin of `value` issued to Alice after `hops` transfers (Alice and Carol
 * in turn), the last to Bob with `nonce`. */
static size_t make_coin(uint8_t *buf, int64_t value, int hops, const uint8_t nonce[DC_NONCE_BYTES],
                        uint8_t serial_tag)
{
    const struct party *owner = &W.alice;
    size_t len = issue(&W, buf, DC_COIN_MAX_BYTES, value, owner, serial_tag, 32);
    for (int i = 1; i <= hops; i++) {
        const struct party *next = i == hops ? &W.bob : owner == &W.alice ? &W.carol : &W.alice;
        uint8_t n[DC_NONCE_BYTES];
        if (i == hops) {
            memcpy(n, nonce, DC_NONCE_BYTES);
        } else {
            nonce_of(n, (uint8_t)(0x80 + i));
        }
        ASSERT_OK(dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, owner->sk, next->cert_bytes, n));
        owner = next;
    }
    return len;
}

/* ---- The two hosts ------------------------------------------------------ */

static struct {
    int hops, ncoins;
    unsigned seg; /* dc_apdu_chain's segment size */
    /* payee: the live session and what it last made durable, with the coins */
    struct dc_session s, durable;
    int64_t kept; /* value of the coins kept (once per payment) */
    size_t keeps; /* durable writes of coins */
    uint8_t kept_hash[DC_HASH_BYTES];
    /* payer: its wallet (one payment per request, saved before it leaves) */
    uint8_t pay[DC_PAYMENT_MAX_BYTES];
    size_t pay_len, builds, confirms;
    uint8_t pay_req_hash[DC_HASH_BYTES];
    struct dc_card card;
    struct dc_tap rd;
    size_t apdus; /* APDUs of the last tap */
    size_t bytes; /* bytes both ways of the last tap */
} H;

static uint8_t RSP[DC_APDU_RSP_MAX];

static void setup(int ncoins, int hops, unsigned seg)
{
    struct dc_request r;
    memset(&H, 0, sizeof H);
    H.hops = hops;
    H.ncoins = ncoins;
    H.seg = seg;
    memset(&r, 0, sizeof r);
    r.amount = 100 * ncoins;
    r.currency = CNY;
    r.payee = W.bob.cert;
    nonce_of(r.nonce, 0x55);
    r.time = T0 + 1000;
    ASSERT_OK(dc_session_payee_start(&H.s, &r, W.bob.sk, 0));
    H.durable = H.s;
}

/* The payer's host on DC_CARD_PAY: checks the request, builds the payment
 * once (later taps find it again), "saves", answers. */
static size_t card_pay(void)
{
    static uint8_t coins[DC_PAYMENT_COINS_MAX][DC_COIN_MAX_BYTES];
    size_t len, out;
    const uint8_t *req = dc_card_message(&H.card, &len);
    struct dc_request r;
    uint8_t h[DC_HASH_BYTES];
    ASSERT(req && len == DC_REQUEST_BYTES);
    ASSERT_OK(dc_request_decode(&r, req, len));
    ASSERT_OK(dc_request_verify(&r, &W.trust));
    dc_request_hash(h, req, len);
    if (H.pay_len == 0) {
        struct dc_payment p;
        memset(&p, 0, sizeof p);
        memcpy(p.request_hash, h, DC_HASH_BYTES);
        p.n = (size_t)H.ncoins;
        for (int i = 0; i < H.ncoins; i++) {
            p.coin_len[i] = make_coin(coins[i], 100, H.hops, r.nonce, (uint8_t)(i + 1));
            p.coin[i] = coins[i];
        }
        ASSERT_OK(dc_payment_encode(H.pay, sizeof H.pay, &H.pay_len, &p));
        memcpy(H.pay_req_hash, h, DC_HASH_BYTES);
        H.builds++;
    }
    ASSERT_MEM(h, H.pay_req_hash, DC_HASH_BYTES); /* one request, one payment */
    ASSERT_OK(dc_card_answer(&H.card, H.pay, H.pay_len, RSP, sizeof RSP, &out));
    return out;
}

/* The payer's host on DC_CARD_CONFIRM: the receipt names this payment and
 * is signed by the payee. */
static size_t card_confirm(void)
{
    size_t len, out;
    const uint8_t *m = dc_card_message(&H.card, &len);
    struct dc_receipt rc;
    uint8_t ph[DC_HASH_BYTES];
    ASSERT(m != NULL);
    ASSERT_OK(dc_receipt_decode(&rc, m, len));
    ASSERT_OK(dc_receipt_check(&rc, W.bob.pk));
    dc_payment_hash(ph, H.pay, H.pay_len);
    ASSERT_MEM(ph, rc.payment_hash, DC_HASH_BYTES);
    H.confirms++;
    ASSERT_OK(dc_card_answer(&H.card, NULL, 0, RSP, sizeof RSP, &out));
    return out;
}

/* The card: one command in, one response out. */
static size_t card_transceive(const uint8_t *cmd, size_t len)
{
    size_t out;
    unsigned ev;
    ASSERT_OK(dc_card_apdu(&H.card, cmd, len, RSP, sizeof RSP, &out, &ev));
    if (ev == DC_CARD_PAY) return card_pay();
    if (ev == DC_CARD_CONFIRM) return card_confirm();
    ASSERT_EQ(ev, DC_CARD_NONE);
    return out;
}

/* The payee's host on DC_TAP_HOST: verify, keep the coins and the
 * session in one durable write (idempotent by payment), go on. */
static void reader_host(void)
{
    struct dc_payment_result res;
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
    if (dc_session_want(&H.s) & DC_SESSION_NEED_VERIFY) {
        ASSERT_OK(dc_session_payee_verify(&H.s, &res, &chk, W.bob.sk, T0 + 2000));
        ASSERT_EQ(res.total, 100 * H.ncoins);
    }
    if (dc_session_want(&H.s) & DC_SESSION_NEED_PERSIST) {
        size_t len;
        const uint8_t *p = dc_session_payment(&H.s, &len);
        uint8_t ph[DC_HASH_BYTES];
        dc_payment_hash(ph, p, len);
        if (H.keeps == 0 || memcmp(ph, H.kept_hash, DC_HASH_BYTES) != 0) {
            H.kept += 100 * H.ncoins;
            memcpy(H.kept_hash, ph, DC_HASH_BYTES);
        }
        H.keeps++;
        H.durable = H.s;
        ASSERT_OK(dc_session_persisted(&H.s));
    }
    dc_tap_resume(&H.rd, &H.s);
}

/*
 * One tap: a fresh card context, the payee's session as last made durable,
 * a new reader. drop_at > 0 drops the field at that APDU: mode 0 before the
 * card sees it, mode 1 after the card answered (the answer is lost).
 * Returns 1 if the tap completed (DONE), 0 if it was dropped.
 */
static int tap(size_t drop_at, int mode)
{
    H.s = H.durable;
    dc_session_reconnect(&H.s, 0);
    dc_card_init(&H.card);
    dc_tap_start(&H.rd, &H.s, H.seg);
    H.apdus = H.bytes = 0;
    for (int guard = 0; guard < 1000; guard++) {
        unsigned w = dc_tap_want(&H.rd, &H.s);
        if (w & DC_TAP_FAILED) FAIL_AT("reader failed: %s", dc_err_name(dc_tap_error(&H.rd)));
        if (w & DC_TAP_DONE) return 1;
        if (w & DC_TAP_HOST) {
            reader_host();
            continue;
        }
        size_t cl;
        const uint8_t *cmd = dc_tap_command(&H.rd, &cl);
        ASSERT(cmd && cl >= 4 && cl <= DC_TAP_CMD_MAX);
        H.apdus++;
        if (drop_at == H.apdus && mode == 0) return 0;
        size_t rl = card_transceive(cmd, cl);
        if (drop_at == H.apdus && mode == 1) return 0;
        H.bytes += cl + rl;
        dc_tap_response(&H.rd, &H.s, RSP, rl);
    }
    FAIL_AT("the tap did not end");
    return 0;
}

static void check_paid_once(void)
{
    ASSERT_EQ(H.builds, 1);
    ASSERT_EQ(H.kept, 100 * H.ncoins);
    ASSERT(H.confirms >= 1);
    ASSERT(dc_session_want(&H.s) & DC_SESSION_DONE);
}

static void full_tap(int ncoins, int hops, unsigned seg, size_t want_apdus)
{
    setup(ncoins, hops, seg);
    ASSERT(tap(0, 0));
    check_paid_once();
    ASSERT_EQ(H.confirms, 1);
    ASSERT_EQ(H.keeps, 1);
    if (want_apdus) ASSERT_EQ(H.rd.apdus, want_apdus);
    printf("# figure: %d coin(s) of %d hop(s), %s: %zu APDUs, %zu bytes\n", ncoins, hops,
           seg == DC_APDU_EXTENDED ? "extended" : "short", H.apdus, H.bytes);
}

static void test_tap_1_hop_short(void)
{
    /* SELECT, PAY (228 bytes; 256 of the 489-byte payment back), GET RESPONSE, CONFIRM */
    full_tap(1, 1, 0, 4);
}

static void test_tap_10_hops_short(void)
{
    /* a payment of 2,361 bytes: 256 in PAY's answer, then 9 GET RESPONSEs */
    full_tap(1, 10, 0, 12);
}

static void test_tap_10_hops_extended(void)
{
    full_tap(1, 10, DC_APDU_EXTENDED, 3); /* SELECT, PAY, CONFIRM */
}

static void test_tap_3_coins_chained(void)
{
    /* 100-byte segments: the request in 3 chained PAYs, the receipt in 2 CONFIRMs */
    full_tap(3, 2, 100, 0);
    ASSERT(H.rd.apdus > 7);
}

/* Every APDU boundary, both ways of dropping, then the tap repeated. */
static void drop_everywhere(int hops, unsigned seg)
{
    setup(1, hops, seg);
    ASSERT(tap(0, 0));
    size_t n = H.rd.apdus;
    for (int mode = 0; mode < 2; mode++) {
        for (size_t k = 1; k <= n; k++) {
            setup(1, hops, seg);
            ASSERT(!tap(k, mode));
            ASSERT(tap(0, 0));
            if (!(dc_session_want(&H.s) & DC_SESSION_DONE)) {
                FAIL_AT("drop at APDU %zu (mode %d): session wants %#x", k, mode,
                        dc_session_want(&H.s));
            }
            check_paid_once();
            ASSERT(H.keeps <= 2); /* at most once per tap that reached the payment */
        }
    }
    printf("# dropped at each of %zu APDUs, both ways: paid once every time\n", n);
}

static void test_dropped_everywhere_1_hop(void)
{
    drop_everywhere(1, 0);
}

static void test_dropped_everywhere_10_hops(void)
{
    drop_everywhere(10, 0);
    drop_everywhere(10, 100);
    drop_everywhere(10, DC_APDU_EXTENDED);
}

/* Two drops in a row, then the tap completes. */
static void test_dropped_twice(void)
{
    setup(1, 3, 100);
    ASSERT(!tap(4, 1));
    ASSERT(!tap(6, 0));
    ASSERT(tap(0, 0));
    check_paid_once();
}

/* ---- The card alone ---------------------------------------------------- */

static unsigned sw_of(const uint8_t *r, size_t n)
{
    ASSERT(n >= 2);
    return (unsigned)(r[n - 2] << 8 | r[n - 1]);
}

static unsigned send_raw(const uint8_t *cmd, size_t len)
{
    size_t out;
    unsigned ev;
    ASSERT_OK(dc_card_apdu(&H.card, cmd, len, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(ev, DC_CARD_NONE);
    return sw_of(RSP, out);
}

static const uint8_t SELECT[] = {0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44,
                                 0x55, 0x43, 0x41, 0x54, 0x01, 0x00};

static void test_select(void)
{
    size_t out;
    unsigned ev;
    dc_card_init(&H.card);
    ASSERT_OK(dc_card_apdu(&H.card, SELECT, sizeof SELECT, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(out, 16);
    ASSERT_EQ(RSP[0], 0x6F);
    ASSERT_MEM(RSP + 4, dc_apdu_aid, DC_APDU_AID_BYTES);
    ASSERT_EQ(sw_of(RSP, out), DC_SW_OK);
    uint8_t nofci[12];
    memcpy(nofci, SELECT, 12);
    nofci[3] = 0x0C;
    ASSERT_EQ(send_raw(nofci, 12), DC_SW_OK);
}

static void test_wrong_aid(void)
{
    uint8_t cmd[sizeof SELECT];
    dc_card_init(&H.card);
    memcpy(cmd, SELECT, sizeof cmd);
    cmd[11] = 0x02; /* version 2 of the application: not us */
    ASSERT_EQ(send_raw(cmd, sizeof cmd), DC_SW_NOT_FOUND);
    /* not selected: nothing else is served */
    uint8_t get[] = {0x00, 0xC0, 0x00, 0x00, 0x00};
    ASSERT_EQ(send_raw(get, sizeof get), DC_SW_CONDITIONS);
    uint8_t pay[] = {0x80, 0x50, 0x00, 0x00, 0x01, 0x40, 0x00};
    ASSERT_EQ(send_raw(pay, sizeof pay), DC_SW_CONDITIONS);
    /* selecting another application deselects ours */
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    ASSERT_EQ(send_raw(cmd, sizeof cmd), DC_SW_NOT_FOUND);
    ASSERT_EQ(send_raw(pay, sizeof pay), DC_SW_CONDITIONS);
    uint8_t bad_p1[sizeof SELECT];
    memcpy(bad_p1, SELECT, sizeof bad_p1);
    bad_p1[2] = 0x00; /* select by file id */
    ASSERT_EQ(send_raw(bad_p1, sizeof bad_p1), DC_SW_BAD_P1P2);
}

static void test_wrong_class_instruction(void)
{
    dc_card_init(&H.card);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    uint8_t c1[] = {0x80, 0x99, 0x00, 0x00};
    ASSERT_EQ(send_raw(c1, 4), DC_SW_INS);
    uint8_t c2[] = {0x00, 0x50, 0x00, 0x00, 0x01, 0x40}; /* PAY in class 00 */
    ASSERT_EQ(send_raw(c2, sizeof c2), DC_SW_CLA);
    uint8_t c3[] = {0x84, 0x50, 0x00, 0x00, 0x01, 0x40}; /* secure messaging */
    ASSERT_EQ(send_raw(c3, sizeof c3), DC_SW_CLA);
    uint8_t c4[] = {0x80, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44, 0x55, 0x43, 0x41, 0x54, 0x01};
    ASSERT_EQ(send_raw(c4, sizeof c4), DC_SW_CLA);
    uint8_t c5[] = {0xFF, 0x00, 0x00, 0x00};
    ASSERT_EQ(send_raw(c5, 4), DC_SW_CLA);
    uint8_t c6[] = {0x80, 0x50, 0x01, 0x00, 0x01, 0x40};
    ASSERT_EQ(send_raw(c6, sizeof c6), DC_SW_BAD_P1P2);
    uint8_t c7[] = {0x10, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44, 0x55, 0x43, 0x41, 0x54, 0x01};
    ASSERT_EQ(send_raw(c7, sizeof c7), DC_SW_CHAIN_UNSUPPORTED);
    uint8_t c8[] = {0x00, 0xC0, 0x00, 0x01, 0x10};
    ASSERT_EQ(send_raw(c8, sizeof c8), DC_SW_BAD_P1P2);
}

static void test_bad_lengths(void)
{
    dc_card_init(&H.card);
    ASSERT_EQ(send_raw(SELECT, 3), DC_SW_WRONG_LENGTH); /* no header */
    ASSERT_EQ(send_raw(SELECT, 8), DC_SW_WRONG_LENGTH); /* Lc 7, 3 bytes */
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT + 0), DC_SW_OK);
    uint8_t lc_big[] = {0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44,
                        0x55, 0x43, 0x41, 0x54, 0x01, 0x00, 0x00};
    ASSERT_EQ(send_raw(lc_big, sizeof lc_big), DC_SW_WRONG_LENGTH); /* a byte too many */
    uint8_t ext_zero[] = {0x80, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40};
    ASSERT_EQ(send_raw(ext_zero, sizeof ext_zero), DC_SW_WRONG_LENGTH); /* Lc 0000 */
    uint8_t ext_short[] = {0x80, 0x50, 0x00, 0x00, 0x00, 0x00, 0x05, 0x40, 0x01};
    ASSERT_EQ(send_raw(ext_short, sizeof ext_short), DC_SW_WRONG_LENGTH);
    uint8_t ext_six[] = {0x80, 0x50, 0x00, 0x00, 0x00, 0x00};
    ASSERT_EQ(send_raw(ext_six, sizeof ext_six), DC_SW_WRONG_LENGTH);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    uint8_t nodata[] = {0x80, 0x50, 0x00, 0x00}; /* PAY without a request */
    ASSERT_EQ(send_raw(nodata, 4), DC_SW_WRONG_LENGTH);
    /* a request one byte short, and one byte long */
    static uint8_t req[DC_REQUEST_BYTES + 1];
    struct dc_request r;
    memset(&r, 0, sizeof r);
    r.amount = 100;
    r.currency = CNY;
    r.payee = W.bob.cert;
    ASSERT_OK(dc_request_sign(req, &r, W.bob.sk));
    for (int delta = -1; delta <= 1; delta += 2) {
        size_t len = (size_t)((int)DC_REQUEST_BYTES + delta), n, at = 0;
        uint8_t cmd[300];
        for (size_t i = 0; i < dc_apdu_chain_count(len, 100); i++) {
            ASSERT_OK(dc_apdu_chain(cmd, sizeof cmd, &n, DC_APDU_INS_PAY, req, len, i, 100));
            at = send_raw(cmd, n);
        }
        ASSERT_EQ(at, DC_SW_WRONG_LENGTH);
    }
    /* more chained data than any message */
    uint8_t seg[260];
    seg[0] = 0x90;
    seg[1] = 0x50;
    seg[2] = seg[3] = 0;
    seg[4] = 255;
    memset(seg + 5, 0x40, 255);
    ASSERT_EQ(send_raw(seg, 260), DC_SW_OK);
    ASSERT_EQ(send_raw(seg, 260), DC_SW_OK);
    ASSERT_EQ(send_raw(seg, 260), DC_SW_WRONG_LENGTH);
    /* a 228-byte PAY that is not a request */
    static uint8_t junk[DC_REQUEST_BYTES];
    memset(junk, 0x41, sizeof junk);
    size_t n;
    uint8_t cmd[300];
    ASSERT_OK(dc_apdu_chain(cmd, sizeof cmd, &n, DC_APDU_INS_PAY, junk, sizeof junk, 0, 200));
    ASSERT_EQ(send_raw(cmd, n), DC_SW_OK);
    ASSERT_OK(dc_apdu_chain(cmd, sizeof cmd, &n, DC_APDU_INS_PAY, junk, sizeof junk, 1, 200));
    ASSERT_EQ(send_raw(cmd, n), DC_SW_BAD_DATA);
}

static void test_chaining_out_of_order(void)
{
    static uint8_t req[DC_REQUEST_BYTES];
    struct dc_request r;
    uint8_t c0[300], c1[300], get[] = {0x00, 0xC0, 0x00, 0x00, 0x00};
    size_t n0, n1;
    memset(&r, 0, sizeof r);
    r.amount = 100;
    r.currency = CNY;
    r.payee = W.bob.cert;
    ASSERT_OK(dc_request_sign(req, &r, W.bob.sk));
    ASSERT_OK(dc_apdu_chain(c0, sizeof c0, &n0, DC_APDU_INS_PAY, req, sizeof req, 0, 200));
    ASSERT_OK(dc_apdu_chain(c1, sizeof c1, &n1, DC_APDU_INS_PAY, req, sizeof req, 1, 200));
    dc_card_init(&H.card);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    /* GET RESPONSE in the middle of a chain */
    ASSERT_EQ(send_raw(c0, n0), DC_SW_OK);
    ASSERT_EQ(send_raw(get, sizeof get), DC_SW_CHAIN_LAST_EXPECTED);
    /* the chain was abandoned: its last segment alone is not a request */
    ASSERT_EQ(send_raw(c1, n1), DC_SW_WRONG_LENGTH);
    /* CONFIRM in the middle of a PAY chain */
    uint8_t conf[] = {0x80, 0x52, 0x00, 0x00, 0x01, 0x42};
    ASSERT_EQ(send_raw(c0, n0), DC_SW_OK);
    ASSERT_EQ(send_raw(conf, sizeof conf), DC_SW_CHAIN_LAST_EXPECTED);
    /* a chain continued with other parameters */
    uint8_t c1b[300];
    memcpy(c1b, c1, n1);
    c1b[3] = 0x01;
    ASSERT_EQ(send_raw(c0, n0), DC_SW_OK);
    ASSERT_EQ(send_raw(c1b, n1), DC_SW_CHAIN_LAST_EXPECTED);
    /* segments swapped: the data do not form a request */
    ASSERT_EQ(send_raw(c1, n1), DC_SW_WRONG_LENGTH);
    uint8_t c1chain[300];
    memcpy(c1chain, c1, n1);
    c1chain[0] = 0x90;
    uint8_t c0last[300];
    memcpy(c0last, c0, n0);
    c0last[0] = 0x80;
    ASSERT_EQ(send_raw(c1chain, n1 - 1), DC_SW_OK); /* without Le: case 3 */
    ASSERT_EQ(send_raw(c0last, n0), DC_SW_BAD_DATA);
    /* a re-SELECT resets the chain */
    ASSERT_EQ(send_raw(c0, n0), DC_SW_OK);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_CHAIN_LAST_EXPECTED);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    /* GET RESPONSE with nothing pending */
    ASSERT_EQ(send_raw(get, sizeof get), DC_SW_CONDITIONS);
}

static void test_host_turn(void)
{
    /* the host must answer before the next APDU; only then is it served */
    setup(1, 1, 0);
    size_t len, out;
    unsigned ev;
    const uint8_t *req = dc_session_request(&H.s, &len);
    uint8_t cmd[300];
    size_t n;
    dc_card_init(&H.card);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    ASSERT_ERR(dc_card_answer(&H.card, H.pay, 1, RSP, sizeof RSP, &out), DC_ERR_SESSION_STATE);
    ASSERT_OK(dc_apdu_chain(cmd, sizeof cmd, &n, DC_APDU_INS_PAY, req, len, 0, 200));
    ASSERT_EQ(send_raw(cmd, n), DC_SW_OK);
    ASSERT_OK(dc_apdu_chain(cmd, sizeof cmd, &n, DC_APDU_INS_PAY, req, len, 1, 200));
    ASSERT_OK(dc_card_apdu(&H.card, cmd, n, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(ev, DC_CARD_PAY);
    ASSERT_EQ(out, 0);
    ASSERT_ERR(dc_card_apdu(&H.card, SELECT, sizeof SELECT, RSP, sizeof RSP, &out, &ev),
               DC_ERR_SESSION_STATE);
    ASSERT_ERR(dc_card_apdu(&H.card, SELECT, sizeof SELECT, RSP, 10, &out, &ev),
               DC_ERR_SESSION_STATE);
    /* the wallet refuses: 62 00 + the code, nothing pending afterwards */
    ASSERT_OK(dc_card_refuse(&H.card, DC_ERR_INSUFFICIENT_FUNDS, RSP, sizeof RSP, &out));
    ASSERT_EQ(out, 4);
    ASSERT_EQ(RSP[0] << 8 | RSP[1], 1110);
    ASSERT_EQ(sw_of(RSP, out), DC_SW_REFUSED);
    uint8_t get[] = {0x00, 0xC0, 0x00, 0x00, 0x00};
    ASSERT_EQ(send_raw(get, sizeof get), DC_SW_CONDITIONS);
    /* a corrupt context is the host's problem, not the reader's */
    H.card.out_off = H.card.out_len + 1;
    ASSERT_ERR(dc_card_apdu(&H.card, get, sizeof get, RSP, sizeof RSP, &out, &ev),
               DC_ERR_SESSION_CORRUPT);
}

/* The reader meets a refusing card: the payer's reason, nothing kept. */
static void test_reader_sees_refusal(void)
{
    setup(1, 1, 0);
    dc_card_init(&H.card);
    dc_tap_start(&H.rd, &H.s, 0);
    for (int i = 0; i < 10 && (dc_tap_want(&H.rd, &H.s) & DC_TAP_SEND); i++) {
        size_t cl, out;
        unsigned ev;
        const uint8_t *cmd = dc_tap_command(&H.rd, &cl);
        ASSERT_OK(dc_card_apdu(&H.card, cmd, cl, RSP, sizeof RSP, &out, &ev));
        if (ev == DC_CARD_PAY) {
            ASSERT_OK(dc_card_refuse(&H.card, DC_ERR_CERT_EXPIRED, RSP, sizeof RSP, &out));
        }
        dc_tap_response(&H.rd, &H.s, RSP, out);
    }
    ASSERT_EQ(dc_tap_want(&H.rd, &H.s), DC_TAP_FAILED);
    ASSERT_ERR(dc_tap_error(&H.rd), DC_ERR_CERT_EXPIRED);
    ASSERT_EQ(dc_tap_sw(&H.rd), DC_SW_REFUSED);
    ASSERT(!(dc_session_want(&H.s) & DC_SESSION_FAILED)); /* the request stays open */
    /* a card that is not ours */
    setup(1, 1, 0);
    dc_tap_start(&H.rd, &H.s, 0);
    uint8_t nf[] = {0x6A, 0x82};
    dc_tap_response(&H.rd, &H.s, nf, 2);
    ASSERT_ERR(dc_tap_error(&H.rd), DC_ERR_MSG_UNEXPECTED);
    ASSERT_EQ(dc_tap_sw(&H.rd), DC_SW_NOT_FOUND);
}

/* A card answering with a payment for another request is refused. */
static void test_reader_wrong_payment(void)
{
    setup(1, 1, 0);
    ASSERT(tap(0, 0));
    uint8_t other[DC_PAYMENT_MAX_BYTES];
    size_t olen = H.pay_len;
    memcpy(other, H.pay, olen);
    setup(1, 1, 0); /* same nonce, but another request time: another hash */
    dc_tap_start(&H.rd, &H.s, DC_APDU_EXTENDED);
    uint8_t ok[] = {0x90, 0x00};
    dc_tap_response(&H.rd, &H.s, ok, 2); /* SELECT */
    other[olen] = 0x90;
    other[olen + 1] = 0x00;
    other[5] ^= 1; /* request hash altered */
    dc_tap_response(&H.rd, &H.s, other, olen + 2);
    ASSERT_EQ(dc_tap_want(&H.rd, &H.s), DC_TAP_HOST);
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
    ASSERT_ERR(dc_session_payee_verify(&H.s, NULL, &chk, W.bob.sk, T0 + 2000),
               DC_ERR_PAY_WRONG_REQUEST);
    dc_tap_resume(&H.rd, &H.s);
    ASSERT_EQ(dc_tap_want(&H.rd, &H.s), DC_TAP_FAILED);
    ASSERT_ERR(dc_tap_error(&H.rd), DC_ERR_PAY_WRONG_REQUEST);
}

/* ---- The payee refuses: its signed REFUSAL goes to the card -------------- */

static enum dc_err seen_fork(void *ctx, const uint8_t serial[DC_SERIAL_BYTES],
                             const uint8_t state[DC_HASH_BYTES],
                             const uint8_t successor[DC_HASH_BYTES])
{
    (void)ctx;
    (void)serial;
    (void)state;
    (void)successor;
    return DC_ERR_FORK_DETECTED; /* the payee's seen-set knows another branch */
}

/* The payer's host on DC_CARD_REFUSAL: the refusal names its payment and is
 * signed by the payee; kept, then answered. */
static size_t card_refusal(void)
{
    size_t len, out;
    const uint8_t *m = dc_card_message(&H.card, &len);
    struct dc_refusal f;
    uint8_t ph[DC_HASH_BYTES];
    ASSERT(m != NULL && len == DC_REFUSAL_BYTES);
    ASSERT_OK(dc_refusal_decode(&f, m, len));
    ASSERT_OK(dc_refusal_check(&f, W.bob.pk));
    dc_payment_hash(ph, H.pay, H.pay_len);
    ASSERT_MEM(ph, f.payment_hash, DC_HASH_BYTES);
    ASSERT_MEM(H.pay_req_hash, f.request_hash, DC_HASH_BYTES);
    H.confirms += 100; /* counted apart from receipts */
    ASSERT_OK(dc_card_answer(&H.card, NULL, 0, RSP, sizeof RSP, &out));
    return out;
}

/* One tap in which the payee's verification refuses the payment for good
 * and sends its signed refusal (REFUSE) in place of CONFIRM. card_ok = 0:
 * the card does not know REFUSE (an older card: 6D 00). */
static void tap_refused(unsigned seg, int card_ok)
{
    setup(1, 2, seg);
    dc_card_init(&H.card);
    dc_tap_start(&H.rd, &H.s, seg);
    int refused_sent = 0;
    for (int guard = 0; guard < 100; guard++) {
        unsigned w = dc_tap_want(&H.rd, &H.s);
        if (w & (DC_TAP_FAILED | DC_TAP_DONE)) break;
        if (w & DC_TAP_HOST) {
            struct dc_payment_result res;
            struct dc_payment_check chk = {&W.trust, seen_fork, NULL, NULL};
            ASSERT_ERR(dc_session_payee_verify(&H.s, &res, &chk, W.bob.sk, T0 + 2000),
                       DC_ERR_FORK_DETECTED);
            ASSERT(dc_session_want(&H.s) & DC_SESSION_FAILED);
            size_t rl, pl;
            const uint8_t *req = dc_session_request(&H.s, &rl);
            const uint8_t *pay = dc_session_payment(&H.s, &pl);
            struct dc_request r;
            struct dc_refusal f;
            uint8_t raw[DC_REFUSAL_BYTES];
            ASSERT(req && pay);
            ASSERT_OK(dc_request_decode(&r, req, rl));
            memset(&f, 0, sizeof f);
            dc_request_hash(f.request_hash, req, rl);
            dc_payment_hash(f.payment_hash, pay, pl);
            memcpy(f.nonce, r.nonce, DC_NONCE_BYTES);
            f.reason = (uint16_t)DC_ERR_FORK_DETECTED;
            f.time = T0 + 2000;
            dc_refusal_sign(raw, &f, W.bob.sk);
            /* a malformed refusal is not sent */
            raw[0] ^= 1;
            ASSERT_ERR(dc_tap_refuse(&H.rd, &H.s, raw, sizeof raw), DC_ERR_DECODE_TYPE);
            raw[0] ^= 1;
            ASSERT_OK(dc_tap_refuse(&H.rd, &H.s, raw, sizeof raw));
            refused_sent = 1;
            continue;
        }
        size_t cl, out;
        unsigned ev;
        const uint8_t *cmd = dc_tap_command(&H.rd, &cl);
        ASSERT(cmd != NULL);
        if (refused_sent && !card_ok && cmd[1] == DC_APDU_INS_REFUSE) {
            uint8_t ins[] = {0x6D, 0x00};
            dc_tap_response(&H.rd, &H.s, ins, 2);
            continue;
        }
        ASSERT_OK(dc_card_apdu(&H.card, cmd, cl, RSP, sizeof RSP, &out, &ev));
        if (ev == DC_CARD_PAY) out = card_pay();
        if (ev == DC_CARD_REFUSAL) out = card_refusal();
        ASSERT(ev != DC_CARD_CONFIRM);
        dc_tap_response(&H.rd, &H.s, RSP, out);
    }
    ASSERT(refused_sent);
    ASSERT_EQ(dc_tap_want(&H.rd, &H.s), DC_TAP_FAILED);
    ASSERT_ERR(dc_tap_error(&H.rd), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(dc_tap_refused(&H.rd), card_ok);
    ASSERT_EQ(H.confirms, card_ok ? 100u : 0u);
    ASSERT_EQ(H.builds, 1);
    ASSERT_EQ(H.kept, 0); /* nothing kept by the payee */
}

static void test_refusal_short(void)
{
    tap_refused(0, 1);
}

static void test_refusal_chained(void)
{
    tap_refused(16, 1); /* 156 bytes in 10 chained commands */
}

static void test_refusal_extended(void)
{
    tap_refused(DC_APDU_EXTENDED, 1);
}

static void test_refusal_older_card(void)
{
    tap_refused(0, 0);
}

/* dc_tap_refuse only for a session the host refused; REFUSE checked by the card. */
static void test_refusal_rules(void)
{
    uint8_t raw[DC_REFUSAL_BYTES];
    memset(raw, 0, sizeof raw);
    raw[0] = DC_REFUSAL_TAG;
    raw[1] = 1;
    raw[66 + 16] = 0x17; /* a reason */
    setup(1, 1, 0);
    dc_tap_start(&H.rd, &H.s, 0);
    ASSERT_ERR(dc_tap_refuse(&H.rd, &H.s, raw, sizeof raw), DC_ERR_SESSION_STATE); /* SELECT */
    ASSERT(tap(0, 0));
    ASSERT_ERR(dc_tap_refuse(&H.rd, &H.s, raw, sizeof raw), DC_ERR_SESSION_STATE); /* done */
    /* the card: REFUSE of the wrong size, or not a refusal */
    size_t out;
    unsigned ev;
    dc_card_init(&H.card);
    ASSERT_EQ(send_raw(SELECT, sizeof SELECT), DC_SW_OK);
    uint8_t cmd[5 + DC_REFUSAL_BYTES] = {0x80, DC_APDU_INS_REFUSE, 0, 0, DC_REFUSAL_BYTES};
    memcpy(cmd + 5, raw, sizeof raw);
    ASSERT_OK(dc_card_apdu(&H.card, cmd, 5 + 10, RSP, sizeof RSP, &out, &ev)); /* Lc 156, 10 */
    ASSERT_EQ(sw_of(RSP, out), DC_SW_WRONG_LENGTH);
    cmd[4] = 10;
    ASSERT_OK(dc_card_apdu(&H.card, cmd, 5 + 10, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(sw_of(RSP, out), DC_SW_WRONG_LENGTH);
    cmd[4] = DC_REFUSAL_BYTES;
    cmd[5] = 0x42; /* a receipt's tag */
    ASSERT_OK(dc_card_apdu(&H.card, cmd, sizeof cmd, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(sw_of(RSP, out), DC_SW_BAD_DATA);
    ASSERT_EQ(ev, DC_CARD_NONE);
    cmd[5] = DC_REFUSAL_TAG;
    ASSERT_OK(dc_card_apdu(&H.card, cmd, sizeof cmd, RSP, sizeof RSP, &out, &ev));
    ASSERT_EQ(ev, DC_CARD_REFUSAL);
    ASSERT_EQ(out, 0);
    ASSERT_ERR(dc_card_answer(&H.card, raw, 1, RSP, sizeof RSP, &out), DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(dc_card_answer(&H.card, NULL, 0, RSP, sizeof RSP, &out));
    ASSERT_EQ(sw_of(RSP, out), DC_SW_OK);
}

/* ---- Seeds of fuzz/fuzz_apdu.c ------------------------------------------ */

static void write_file(const char *name, const uint8_t *b, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "fuzz/corpus/apdu/%s", name);
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT(fwrite(b, 1, n, f) == n);
    ASSERT(fclose(f) == 0);
}

/* A corpus input: APDUs, each as len:u16 (big-endian) + bytes. */
static void test_write_corpus(void)
{
    if (!getenv("DC_WRITE_CORPUS")) return;
    mkdir("fuzz/corpus/apdu", 0755);
    static uint8_t buf[8192];
    size_t at = 0;
    setup(1, 1, 0);
    dc_card_init(&H.card);
    dc_tap_start(&H.rd, &H.s, 0);
    for (int i = 0; i < 20; i++) {
        size_t cl;
        const uint8_t *cmd = dc_tap_command(&H.rd, &cl);
        if (!cmd) break;
        buf[at++] = (uint8_t)(cl >> 8);
        buf[at++] = (uint8_t)cl;
        memcpy(buf + at, cmd, cl);
        at += cl;
        size_t rl = card_transceive(cmd, cl);
        dc_tap_response(&H.rd, &H.s, RSP, rl);
        if (dc_tap_want(&H.rd, &H.s) & DC_TAP_HOST) reader_host();
    }
    write_file("tap_short", buf, at);
    uint8_t sel[2 + sizeof SELECT];
    sel[0] = 0;
    sel[1] = sizeof SELECT;
    memcpy(sel + 2, SELECT, sizeof SELECT);
    write_file("select", sel, sizeof sel);
    uint8_t chain[] = {0,    13,   0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44, 0x55, 0x43,
                       0x41, 0x54, 0x01, 0x00, 0,    8,    0x90, 0x50, 0x00, 0x00, 0x02,
                       0x40, 0x01, 0x00, 0,    5,    0x00, 0xC0, 0x00, 0x00, 0x00};
    write_file("chain_get", chain, sizeof chain);
    uint8_t ext[] = {0,    13,   0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x44, 0x55, 0x43, 0x41, 0x54,
                     0x01, 0x00, 0,    9,    0x80, 0x52, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0x00};
    write_file("extended", ext, sizeof ext);
    printf("# wrote the seed corpus\n");
}

static void init(void)
{
    world_init(&W);
}

static void test_init(void)
{
    init();
}

TESTS(T(test_init), T(test_tap_1_hop_short), T(test_tap_10_hops_short),
      T(test_tap_10_hops_extended), T(test_tap_3_coins_chained), T(test_dropped_everywhere_1_hop),
      T(test_dropped_everywhere_10_hops), T(test_dropped_twice), T(test_select), T(test_wrong_aid),
      T(test_wrong_class_instruction), T(test_bad_lengths), T(test_chaining_out_of_order),
      T(test_host_turn), T(test_reader_sees_refusal), T(test_reader_wrong_payment),
      T(test_refusal_short), T(test_refusal_chained), T(test_refusal_extended),
      T(test_refusal_older_card), T(test_refusal_rules), T(test_write_corpus))

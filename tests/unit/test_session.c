/*
 * test_session.c - the offline payment session engine, end to end in memory:
 * a payer and a payee session move bytes through two "wires" (as a stream in
 * chunks of 1, 7, 100 and 4096 bytes, and frame by frame as NFC APDUs of 255,
 * 32 and 16 bytes), with hosts that build the payment, verify it against a
 * seen-set, and persist. The crash test interrupts the exchange after EVERY
 * step, restores each side either from a memcpy of its context or from its
 * last durable snapshot, reconnects, and requires the same end: both DONE,
 * the coins in the payee's store exactly once, the same receipt on both
 * sides. Also: idempotent re-sends, every refusal, corrupt contexts, and
 * the bytes on the wire (printed as "# figure" lines).
 *
 * Run with DC_WRITE_CORPUS=1 to (re)write the seed corpora of
 * fuzz/fuzz_session.c and fuzz/fuzz_proto.c.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "ducat/proto.h"
#include "fixture.h"
#include "test.h"

static struct world W;

/* ---- The payer's wallet: deterministic coins for a request ------------ */

static const struct party *payee_party(void)
{
    return &W.bob;
}

/* A coin of `value` issued to Alice that made `hops` transfers (Alice and
 * Carol in turn), the last to `to` with `nonce`. */
static size_t make_coin(uint8_t *buf, int64_t value, int hops, const struct party *to,
                        const uint8_t nonce[DC_NONCE_BYTES], uint8_t serial_tag)
{
    const struct party *owner = &W.alice;
    size_t len = issue(&W, buf, DC_COIN_MAX_BYTES, value, owner, serial_tag, 32);
    for (int i = 1; i <= hops; i++) {
        const struct party *next = i == hops ? to : owner == &W.alice ? &W.carol : &W.alice;
        uint8_t n[DC_NONCE_BYTES];
        if (i == hops) {
            memcpy(n, nonce, DC_NONCE_BYTES);
        } else {
            nonce_of(n, (uint8_t)(0x80 + i));
        }
        if (dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, owner->sk, next->cert_bytes, n) !=
            DC_OK) {
            abort();
        }
        owner = next;
    }
    return len;
}

/* What a wallet does on NEED_COINS: check the request, build `ncoins`
 * coins of 100 with `hops` hops each, encode the payment. */
static size_t build_payment(uint8_t *out, const uint8_t *req, size_t req_len, int ncoins, int hops)
{
    static uint8_t coins[DC_PAYMENT_COINS_MAX][DC_COIN_MAX_BYTES];
    struct dc_request r;
    struct dc_payment p;
    size_t len;
    ASSERT_OK(dc_request_decode(&r, req, req_len));
    ASSERT_OK(dc_request_verify(&r, &W.trust));
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, req, req_len);
    p.n = (size_t)ncoins;
    for (int i = 0; i < ncoins; i++) {
        p.coin_len[i] = make_coin(coins[i], 100, hops, payee_party(), r.nonce, (uint8_t)(i + 1));
        p.coin[i] = coins[i];
    }
    ASSERT_OK(dc_payment_encode(out, DC_PAYMENT_MAX_BYTES, &len, &p));
    return len;
}

static void make_request(struct dc_request *r, int64_t amount, uint8_t nonce_tag)
{
    memset(r, 0, sizeof *r);
    r->amount = amount;
    r->currency = CNY;
    r->payee = payee_party()->cert;
    nonce_of(r->nonce, nonce_tag);
    r->time = T0 + 1000;
}

/* ---- The payee's durable store: accepted coins and seen-set ----------- */

struct store {
    size_t n_coins, persists;
    int64_t total;
    struct {
        uint8_t serial[DC_SERIAL_BYTES], state[DC_HASH_BYTES];
    } coin[DC_PAYMENT_COINS_MAX];
    size_t n_seen;
    struct {
        uint8_t serial[DC_SERIAL_BYTES], state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    } seen[512];
    enum dc_err fail_with;
};

static enum dc_err store_seen(void *ctx, const uint8_t serial[DC_SERIAL_BYTES],
                              const uint8_t state[DC_HASH_BYTES],
                              const uint8_t successor[DC_HASH_BYTES])
{
    struct store *st = ctx;
    if (st->fail_with != DC_OK) return st->fail_with;
    for (size_t i = 0; i < st->n_seen; i++) {
        if (memcmp(st->seen[i].serial, serial, DC_SERIAL_BYTES) == 0 &&
            memcmp(st->seen[i].state, state, DC_HASH_BYTES) == 0) {
            return memcmp(st->seen[i].succ, successor, DC_HASH_BYTES) == 0 ? DC_OK
                                                                           : DC_ERR_COIN_SPENT;
        }
    }
    return DC_OK;
}

/* Persists accepted coins, idempotently: keyed by (serial, final state). */
static void store_accept(struct store *st, const uint8_t *payment, size_t len)
{
    static struct dc_coin c;
    struct dc_payment p;
    ASSERT_OK(dc_payment_decode(&p, NULL, payment, len));
    st->persists++;
    for (size_t i = 0; i < p.n; i++) {
        ASSERT_OK(dc_coin_decode(&c, p.coin[i], p.coin_len[i]));
        for (size_t k = 0; k < c.n; k++) {
            uint8_t s[DC_HASH_BYTES], succ[DC_HASH_BYTES];
            dc_coin_state(s, &c, k);
            dc_coin_successor(succ, &c, k);
            if (store_seen(st, c.genesis.serial, s, succ) != DC_OK) FAIL_AT("persisting a fork");
            int known = 0;
            for (size_t j = 0; j < st->n_seen; j++) {
                known |= memcmp(st->seen[j].state, s, DC_HASH_BYTES) == 0;
            }
            if (known) continue;
            ASSERT(st->n_seen < 512);
            memcpy(st->seen[st->n_seen].serial, c.genesis.serial, DC_SERIAL_BYTES);
            memcpy(st->seen[st->n_seen].state, s, DC_HASH_BYTES);
            memcpy(st->seen[st->n_seen].succ, succ, DC_HASH_BYTES);
            st->n_seen++;
        }
        uint8_t fin[DC_HASH_BYTES];
        dc_coin_state(fin, &c, c.n);
        int have = 0;
        for (size_t j = 0; j < st->n_coins; j++) {
            have |= memcmp(st->coin[j].state, fin, DC_HASH_BYTES) == 0;
        }
        if (have) continue;
        memcpy(st->coin[st->n_coins].serial, c.genesis.serial, DC_SERIAL_BYTES);
        memcpy(st->coin[st->n_coins].state, fin, DC_HASH_BYTES);
        st->n_coins++;
        st->total += dc_coin_value(&c);
    }
}

/* ---- Harness: two sessions, two wires, two hosts ---------------------- */

struct wire {
    uint8_t b[1 << 17];
    size_t len;
};

struct side {
    /* the live context: one of slot[], moved to the other at every
     * resume so an interior pointer would be left pointing at garbage */
    struct dc_session *s;
    struct dc_session slot[2];
    struct dc_session durable; /* what the host last persisted */
};

static struct {
    struct side payee, payer;
    struct wire to_payer, to_payee;
    struct store store;
    unsigned fmax; /* frame size of both senders */
    size_t chunk;  /* bytes per delivery; 0 = one frame per delivery */
    int ncoins, hops;
    uint64_t now;
    size_t wire_bytes; /* every byte handed to a wire */
    size_t msg_bytes[3];
    size_t steps;
    int wire_first;                    /* bytes move before the hosts act */
    uint8_t pay[DC_PAYMENT_MAX_BYTES]; /* the wallet's last built payment */
    size_t pay_len;
    uint8_t pay_req[DC_REQUEST_BYTES];
} H;

static int WIRE_FIRST;

static void setup(unsigned fmax, size_t chunk, int ncoins, int hops)
{
    struct dc_request r;
    memset(&H, 0, sizeof H);
    H.payee.s = &H.payee.slot[0];
    H.payer.s = &H.payer.slot[0];
    H.wire_first = WIRE_FIRST;
    H.fmax = fmax;
    H.chunk = chunk;
    H.ncoins = ncoins;
    H.hops = hops;
    H.now = T0 + 2000;
    make_request(&r, 100 * ncoins, 0x55);
    ASSERT_OK(dc_session_payee_start(H.payee.s, &r, W.bob.sk, fmax));
    ASSERT_OK(dc_session_payer_start(H.payer.s, fmax));
    H.payee.durable = *H.payee.s;
    H.payer.durable = *H.payer.s;
}

static void payer_pay(void)
{
    size_t len;
    const uint8_t *req = dc_session_request(H.payer.s, &len);
    ASSERT(req && len == DC_REQUEST_BYTES);
    /* a deterministic wallet: the same request always gets the same bytes */
    if (H.pay_len == 0 || memcmp(H.pay_req, req, len) != 0) {
        memcpy(H.pay_req, req, len);
        H.pay_len = build_payment(H.pay, req, len, H.ncoins, H.hops);
    }
    ASSERT_OK(dc_session_payer_pay(H.payer.s, H.pay, H.pay_len));
}

static void payee_verify(void)
{
    struct dc_payment_result res;
    struct dc_payment_check chk = {&W.trust, store_seen, &H.store, NULL};
    ASSERT_OK(dc_session_payee_verify(H.payee.s, &res, &chk, W.bob.sk, H.now));
    ASSERT_EQ(res.total, 100 * H.ncoins);
}

static void payee_persist(void)
{
    size_t len;
    const uint8_t *p = dc_session_payment(H.payee.s, &len);
    ASSERT(p != NULL);
    store_accept(&H.store, p, len); /* coins and session: one durable write */
    H.payee.durable = *H.payee.s;
    ASSERT_OK(dc_session_persisted(H.payee.s));
}

static void payer_persist(void)
{
    H.payer.durable = *H.payer.s;
    ASSERT_OK(dc_session_persisted(H.payer.s));
}

/* Moves one send window (exactly one frame when it starts a frame). */
static void send_frame(struct dc_session *s, struct wire *w)
{
    size_t n;
    const uint8_t *b = dc_session_send_buf(s, &n);
    ASSERT(b && n > 0 && n <= H.fmax);
    ASSERT(w->len + n <= sizeof w->b);
    memcpy(w->b + w->len, b, n);
    w->len += n;
    H.wire_bytes += n;
    dc_session_send_ack(s, n);
}

/* Pushes the next chunk (or frame) of a wire into its receiver; what the
 * receiver does not take now stays on the wire for later. */
static void deliver(struct dc_session *s, struct wire *w)
{
    size_t n = H.chunk;
    if (n == 0) {
        n = w->len >= DC_FRAME_HEADER_BYTES ? (size_t)DC_FRAME_HEADER_BYTES + w->b[5] : w->len;
    }
    if (n > w->len) n = w->len;
    n = dc_session_push(s, w->b, n);
    memmove(w->b, w->b + n, w->len - n);
    w->len -= n;
}

static int host_action(unsigned we, unsigned wr)
{
    if (we & DC_SESSION_NEED_VERIFY) {
        payee_verify();
    } else if (we & DC_SESSION_NEED_PERSIST) {
        payee_persist();
    } else if (wr & DC_SESSION_NEED_COINS) {
        payer_pay();
    } else if (wr & DC_SESSION_NEED_PERSIST) {
        payer_persist();
    } else {
        return 0;
    }
    return 1;
}

static int send_action(unsigned we, unsigned wr)
{
    if (we & DC_SESSION_SEND) {
        send_frame(H.payee.s, &H.to_payer);
    } else if (wr & DC_SESSION_SEND) {
        send_frame(H.payer.s, &H.to_payee);
    } else {
        return 0;
    }
    return 1;
}

static int deliver_action(unsigned we, unsigned wr)
{
    if (H.to_payer.len && (wr & DC_SESSION_RECV)) {
        deliver(H.payer.s, &H.to_payer);
    } else if (H.to_payee.len && (we & DC_SESSION_RECV)) {
        deliver(H.payee.s, &H.to_payee);
    } else {
        return 0;
    }
    return 1;
}

/* One action; 0 when nothing is left to do. H.wire_first: bytes move
 * before the hosts act (a host that reads its link eagerly), else after. */
static int step(void)
{
    unsigned we = dc_session_want(H.payee.s), wr = dc_session_want(H.payer.s);
    if (we & DC_SESSION_FAILED)
        FAIL_AT("payee failed: %s", dc_err_name(dc_session_error(H.payee.s)));
    if (wr & DC_SESSION_FAILED)
        FAIL_AT("payer failed: %s", dc_err_name(dc_session_error(H.payer.s)));
    ASSERT_OK(dc_session_check(H.payee.s));
    ASSERT_OK(dc_session_check(H.payer.s));
    H.steps++;
    if (H.wire_first) {
        if (deliver_action(we, wr) || send_action(we, wr) || host_action(we, wr)) return 1;
    } else {
        if (host_action(we, wr) || send_action(we, wr) || deliver_action(we, wr)) return 1;
    }
    if (H.to_payer.len || H.to_payee.len) { /* nobody will read them: the link closes */
        H.to_payer.len = H.to_payee.len = 0;
        return 1;
    }
    H.steps--;
    return 0;
}

static size_t run(size_t max_steps)
{
    size_t n = 0;
    while (n < max_steps && step()) n++;
    return n;
}

static void check_outcome(void)
{
    size_t la, lb;
    ASSERT(dc_session_want(H.payee.s) & DC_SESSION_DONE);
    ASSERT(dc_session_want(H.payer.s) & DC_SESSION_DONE);
    const uint8_t *ra = dc_session_receipt(H.payee.s, &la);
    const uint8_t *rb = dc_session_receipt(H.payer.s, &lb);
    ASSERT(ra && rb && la == DC_RECEIPT_BYTES && lb == la);
    ASSERT_MEM(ra, rb, la);
    struct dc_receipt rc;
    ASSERT_OK(dc_receipt_decode(&rc, rb, lb));
    ASSERT_OK(dc_receipt_check(&rc, W.bob.pk));
    ASSERT_EQ(rc.time, H.now);
    /* the coins, accepted once however often they were persisted */
    ASSERT_EQ(H.store.n_coins, H.ncoins);
    ASSERT_EQ(H.store.total, 100 * H.ncoins);
    ASSERT_EQ(dc_session_error(H.payee.s), DC_OK);
    ASSERT_EQ(dc_session_error(H.payer.s), DC_OK);
}

/* ---- Whole exchanges -------------------------------------------------- */

static void test_exchange_stream(void)
{
    static const size_t chunks[4] = {1, 7, 100, 4096};
    world_init(&W);
    for (int c = 0; c < 8; c++) {
        WIRE_FIRST = c / 4;
        setup(DC_FRAME_MAX, chunks[c % 4], 2, 3);
        ASSERT_EQ(dc_session_want(H.payee.s), DC_SESSION_SEND | DC_SESSION_RECV);
        ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_RECV);
        run(100000);
        check_outcome();
        ASSERT_EQ(H.store.persists, 1);
    }
    WIRE_FIRST = 0;
}

static void test_exchange_frame_by_frame(void)
{
    static const unsigned fmax[3] = {255, 32, 16};
    world_init(&W);
    for (int m = 0; m < 3; m++) {
        setup(fmax[m], 0, 1, 10);
        run(100000);
        check_outcome();
    }
}

/* Interrupt after every step: each side resumes from a memcpy of its
 * context (mode bit clear) or from its last durable snapshot (a crash:
 * mode bit set), at another address each time, the old copy scribbled
 * over (BearSSL's rule: no interior pointers, so a context can move); the
 * in-flight bytes are lost; both reconnect, with another frame size after
 * the break. */
static void interrupt(int mode, unsigned fmax_after)
{
    struct side *sides[2] = {&H.payee, &H.payer};
    for (int i = 0; i < 2; i++) {
        struct side *sd = sides[i];
        struct dc_session *to = sd->s == &sd->slot[0] ? &sd->slot[1] : &sd->slot[0];
        memcpy(to, mode & (1 << i) ? &sd->durable : sd->s, sizeof *to);
        memset(sd->s, 0xA5, sizeof *sd->s);
        sd->s = to;
    }
    H.to_payer.len = H.to_payee.len = 0;
    dc_session_reconnect(H.payee.s, fmax_after);
    dc_session_reconnect(H.payer.s, fmax_after);
    H.fmax = fmax_after > H.fmax ? fmax_after : H.fmax;
}

static struct {
    size_t runs, repersist, resent, base_bytes;
} STATS;

static void interrupt_everywhere(unsigned fmax, size_t chunk, int ncoins, int hops)
{
    setup(fmax, chunk, ncoins, hops);
    size_t total = run(100000);
    check_outcome();
    memset(&STATS, 0, sizeof STATS);
    STATS.base_bytes = H.wire_bytes;
    for (int mode = 0; mode < 4; mode++) {
        for (size_t k = 0; k <= total; k++) {
            setup(fmax, chunk, ncoins, hops);
            run(k);
            interrupt(mode, k % 2 ? 32 : 255);
            run(100000);
            check_outcome();
            STATS.runs++;
            if (H.store.persists > 1) STATS.repersist++;
            if (H.wire_bytes > STATS.base_bytes) STATS.resent++;
            /* and a second break right after the first one's re-sends */
            if (k % 5 == 0) {
                setup(fmax, chunk, ncoins, hops);
                run(k);
                interrupt(mode, 255);
                run(3);
                interrupt(3 - mode, 64);
                run(100000);
                check_outcome();
            }
        }
    }
    printf("# %zu steps x 4 modes: %zu resumed exchanges, %zu with re-sent bytes, %zu persisted "
           "twice (idempotent)\n",
           total, STATS.runs, STATS.resent, STATS.repersist);
}

static void test_interrupted_everywhere(void)
{
    world_init(&W);
    for (WIRE_FIRST = 0; WIRE_FIRST < 2; WIRE_FIRST++) {
        interrupt_everywhere(255, 100, 1, 1);
        interrupt_everywhere(32, 0, 2, 2);
    }
    WIRE_FIRST = 0;
}

static void test_interrupted_everywhere_10_hops(void)
{
    world_init(&W);
    for (WIRE_FIRST = 0; WIRE_FIRST < 2; WIRE_FIRST++) interrupt_everywhere(255, 0, 1, 10);
    WIRE_FIRST = 0;
}

/* ---- Idempotency ------------------------------------------------------ */

static size_t pull_all(struct dc_session *s, uint8_t *out, size_t cap)
{
    return dc_session_pull(s, out, cap);
}

static void test_idempotent_resends(void)
{
    static uint8_t a[1 << 16], b[1 << 16];
    size_t n, m, len;
    world_init(&W);
    setup(64, 0, 1, 2);
    /* the request reaches the payer twice, before it pays: nothing changes */
    n = pull_all(H.payee.s, a, sizeof a);
    ASSERT_EQ(dc_session_push(H.payer.s, a, n), n);
    ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_RECV | DC_SESSION_NEED_COINS);
    ASSERT_EQ(dc_session_push(H.payer.s, a, n), n);
    ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_RECV | DC_SESSION_NEED_COINS);
    payer_pay();
    ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_NEED_PERSIST);
    payer_persist();
    m = pull_all(H.payer.s, b, sizeof b);
    const uint8_t *p = dc_session_payment(H.payer.s, &len);
    ASSERT_EQ(m, len + DC_FRAME_HEADER_BYTES * dc_frame_count(len, 64));
    /* ... and again after paying: the very same payment goes out again */
    static uint8_t b2[1 << 16];
    ASSERT_EQ(dc_session_push(H.payer.s, a, n), n);
    ASSERT_EQ(pull_all(H.payer.s, b2, sizeof b2), m);
    ASSERT_MEM(b2, b, m);
    ASSERT(p != NULL);
    /* a re-sent single frame of the request (its last) is not a re-sent request */
    uint8_t last[DC_FRAME_MAX];
    size_t ll;
    const uint8_t *rq = dc_session_request(H.payer.s, &len);
    ASSERT_OK(dc_frame_encode(last, sizeof last, &ll, rq, len, 64, dc_frame_count(len, 64) - 1));
    ASSERT_MEM(a + n - ll, last, ll);
    ASSERT_EQ(dc_session_push(H.payer.s, last, ll), ll);
    ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_RECV);
    p = dc_session_payment(H.payer.s, &len);

    /* the payee takes the payment, twice: one verification, same receipt */
    ASSERT_EQ(dc_session_push(H.payee.s, b, m), m);
    ASSERT_EQ(dc_session_push(H.payee.s, b2, m), m);
    ASSERT(dc_session_want(H.payee.s) & DC_SESSION_NEED_VERIFY);
    payee_verify();
    ASSERT_EQ(dc_session_push(H.payee.s, b, m), m); /* while persisting: ignored */
    ASSERT_EQ(dc_session_want(H.payee.s), DC_SESSION_RECV | DC_SESSION_NEED_PERSIST);
    payee_persist();
    static uint8_t r1[4096], r2[4096];
    size_t l1 = pull_all(H.payee.s, r1, sizeof r1);
    ASSERT_EQ(dc_session_want(H.payee.s), DC_SESSION_RECV | DC_SESSION_DONE);
    ASSERT_EQ(dc_session_push(H.payee.s, b, m), m);
    ASSERT_EQ(dc_session_want(H.payee.s), DC_SESSION_SEND | DC_SESSION_RECV | DC_SESSION_DONE);
    size_t l2 = pull_all(H.payee.s, r2, sizeof r2);
    ASSERT_EQ(l2, l1);
    ASSERT_MEM(r2, r1, l1);
    /* a payment re-sent with another frame size is the same payment */
    static uint8_t b3[1 << 16];
    size_t m3 = 0;
    for (size_t i = 0; i < dc_frame_count(len, 255); i++) {
        size_t fl;
        ASSERT_OK(dc_frame_encode(b3 + m3, sizeof b3 - m3, &fl, p, len, 255, i));
        m3 += fl;
    }
    ASSERT_EQ(dc_session_push(H.payee.s, b3, m3), m3);
    ASSERT_EQ(pull_all(H.payee.s, r2, sizeof r2), l1);
    ASSERT_MEM(r2, r1, l1);
    /* the payer takes the receipt (twice is harmless) and is done */
    ASSERT_EQ(dc_session_push(H.payer.s, r1, l1), l1);
    ASSERT_EQ(dc_session_want(H.payer.s), DC_SESSION_DONE);
    ASSERT_EQ(dc_session_push(H.payer.s, r1, l1), 0);
    ASSERT_EQ(H.store.persists, 1);
    ASSERT_EQ(H.store.n_coins, 1);
}

/* A context is plain bytes: a copy continues exactly like the original. */
static void test_copy_continues_identically(void)
{
    static struct dc_session payee2, payer2;
    static uint8_t a[1 << 16], b[1 << 16];
    world_init(&W);
    setup(32, 0, 1, 1);
    size_t n = dc_session_pull(H.payee.s, a, 40); /* a frame and a half */
    ASSERT_EQ(n, 40);
    memcpy(&payee2, H.payee.s, sizeof payee2);
    ASSERT_EQ(dc_session_pull(H.payee.s, a + n, sizeof a - n),
              dc_session_pull(&payee2, b, sizeof b));
    ASSERT_MEM(a + n, b, 200);
    /* the payer, fed in two halves, with a copy taken in between */
    size_t all = DC_REQUEST_BYTES + DC_FRAME_HEADER_BYTES * dc_frame_count(DC_REQUEST_BYTES, 32);
    ASSERT_EQ(dc_session_push(H.payer.s, a, 100), 100);
    memcpy(&payer2, H.payer.s, sizeof payer2);
    ASSERT_EQ(dc_session_push(H.payer.s, a + 100, all - 100), all - 100);
    ASSERT_EQ(dc_session_push(&payer2, a + 100, all - 100), all - 100);
    ASSERT_EQ(memcmp(&payer2, H.payer.s, sizeof payer2), 0);
    ASSERT(dc_session_want(&payer2) & DC_SESSION_NEED_COINS);
}

/* ---- Refusals --------------------------------------------------------- */

static void feed_frames(struct dc_session *s, const uint8_t *msg, size_t len, unsigned fmax)
{
    uint8_t f[DC_FRAME_MAX];
    for (size_t i = 0; i < dc_frame_count(len, fmax); i++) {
        size_t fl;
        ASSERT_OK(dc_frame_encode(f, sizeof f, &fl, msg, len, fmax, i));
        dc_session_push(s, f, fl);
    }
}

static void test_peer_refusals(void)
{
    static struct dc_session s;
    static uint8_t p[DC_PAYMENT_MAX_BYTES];
    struct dc_request r;
    uint8_t req[DC_REQUEST_BYTES], junk[8] = {0x13, 0, 0, 1, 0, 5, 0, 0};
    world_init(&W);
    make_request(&r, 100, 0x55);
    ASSERT_OK(dc_request_sign(req, &r, W.bob.sk));

    /* garbage at a payee */
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    dc_session_push(&s, junk, sizeof junk);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_FAILED);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_DECODE_TYPE);
    ASSERT(dc_session_send_buf(&s, &(size_t){0}) == NULL);
    /* a request sent to a payee */
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    feed_frames(&s, req, sizeof req, 255);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_MSG_UNEXPECTED);
    /* a receipt before paying, and a payment, sent to a payer */
    uint8_t rcpt[DC_RECEIPT_BYTES];
    struct dc_receipt rc;
    memset(&rc, 0, sizeof rc);
    dc_receipt_sign(rcpt, &rc, W.bob.sk);
    ASSERT_OK(dc_session_payer_start(&s, 0));
    feed_frames(&s, rcpt, sizeof rcpt, 255);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_MSG_UNEXPECTED);
    size_t plen = build_payment(p, req, sizeof req, 1, 1);
    ASSERT_OK(dc_session_payer_start(&s, 0));
    feed_frames(&s, p, plen, 255);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_MSG_UNEXPECTED);
    /* a forged request: its signature fails */
    uint8_t bad[DC_REQUEST_BYTES];
    memcpy(bad, req, sizeof bad);
    bad[3] ^= 1;
    ASSERT_OK(dc_session_payer_start(&s, 0));
    feed_frames(&s, bad, sizeof bad, 255);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_BAD_SIGNATURE);
    /* an oversize message is refused at its first frame header */
    uint8_t big[DC_FRAME_MAX] = {DC_MSG_REQUEST, 0, 0, 9, 0, 249};
    ASSERT_OK(dc_session_payer_start(&s, 0));
    big[6] = DC_MSG_REQUEST;
    dc_session_push(&s, big, sizeof big);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_MSG_TOO_LARGE);
    /* a frame out of order */
    uint8_t f[DC_FRAME_MAX];
    size_t fl;
    ASSERT_OK(dc_session_payer_start(&s, 0));
    ASSERT_OK(dc_frame_encode(f, sizeof f, &fl, req, sizeof req, 32, 1));
    dc_session_push(&s, f, fl);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_FRAME_ORDER);

    /* after paying, a different request (a new nonce) is refused */
    ASSERT_OK(dc_session_payer_start(&s, 0));
    feed_frames(&s, req, sizeof req, 255);
    ASSERT_OK(dc_session_payer_pay(&s, p, plen));
    ASSERT_OK(dc_session_persisted(&s));
    struct dc_request r2;
    uint8_t req2[DC_REQUEST_BYTES];
    make_request(&r2, 100, 0x56);
    ASSERT_OK(dc_request_sign(req2, &r2, W.bob.sk));
    feed_frames(&s, req2, sizeof req2, 255);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_FRAME_CONFLICT);
    /* a receipt for another payment, or signed by someone else */
    static const uint8_t nonce_tags[3] = {0, 1, 2};
    for (int v = 0; v < 3; v++) {
        ASSERT_OK(dc_session_payer_start(&s, 0));
        feed_frames(&s, req, sizeof req, 255);
        ASSERT_OK(dc_session_payer_pay(&s, p, plen));
        ASSERT_OK(dc_session_persisted(&s));
        uint8_t sink[4096];
        dc_session_pull(&s, sink, sizeof sink);
        dc_request_hash(rc.request_hash, req, sizeof req);
        dc_payment_hash(rc.payment_hash, p, plen);
        if (nonce_tags[v] == 1) rc.payment_hash[0] ^= 1;
        dc_receipt_sign(rcpt, &rc, nonce_tags[v] == 2 ? W.carol.sk : W.bob.sk);
        feed_frames(&s, rcpt, sizeof rcpt, 255);
        ASSERT_ERR(dc_session_error(&s), v == 0   ? DC_OK
                                         : v == 1 ? DC_ERR_RECEIPT_MISMATCH
                                                  : DC_ERR_BAD_SIGNATURE);
        ASSERT_EQ(dc_session_want(&s), v == 0 ? DC_SESSION_DONE : DC_SESSION_FAILED);
    }

    /* a payee refusing a payment fails; a committed payee ignores junk */
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    uint8_t p2[DC_PAYMENT_MAX_BYTES];
    struct dc_request rr;
    uint8_t reqx[DC_REQUEST_BYTES];
    make_request(&rr, 100, 0x57);
    ASSERT_OK(dc_request_sign(reqx, &rr, W.bob.sk));
    size_t p2len = build_payment(p2, reqx, sizeof reqx, 1, 1);
    feed_frames(&s, p2, p2len, 255);
    ASSERT(dc_session_want(&s) & DC_SESSION_NEED_VERIFY);
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
    struct dc_payment_result res;
    ASSERT_ERR(dc_session_payee_verify(&s, &res, &chk, W.bob.sk, T0), DC_ERR_PAY_WRONG_REQUEST);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_FAILED);

    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    feed_frames(&s, p, plen, 255);
    ASSERT_OK(dc_session_payee_verify(&s, &res, &chk, W.bob.sk, T0));
    dc_session_push(&s, junk, sizeof junk);
    feed_frames(&s, p2, p2len, 255); /* another payment: refused, dropped */
    ASSERT_EQ(dc_session_want(&s) & ~DC_SESSION_SEND, DC_SESSION_RECV | DC_SESSION_NEED_PERSIST);
    ASSERT_OK(dc_session_persisted(&s));
    ASSERT(dc_session_want(&s) & DC_SESSION_SEND);
}

static void test_host_refusals(void)
{
    static struct dc_session s;
    static uint8_t p[DC_PAYMENT_MAX_BYTES];
    struct dc_request r;
    uint8_t req[DC_REQUEST_BYTES];
    world_init(&W);
    make_request(&r, 100, 0x55);
    ASSERT_OK(dc_request_sign(req, &r, W.bob.sk));
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};

    /* bad start arguments leave a FAILED session */
    ASSERT_ERR(dc_session_payee_start(&s, &r, W.alice.sk, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_FAILED);
    ASSERT_ERR(dc_session_payer_start(&s, 300), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_session_payer_start(&s, 8), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_INVALID_ARGUMENT);

    /* calls in the wrong state change nothing */
    ASSERT_OK(dc_session_payer_start(&s, 0));
    ASSERT_ERR(dc_session_payer_pay(&s, p, 10), DC_ERR_SESSION_STATE);
    ASSERT_ERR(dc_session_persisted(&s), DC_ERR_SESSION_STATE);
    ASSERT_ERR(dc_session_payee_verify(&s, NULL, &chk, W.bob.sk, T0), DC_ERR_SESSION_STATE);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_RECV);

    /* a payment the payer's own wallet got wrong: refused, still NEED_COINS */
    feed_frames(&s, req, sizeof req, 255);
    struct dc_request other;
    uint8_t req2[DC_REQUEST_BYTES];
    make_request(&other, 200, 0x55);
    ASSERT_OK(dc_request_sign(req2, &other, W.bob.sk));
    size_t plen = build_payment(p, req2, sizeof req2, 2, 1);
    ASSERT_ERR(dc_session_payer_pay(&s, p, plen), DC_ERR_PAY_WRONG_REQUEST);
    /* right request, wrong sum */
    plen = build_payment(p, req, sizeof req, 2, 1);
    ASSERT_ERR(dc_session_payer_pay(&s, p, plen), DC_ERR_PAY_AMOUNT);
    ASSERT_ERR(dc_session_payer_pay(&s, p, plen - 1), DC_ERR_DECODE_TRUNCATED);
    ASSERT_ERR(dc_session_payer_pay(&s, p, DC_PAYMENT_MAX_BYTES + 1), DC_ERR_MSG_TOO_LARGE);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_RECV | DC_SESSION_NEED_COINS);
    /* coins to the wrong receiver or with the wrong nonce */
    static uint8_t c[DC_COIN_MAX_BYTES];
    struct dc_payment pv;
    memset(&pv, 0, sizeof pv);
    dc_request_hash(pv.request_hash, req, sizeof req);
    pv.n = 1;
    pv.coin[0] = c;
    uint8_t n55[DC_NONCE_BYTES], n54[DC_NONCE_BYTES];
    nonce_of(n55, 0x55);
    nonce_of(n54, 0x54);
    pv.coin_len[0] = make_coin(c, 100, 1, &W.carol, n55, 1);
    ASSERT_OK(dc_payment_encode(p, sizeof p, &plen, &pv));
    ASSERT_ERR(dc_session_payer_pay(&s, p, plen), DC_ERR_WRONG_RECEIVER);
    pv.coin_len[0] = make_coin(c, 100, 1, &W.bob, n54, 1);
    ASSERT_OK(dc_payment_encode(p, sizeof p, &plen, &pv));
    ASSERT_ERR(dc_session_payer_pay(&s, p, plen), DC_ERR_NONCE_MISMATCH);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_RECV | DC_SESSION_NEED_COINS);

    /* the payee's store cannot answer: the host may retry */
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    plen = build_payment(p, req, sizeof req, 1, 1);
    feed_frames(&s, p, plen, 255);
    struct store st;
    memset(&st, 0, sizeof st);
    st.fail_with = DC_ERR_STORE;
    struct dc_payment_check chk2 = {&W.trust, store_seen, &st, NULL};
    ASSERT_ERR(dc_session_payee_verify(&s, NULL, &chk2, W.bob.sk, T0), DC_ERR_STORE);
    ASSERT(dc_session_want(&s) & DC_SESSION_NEED_VERIFY);
    ASSERT_ERR(dc_session_payee_verify(&s, NULL, &chk2, W.alice.sk, T0), DC_ERR_INVALID_ARGUMENT);
    st.fail_with = DC_OK;
    ASSERT_OK(dc_session_payee_verify(&s, NULL, &chk2, W.bob.sk, T0));
    /* a fork in the seen-set fails the payee for good */
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    feed_frames(&s, p, plen, 255);
    st.fail_with = DC_ERR_COIN_SPENT;
    ASSERT_ERR(dc_session_payee_verify(&s, NULL, &chk2, W.bob.sk, T0), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(dc_session_want(&s), DC_SESSION_FAILED);
    ASSERT_ERR(dc_session_error(&s), DC_ERR_FORK_DETECTED);
}

static void test_corrupt_context(void)
{
    static struct dc_session s, c;
    struct dc_request r;
    world_init(&W);
    make_request(&r, 100, 0x55);
    ASSERT_OK(dc_session_payee_start(&s, &r, W.bob.sk, 0));
    ASSERT_OK(dc_session_check(&s));
    size_t n;
    /* a few fields a bad disk or a bad actor could change */
    struct {
        size_t off;
        uint8_t val;
    } flips[] = {
        {offsetof(struct dc_session, magic), 0},     {offsetof(struct dc_session, size), 1},
        {offsetof(struct dc_session, role), 7},      {offsetof(struct dc_session, state), 99},
        {offsetof(struct dc_session, frame_max), 3}, {offsetof(struct dc_session, tx_tag), 0x77},
        {offsetof(struct dc_session, tx_off), 0xff}, {offsetof(struct dc_session, rx_have), 0xff},
        {offsetof(struct dc_session, req_len), 5},   {offsetof(struct dc_session, pay_len) + 2, 9},
        {offsetof(struct dc_session, rx) + 2, 9},    {offsetof(struct dc_session, err), 1},
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(&c, &s, sizeof c);
        ((uint8_t *)&c)[flips[i].off] = flips[i].val;
        ASSERT(dc_session_check(&c) != DC_OK);
        ASSERT_EQ(dc_session_want(&c), DC_SESSION_FAILED);
        ASSERT(dc_session_send_buf(&c, &n) == NULL && n == 0);
        ASSERT(dc_session_recv_buf(&c, &n) == NULL && n == 0);
        ASSERT_ERR(dc_session_persisted(&c), DC_ERR_SESSION_CORRUPT);
        ASSERT(dc_session_request(&c, &n) == NULL);
        dc_session_reconnect(&c, 0);
        dc_session_send_ack(&c, 1);
        dc_session_recv_ack(&c, 1);
    }
}

/* ---- Figures: bytes on the wire --------------------------------------- */

static void test_figures_wire_bytes(void)
{
    static const int hops[3] = {1, 5, 10};
    static const unsigned fmax[2] = {255, 32};
    world_init(&W);
    for (int m = 0; m < 2; m++) {
        for (int h = 0; h < 3; h++) {
            setup(fmax[m], 0, 1, hops[h]);
            run(100000);
            check_outcome();
            size_t plen;
            ASSERT(dc_session_payment(H.payer.s, &plen) != NULL);
            size_t frames = dc_frame_count(DC_REQUEST_BYTES, fmax[m]) +
                            dc_frame_count(plen, fmax[m]) +
                            dc_frame_count(DC_RECEIPT_BYTES, fmax[m]);
            ASSERT_EQ(H.wire_bytes,
                      DC_REQUEST_BYTES + plen + DC_RECEIPT_BYTES + DC_FRAME_HEADER_BYTES * frames);
            printf("# figure: %2d-hop coin, %3u-byte frames: request %d + payment %zu + receipt %d "
                   "= %zu B in %zu frames on the wire\n",
                   hops[h], fmax[m], DC_REQUEST_BYTES, plen, DC_RECEIPT_BYTES, H.wire_bytes,
                   frames);
        }
    }
}

/* ---- Seed corpora for the fuzz targets -------------------------------- */

static void write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(b, 1, n, f), n);
    ASSERT_EQ(fclose(f), 0);
}

static size_t frames_into(uint8_t *out, const uint8_t *msg, size_t len, unsigned fmax)
{
    size_t at = 0;
    for (size_t i = 0; i < dc_frame_count(len, fmax); i++) {
        size_t fl;
        ASSERT_OK(dc_frame_encode(out + at, DC_FRAME_MAX, &fl, msg, len, fmax, i));
        at += fl;
    }
    return at;
}

/* The fuzz targets rebuild the same world: Bob asks 100 with nonce 0x55 at
 * T0+1000; Alice pays one 1-hop coin (serial tag 1); the receipt time is
 * T0+2000. */
static void test_write_corpus(void)
{
    if (!getenv("DC_WRITE_CORPUS")) return;
    static uint8_t buf[1 << 16], p[DC_PAYMENT_MAX_BYTES];
    struct dc_request r;
    uint8_t req[DC_REQUEST_BYTES], rcpt[DC_RECEIPT_BYTES];
    world_init(&W);
    make_request(&r, 100, 0x55);
    ASSERT_OK(dc_request_sign(req, &r, W.bob.sk));
    size_t plen = build_payment(p, req, sizeof req, 1, 1);
    struct dc_receipt rc;
    dc_request_hash(rc.request_hash, req, sizeof req);
    dc_payment_hash(rc.payment_hash, p, plen);
    rc.time = T0 + 2000;
    dc_receipt_sign(rcpt, &rc, W.bob.sk);
    mkdir("fuzz/corpus/proto", 0755);
    mkdir("fuzz/corpus/session", 0755);

    /* fuzz_proto: first byte selects the decoder (0 request, 1 payment,
     * 2 receipt, 3 a frame stream into a reassembler, 4 all decoders) */
    buf[0] = 0;
    memcpy(buf + 1, req, sizeof req);
    write_file("fuzz/corpus/proto", "request", buf, 1 + sizeof req);
    buf[0] = 1;
    memcpy(buf + 1, p, plen);
    write_file("fuzz/corpus/proto", "payment_1hop", buf, 1 + plen);
    buf[0] = 2;
    memcpy(buf + 1, rcpt, sizeof rcpt);
    write_file("fuzz/corpus/proto", "receipt", buf, 1 + sizeof rcpt);
    buf[0] = 3;
    size_t n = frames_into(buf + 1, p, plen, 32);
    write_file("fuzz/corpus/proto", "frames_payment_32", buf, 1 + n);
    buf[0] = 3;
    n = frames_into(buf + 1, req, sizeof req, 16);
    write_file("fuzz/corpus/proto", "frames_request_16", buf, 1 + n);
    buf[0] = 4;
    write_file("fuzz/corpus/proto", "all_short", buf, 3);
    static uint8_t p3[DC_PAYMENT_MAX_BYTES];
    struct dc_request r3;
    uint8_t req3[DC_REQUEST_BYTES];
    make_request(&r3, 300, 0x55);
    ASSERT_OK(dc_request_sign(req3, &r3, W.bob.sk));
    size_t p3len = build_payment(p3, req3, sizeof req3, 3, 2);
    buf[0] = 1;
    memcpy(buf + 1, p3, p3len);
    write_file("fuzz/corpus/proto", "payment_3coins", buf, 1 + p3len);

    /* fuzz_session: byte 0 = mode (bit 0 payer, bits 1-2 frame size
     * 255/32/16/64, bits 3-4 chunk 1/7/64/all, bit 5 reconnect halfway),
     * then the peer's byte stream; bit 7: mutate a saved context */
    buf[0] = 0x18; /* payee, 255, all */
    n = frames_into(buf + 1, p, plen, 255);
    write_file("fuzz/corpus/session", "payee_payment_255", buf, 1 + n);
    buf[0] = 0x02; /* payee, 32, 1-byte chunks */
    n = frames_into(buf + 1, p, plen, 32);
    n += frames_into(buf + 1 + n, p, plen, 64); /* and re-sent */
    write_file("fuzz/corpus/session", "payee_payment_32_resent", buf, 1 + n);
    buf[0] = 0x01; /* payer, 255, 1-byte chunks */
    n = frames_into(buf + 1, req, sizeof req, 255);
    n += frames_into(buf + 1 + n, rcpt, sizeof rcpt, 255);
    write_file("fuzz/corpus/session", "payer_request_receipt", buf, 1 + n);
    buf[0] = 0x09 | 0x20; /* payer, 255, 7-byte chunks, reconnect */
    n = frames_into(buf + 1, req, sizeof req, 32);
    n += frames_into(buf + 1 + n, req, sizeof req, 255);
    n += frames_into(buf + 1 + n, rcpt, sizeof rcpt, 16);
    write_file("fuzz/corpus/session", "payer_resent_request", buf, 1 + n);
    buf[0] = 0x18;
    memcpy(buf + 1, "\x41\x00\x00\x02\x00\xf9", 6);
    write_file("fuzz/corpus/session", "payee_truncated", buf, 7);
    for (uint8_t k = 0; k < 4; k++) {
        char name[32];
        buf[0] = (uint8_t)(0x80 | k);
        /* (pos u16 LE, xor) triples applied to a saved context */
        uint8_t tri[9] = {8, 0, 1, 12, 0, 0x40, 40, 0, 3};
        memcpy(buf + 1, tri, sizeof tri);
        snprintf(name, sizeof name, "context_%u", k);
        write_file("fuzz/corpus/session", name, buf, 1 + (k ? sizeof tri : 0));
    }
    printf("# wrote the seed corpora\n");
}

TESTS(T(test_exchange_stream), T(test_exchange_frame_by_frame), T(test_interrupted_everywhere),
      T(test_interrupted_everywhere_10_hops), T(test_idempotent_resends),
      T(test_copy_continues_identically), T(test_peer_refusals), T(test_host_refusals),
      T(test_corrupt_context), T(test_figures_wire_bytes), T(test_write_corpus))

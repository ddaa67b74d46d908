/*
 * session.c - the offline payment session engine (sans-I/O, BearSSL style).
 *
 * One struct dc_session per side of one exchange. The host moves bytes
 * (send_buf/send_ack, recv_buf/recv_ack), reads dc_session_want() and
 * answers NEED_COINS / NEED_VERIFY / NEED_PERSIST; the engine owns the
 * message order, framing, reassembly, re-sends and the payer's receipt
 * check. Protocol and crash-safety rules: include/ducat/proto.h.
 *
 * States (private). Payee: REQUEST (request queued or sent, waiting for the
 * payment) -> VERIFY -> PERSIST -> RECEIPT (receipt queued) -> DONE. Payer:
 * REQUEST (waiting) -> COINS -> PERSIST -> PAY (payment queued or sent,
 * waiting for the receipt) -> DONE. Either can end in FAILED.
 *
 * Error policy. Bad input from the peer fails the session, except once the
 * outcome is committed (payee: payment verified; payer: receipt accepted):
 * then bad input is dropped, so no stray byte can undo an accepted payment.
 * A host call made in the wrong state, or with a bad argument, is refused
 * with an error and changes nothing.
 *
 * The context is plain data (no pointers), so it can be memcpy'd, saved and
 * restored; since a restored context is untrusted input, every entry point
 * first checks its invariants (sane) and every index stays in bounds.
 */
#include <string.h>

#include "ducat/amount.h"
#include "ducat/codec.h"
#include "ducat/proto.h"
#include "wallet/proto_int.h"

enum {
    ST_FAILED = 1,
    ST_PE_REQUEST = 10,
    ST_PE_VERIFY,
    ST_PE_PERSIST,
    ST_PE_RECEIPT,
    ST_PE_DONE,
    ST_PR_REQUEST = 20,
    ST_PR_COINS,
    ST_PR_PERSIST,
    ST_PR_PAY,
    ST_PR_DONE,
};

#define N_SLOTS 3

/* No padding anywhere (equal contexts are equal bytes; nothing
 * uninitialised is ever written to disk). */
_Static_assert(offsetof(struct dc_session, rx) == 52 && sizeof(struct dc_rx) == 12 &&
                   offsetof(struct dc_session, req_hash) == 88 &&
                   offsetof(struct dc_session, tail) + 4 == sizeof(struct dc_session),
               "struct dc_session has padding");

/* ---- Message slots ---------------------------------------------------- */

static int slot_index(uint8_t tag)
{
    return tag >= DC_MSG_REQUEST && tag <= DC_MSG_RECEIPT ? tag - DC_MSG_REQUEST : -1;
}

/* The buffer of a message type, its capacity and its length field. */
static uint8_t *slot(struct dc_session *s, int i, size_t *cap, uint32_t **len)
{
    switch (i) {
    case 0:
        *cap = sizeof s->req;
        *len = &s->req_len;
        return s->req;
    case 1:
        *cap = sizeof s->pay;
        *len = &s->pay_len;
        return s->pay;
    default:
        *cap = sizeof s->rcpt;
        *len = &s->rcpt_len;
        return s->rcpt;
    }
}

static const uint8_t *slot_c(const struct dc_session *s, uint8_t tag, size_t *len)
{
    switch (tag) {
    case DC_MSG_REQUEST:
        *len = s->req_len;
        return s->req;
    case DC_MSG_PAYMENT:
        *len = s->pay_len;
        return s->pay;
    case DC_MSG_RECEIPT:
        *len = s->rcpt_len;
        return s->rcpt;
    default:
        *len = 0;
        return NULL;
    }
}

/* ---- Invariants ------------------------------------------------------- */

static int state_ok(const struct dc_session *s)
{
    if (s->state == ST_FAILED) return 1;
    if (s->role == DC_ROLE_PAYEE) return s->state >= ST_PE_REQUEST && s->state <= ST_PE_DONE;
    if (s->role == DC_ROLE_PAYER) return s->state >= ST_PR_REQUEST && s->state <= ST_PR_DONE;
    return 0;
}

/* Which messages a state must already hold (a message still being
 * received, or one refused, may have any length up to its buffer). */
static int slots_ok(const struct dc_session *s)
{
    if (s->state == ST_FAILED) return 1;
    int st = s->state;
    if (s->role == DC_ROLE_PAYEE) {
        return s->req_len == DC_REQUEST_BYTES && (st < ST_PE_VERIFY || s->pay_len != 0) &&
               (st < ST_PE_PERSIST || s->rcpt_len == DC_RECEIPT_BYTES);
    }
    return (st < ST_PR_COINS || s->req_len == DC_REQUEST_BYTES) &&
           (st < ST_PR_PERSIST || s->pay_len != 0) &&
           (st < ST_PR_DONE || s->rcpt_len == DC_RECEIPT_BYTES);
}

static int tx_ok(const struct dc_session *s)
{
    if (s->tx_off > s->tx_frame_len || s->tx_frame_len > DC_FRAME_MAX) return 0;
    if (s->tx_next != 0) {
        size_t n;
        if (!slot_c(s, s->tx_next, &n) || n == 0) return 0;
    }
    if (s->tx_tag == 0) return s->tx_next == 0 && s->tx_frame_len == 0;
    size_t len;
    if (!slot_c(s, s->tx_tag, &len) || len == 0) return 0;
    return s->tx_count == dc_frame_count(len, s->frame_max) && s->tx_index < s->tx_count;
}

static int sane(const struct dc_session *s)
{
    if (!s || s->magic != DC_SESSION_MAGIC || s->size != sizeof *s) return 0;
    if (!state_ok(s) || (s->state == ST_FAILED) != (s->err != DC_OK)) return 0;
    if (s->frame_max < DC_FRAME_MIN) return 0;
    if (s->req_len > sizeof s->req || s->rcpt_len > sizeof s->rcpt || s->pay_len > sizeof s->pay) {
        return 0;
    }
    static const size_t caps[N_SLOTS] = {DC_REQUEST_BYTES, DC_PAYMENT_MAX_BYTES, DC_RECEIPT_BYTES};
    for (int i = 0; i < N_SLOTS; i++) {
        const struct dc_rx *rx = &s->rx[i];
        if (rx->next > rx->count || rx->plen > DC_FRAME_PAYLOAD_MAX || rx->len > caps[i]) return 0;
    }
    if (s->rx_have > DC_FRAME_MAX) return 0;
    if (s->rx_have >= DC_FRAME_HEADER_BYTES &&
        (dc_frame_header_check(s->rx_frame) != DC_OK ||
         s->rx_have >= DC_FRAME_HEADER_BYTES + s->rx_frame[5])) {
        return 0;
    }
    return tx_ok(s) && slots_ok(s);
}

/* ---- Sending ---------------------------------------------------------- */

static void tx_build(struct dc_session *s)
{
    size_t len;
    const uint8_t *msg = slot_c(s, s->tx_tag, &len);
    s->tx_frame_len = (uint16_t)dc_frame_build(
        s->tx_frame, msg, len, (size_t)s->frame_max - DC_FRAME_HEADER_BYTES, s->tx_index);
    s->tx_off = 0;
}

static void tx_clear(struct dc_session *s)
{
    s->tx_tag = 0;
    s->tx_next = 0;
    s->tx_index = s->tx_count = s->tx_off = s->tx_frame_len = 0;
}

static void tx_start(struct dc_session *s, uint8_t tag)
{
    size_t len;
    slot_c(s, tag, &len);
    s->tx_tag = tag;
    s->tx_next = 0;
    s->tx_index = 0;
    s->tx_count = (uint16_t)dc_frame_count(len, s->frame_max);
    tx_build(s);
}

/* Queues a whole message. A frame already begun is finished first (frames
 * are never cut); the rest of a message it abandons is one the peer no
 * longer needs (see proto.h). With unless_sending, a message already on its
 * way is not restarted. */
static void tx_queue(struct dc_session *s, uint8_t tag, int unless_sending)
{
    if (unless_sending && (s->tx_tag == tag || s->tx_next == tag)) return;
    if (s->tx_tag == 0 || s->tx_off == 0) {
        tx_start(s, tag);
    } else {
        s->tx_next = tag;
    }
}

static void fail(struct dc_session *s, enum dc_err e)
{
    s->state = ST_FAILED;
    s->err = (int32_t)(e != DC_OK ? e : DC_ERR_INTERNAL);
    tx_clear(s);
    s->rx_have = 0;
}

static void on_sent(struct dc_session *s, uint8_t tag)
{
    if (s->role == DC_ROLE_PAYEE && tag == DC_MSG_RECEIPT && s->state == ST_PE_RECEIPT) {
        s->state = ST_PE_DONE;
    }
}

const uint8_t *dc_session_send_buf(const struct dc_session *s, size_t *len)
{
    *len = 0;
    if (!sane(s) || s->state == ST_FAILED || s->tx_tag == 0) return NULL;
    *len = (size_t)(s->tx_frame_len - s->tx_off);
    return s->tx_frame + s->tx_off;
}

void dc_session_send_ack(struct dc_session *s, size_t n)
{
    if (!sane(s) || s->state == ST_FAILED || s->tx_tag == 0) return;
    if (n == 0 || n > (size_t)(s->tx_frame_len - s->tx_off)) return;
    s->tx_off = (uint16_t)(s->tx_off + n);
    if (s->tx_off < s->tx_frame_len) return;
    if (s->tx_next != 0) {
        tx_start(s, s->tx_next);
        return;
    }
    if (++s->tx_index < s->tx_count) {
        tx_build(s);
        return;
    }
    uint8_t done = s->tx_tag;
    tx_clear(s);
    on_sent(s, done);
}

/* ---- Receiving -------------------------------------------------------- */

static int committed(const struct dc_session *s)
{
    return s->state >= ST_PE_PERSIST && s->state <= ST_PE_DONE;
}

static void rx_error(struct dc_session *s, enum dc_err e)
{
    s->rx_have = 0;
    if (!committed(s)) fail(s, e);
}

/* Which message types this side takes now: DC_OK or DC_ERR_MSG_UNEXPECTED. */
static enum dc_err route(const struct dc_session *s, uint8_t tag)
{
    if (s->role == DC_ROLE_PAYEE) return tag == DC_MSG_PAYMENT ? DC_OK : DC_ERR_MSG_UNEXPECTED;
    if (tag == DC_MSG_REQUEST) return DC_OK;
    if (tag == DC_MSG_RECEIPT && s->state == ST_PR_PAY) return DC_OK;
    return DC_ERR_MSG_UNEXPECTED;
}

static void on_request(struct dc_session *s)
{
    struct dc_request r;
    enum dc_err e = dc_request_decode(&r, s->req, s->req_len);
    if (e == DC_OK) e = dc_request_check(&r);
    if (e != DC_OK) {
        fail(s, e);
        return;
    }
    dc_request_hash(s->req_hash, s->req, s->req_len);
    s->state = ST_PR_COINS;
}

static void on_receipt(struct dc_session *s)
{
    struct dc_request req;
    struct dc_receipt rc;
    enum dc_err e = dc_receipt_decode(&rc, s->rcpt, s->rcpt_len);
    if (e == DC_OK) e = dc_request_decode(&req, s->req, s->req_len);
    if (e == DC_OK && (memcmp(rc.request_hash, s->req_hash, DC_HASH_BYTES) != 0 ||
                       memcmp(rc.payment_hash, s->pay_hash, DC_HASH_BYTES) != 0)) {
        e = DC_ERR_RECEIPT_MISMATCH;
    }
    if (e == DC_OK) e = dc_receipt_check(&rc, req.payee.pub);
    if (e != DC_OK) {
        fail(s, e);
        return;
    }
    s->state = ST_PR_DONE;
}

static void on_complete(struct dc_session *s, uint8_t tag)
{
    if (s->role == DC_ROLE_PAYEE) {
        if (s->state == ST_PE_REQUEST) s->state = ST_PE_VERIFY;
    } else if (tag == DC_MSG_REQUEST) {
        on_request(s);
    } else if (tag == DC_MSG_RECEIPT) {
        on_receipt(s);
    }
}

/* The peer sent a message we already hold, in full: it lacks our answer. */
static void on_repeat(struct dc_session *s, uint8_t tag)
{
    if (s->role == DC_ROLE_PAYEE && tag == DC_MSG_PAYMENT &&
        (s->state == ST_PE_RECEIPT || s->state == ST_PE_DONE)) {
        tx_queue(s, DC_MSG_RECEIPT, 1);
    } else if (s->role == DC_ROLE_PAYER && tag == DC_MSG_REQUEST && s->state == ST_PR_PAY) {
        tx_queue(s, DC_MSG_PAYMENT, 1);
    }
}

static unsigned want(const struct dc_session *s)
{
    if (!sane(s) || s->state == ST_FAILED) return DC_SESSION_FAILED;
    unsigned w = s->tx_tag ? DC_SESSION_SEND : 0;
    switch (s->state) {
    case ST_PE_VERIFY:
        return w | DC_SESSION_RECV | DC_SESSION_NEED_VERIFY;
    case ST_PE_PERSIST:
        return w | DC_SESSION_RECV | DC_SESSION_NEED_PERSIST;
    case ST_PR_PERSIST:
        /* no input until the payment is durable: a receipt for it may be
         * on its way already (the payee kept it across a crash of ours) */
        return w | DC_SESSION_NEED_PERSIST;
    case ST_PE_DONE:
        return w | DC_SESSION_RECV | DC_SESSION_DONE;
    case ST_PR_COINS:
        return w | DC_SESSION_RECV | DC_SESSION_NEED_COINS;
    case ST_PR_DONE:
        return w | DC_SESSION_DONE;
    default:
        return w | DC_SESSION_RECV;
    }
}

unsigned dc_session_want(const struct dc_session *s)
{
    return want(s);
}

static size_t rx_need(const struct dc_session *s)
{
    return s->rx_have < DC_FRAME_HEADER_BYTES ? DC_FRAME_HEADER_BYTES
                                              : (size_t)DC_FRAME_HEADER_BYTES + s->rx_frame[5];
}

uint8_t *dc_session_recv_buf(struct dc_session *s, size_t *len)
{
    *len = 0;
    if (!(want(s) & DC_SESSION_RECV)) return NULL;
    *len = rx_need(s) - s->rx_have;
    return s->rx_frame + s->rx_have;
}

void dc_session_recv_ack(struct dc_session *s, size_t n)
{
    if (!(want(s) & DC_SESSION_RECV)) return;
    if (n == 0 || n > rx_need(s) - s->rx_have) return;
    s->rx_have = (uint16_t)(s->rx_have + n);
    if (s->rx_have == DC_FRAME_HEADER_BYTES) {
        /* refuse a bad header before reading the payload it announces */
        enum dc_err e = dc_frame_header_check(s->rx_frame);
        if (e == DC_OK) e = route(s, s->rx_frame[0]);
        if (e != DC_OK) {
            rx_error(s, e);
            return;
        }
    }
    if (s->rx_have < DC_FRAME_HEADER_BYTES || s->rx_have < rx_need(s)) return;

    uint8_t tag = s->rx_frame[0];
    int i = slot_index(tag), ev;
    size_t cap;
    uint32_t *len;
    uint8_t *buf = slot(s, i, &cap, &len);
    enum dc_err e = dc_rx_frame(&s->rx[i], &ev, buf, cap, len, s->rx_frame, s->rx_have);
    s->rx_have = 0;
    if (e != DC_OK) {
        rx_error(s, e);
    } else if (ev == DC_RX_COMPLETE) {
        on_complete(s, tag);
    } else if (ev == DC_RX_REPEAT) {
        on_repeat(s, tag);
    }
}

size_t dc_session_push(struct dc_session *s, const uint8_t *in, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n;
        uint8_t *b = dc_session_recv_buf(s, &n);
        if (!b || n == 0) break;
        if (n > len - done) n = len - done;
        memcpy(b, in + done, n);
        dc_session_recv_ack(s, n);
        done += n;
    }
    return done;
}

size_t dc_session_pull(struct dc_session *s, uint8_t *out, size_t cap)
{
    size_t done = 0;
    while (done < cap) {
        size_t n;
        const uint8_t *b = dc_session_send_buf(s, &n);
        if (!b || n == 0) break;
        if (n > cap - done) n = cap - done;
        memcpy(out + done, b, n);
        dc_session_send_ack(s, n);
        done += n;
    }
    return done;
}

/* ---- Host calls ------------------------------------------------------- */

static enum dc_err init(struct dc_session *s, uint8_t role, unsigned frame_max)
{
    memset(s, 0, sizeof *s);
    s->magic = DC_SESSION_MAGIC;
    s->size = (uint32_t)sizeof *s;
    s->role = role;
    s->frame_max = DC_FRAME_MAX;
    s->state = role == DC_ROLE_PAYEE ? ST_PE_REQUEST : ST_PR_REQUEST;
    if (frame_max != 0 && (frame_max < DC_FRAME_MIN || frame_max > DC_FRAME_MAX)) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    if (frame_max != 0) s->frame_max = (uint8_t)frame_max;
    return DC_OK;
}

enum dc_err dc_session_payee_start(struct dc_session *s, const struct dc_request *r,
                                   const uint8_t payee_sk[static DC_SECKEY_BYTES],
                                   unsigned frame_max)
{
    enum dc_err e = init(s, DC_ROLE_PAYEE, frame_max);
    if (e == DC_OK) {
        struct dc_request q = *r;
        e = dc_request_sign(s->req, &q, payee_sk);
    }
    if (e != DC_OK) {
        memset(s->req, 0, sizeof s->req);
        fail(s, e);
        return e;
    }
    s->req_len = DC_REQUEST_BYTES;
    dc_request_hash(s->req_hash, s->req, s->req_len);
    tx_queue(s, DC_MSG_REQUEST, 0);
    return DC_OK;
}

enum dc_err dc_session_payer_start(struct dc_session *s, unsigned frame_max)
{
    enum dc_err e = init(s, DC_ROLE_PAYER, frame_max);
    if (e != DC_OK) fail(s, e);
    return e;
}

enum dc_err dc_session_error(const struct dc_session *s)
{
    if (!sane(s)) return DC_ERR_SESSION_CORRUPT;
    return (enum dc_err)s->err;
}

enum dc_err dc_session_check(const struct dc_session *s)
{
    if (!s) return DC_ERR_INVALID_ARGUMENT;
    return sane(s) ? DC_OK : DC_ERR_SESSION_CORRUPT;
}

void dc_session_reconnect(struct dc_session *s, unsigned frame_max)
{
    if (!sane(s) || s->state == ST_FAILED) return;
    if (frame_max == 0) frame_max = DC_FRAME_MAX;
    if (frame_max >= DC_FRAME_MIN && frame_max <= DC_FRAME_MAX) s->frame_max = (uint8_t)frame_max;
    s->rx_have = 0;
    for (int i = 0; i < N_SLOTS; i++) {
        size_t cap;
        uint32_t *len;
        slot(s, i, &cap, &len);
        if (*len == 0) {
            memset(&s->rx[i], 0, sizeof s->rx[i]); /* a partial message is dropped */
        } else {
            s->rx[i].next = 0; /* a partial re-send pass is dropped */
        }
    }
    tx_clear(s);
    if (s->state == ST_PE_REQUEST) tx_queue(s, DC_MSG_REQUEST, 0);
    if (s->state == ST_PE_RECEIPT || s->state == ST_PE_DONE) tx_queue(s, DC_MSG_RECEIPT, 0);
}

static const uint8_t *held(const struct dc_session *s, uint8_t tag, size_t *len)
{
    *len = 0;
    if (!sane(s)) return NULL;
    const uint8_t *p = slot_c(s, tag, len);
    return *len ? p : NULL;
}

const uint8_t *dc_session_request(const struct dc_session *s, size_t *len)
{
    return held(s, DC_MSG_REQUEST, len);
}

const uint8_t *dc_session_payment(const struct dc_session *s, size_t *len)
{
    return held(s, DC_MSG_PAYMENT, len);
}

const uint8_t *dc_session_receipt(const struct dc_session *s, size_t *len)
{
    return held(s, DC_MSG_RECEIPT, len);
}

/* Entry check of a host call that needs state `st`: DC_ERR_INVALID_ARGUMENT
 * (NULL), DC_ERR_SESSION_CORRUPT (a context that fails its invariants),
 * DC_ERR_SESSION_STATE (a good context in another state: a host bug, or a
 * call repeated after it took effect). */
static enum dc_err host_call(const struct dc_session *s, int st)
{
    if (!s) return DC_ERR_INVALID_ARGUMENT;
    if (!sane(s)) return DC_ERR_SESSION_CORRUPT;
    return s->state == st ? DC_OK : DC_ERR_SESSION_STATE;
}

/* The payer's own checks of what its wallet built (no signatures): catches
 * a wallet bug before anything is persisted or sent. */
static enum dc_err payment_shape(const struct dc_request *req,
                                 const uint8_t req_hash[static DC_HASH_BYTES],
                                 const uint8_t *payment, size_t len)
{
    struct dc_payment p;
    struct dc_coin c;
    enum dc_err e = dc_payment_decode(&p, NULL, payment, len);
    if (e != DC_OK) return e;
    if (memcmp(p.request_hash, req_hash, DC_HASH_BYTES) != 0) return DC_ERR_PAY_WRONG_REQUEST;
    int64_t sum = 0;
    for (size_t i = 0; i < p.n; i++) {
        e = dc_coin_decode(&c, p.coin[i], p.coin_len[i]);
        if (e != DC_OK) return e;
        if (memcmp(dc_coin_owner(&c)->pub, req->payee.pub, DC_PUBKEY_BYTES) != 0) {
            return DC_ERR_WRONG_RECEIVER;
        }
        const struct dc_record *last = c.n ? &c.rec[c.n - 1] : NULL;
        if (!last || last->type != DC_TYPE_TRANSFER ||
            memcmp(last->u.transfer.nonce, req->nonce, DC_NONCE_BYTES) != 0) {
            return DC_ERR_NONCE_MISMATCH;
        }
        if (c.genesis.currency != req->currency) return DC_ERR_CURRENCY_MISMATCH;
        int64_t v = dc_coin_value(&c);
        if (v <= 0) return DC_ERR_COIN_VALUE;
        if (dc_i64_add(&sum, sum, v) != DC_OK) return DC_ERR_AMOUNT_OVERFLOW;
    }
    return sum == req->amount ? DC_OK : DC_ERR_PAY_AMOUNT;
}

enum dc_err dc_session_payer_pay(struct dc_session *s, const uint8_t *payment, size_t len)
{
    struct dc_request req;
    enum dc_err e = host_call(s, ST_PR_COINS);
    if (e != DC_OK) return e;
    if (!payment) return DC_ERR_INVALID_ARGUMENT;
    if (len > sizeof s->pay) return DC_ERR_MSG_TOO_LARGE;
    e = dc_request_decode(&req, s->req, s->req_len);
    if (e == DC_OK) e = payment_shape(&req, s->req_hash, payment, len);
    if (e != DC_OK) return e;
    memcpy(s->pay, payment, len);
    s->pay_len = (uint32_t)len;
    dc_payment_hash(s->pay_hash, s->pay, s->pay_len);
    s->state = ST_PR_PERSIST;
    return DC_OK;
}

enum dc_err dc_session_payee_verify(struct dc_session *s, struct dc_payment_result *res,
                                    const struct dc_payment_check *chk,
                                    const uint8_t payee_sk[static DC_SECKEY_BYTES], uint64_t now)
{
    struct dc_request req;
    struct dc_payment_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    res->coin = DC_PAYMENT_WHOLE;
    enum dc_err e = host_call(s, ST_PE_VERIFY);
    if (e != DC_OK) return e;
    if (!chk || !chk->trust) return DC_ERR_INVALID_ARGUMENT;
    e = dc_request_decode(&req, s->req, s->req_len);
    if (e != DC_OK) { /* only a tampered context gets here */
        fail(s, e);
        return e;
    }
    if (memcmp(payee_sk + DC_SEED_BYTES, req.payee.pub, DC_PUBKEY_BYTES) != 0) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    e = dc_payment_verify(res, chk, s->req, s->req_len, s->pay, s->pay_len);
    if (e != DC_OK) {
        if (res->from_seen && e != DC_ERR_FORK_DETECTED) return e; /* the host's store: retry */
        fail(s, e);
        return e;
    }
    struct dc_receipt rc;
    memcpy(rc.request_hash, s->req_hash, DC_HASH_BYTES);
    dc_payment_hash(s->pay_hash, s->pay, s->pay_len);
    memcpy(rc.payment_hash, s->pay_hash, DC_HASH_BYTES);
    rc.time = now;
    dc_receipt_sign(s->rcpt, &rc, payee_sk);
    s->rcpt_len = DC_RECEIPT_BYTES;
    s->time = now;
    s->state = ST_PE_PERSIST;
    return DC_OK;
}

enum dc_err dc_session_persisted(struct dc_session *s)
{
    if (!s) return DC_ERR_INVALID_ARGUMENT;
    if (!sane(s)) return DC_ERR_SESSION_CORRUPT;
    if (s->state == ST_PR_PERSIST) {
        s->state = ST_PR_PAY;
        tx_queue(s, DC_MSG_PAYMENT, 0);
        return DC_OK;
    }
    if (s->state == ST_PE_PERSIST) {
        s->state = ST_PE_RECEIPT;
        tx_queue(s, DC_MSG_RECEIPT, 0);
        return DC_OK;
    }
    return DC_ERR_SESSION_STATE;
}

/*
 * apdu.c - tap to pay: the offline payment over ISO/IEC 7816-4 APDUs.
 *
 * Two sans-I/O engines (APDU set and rules: include/ducat/apdu.h):
 *   - the card (the payer's phone): parses every command APDU strictly
 *     (ISO 7816-3 cases 1, 2, 3, 4, short and extended), gathers chained
 *     data, hands a complete REQUEST, RECEIPT or REFUSAL to its host and serves the
 *     host's answer Le bytes at a time;
 *   - the reader (the payee's terminal): drives a payee dc_session through
 *     SELECT, PAY, GET RESPONSE and CONFIRM (or REFUSE, with the payee's
 *     signed refusal of a payment it will never take).
 * Neither keeps state across taps: crash safety and idempotency are the
 * wallets' (the payer saves the signed payment before answering PAY, the
 * payee's session saves the accepted coins before CONFIRM), so a tap that
 * drops at any APDU is simply repeated.
 *
 * Both contexts are plain data that a host may save and restore, so every
 * entry point checks their invariants first and every index stays in bounds.
 */
#include <string.h>

#include "ducat/apdu.h"

const uint8_t dc_apdu_aid[DC_APDU_AID_BYTES] = {0xF0, 0x44, 0x55, 0x43, 0x41, 0x54, 0x01};

/* The FCI returned by SELECT with P2 = 00: AID and protocol version. */
static const uint8_t FCI[] = {0x6F, 0x0C, 0x84, 0x07, 0xF0, 0x44, 0x55,
                              0x43, 0x41, 0x54, 0x01, 0xA5, 0x01, 0x01};

/* ---- Command parsing --------------------------------------------------- */

struct cmd {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    size_t le; /* 0 when absent; 256 / 65536 for an encoded 00 / 0000 */
};

/* ISO 7816-3 12.1.3: the four cases, short and extended. 0 or a status word. */
static unsigned parse(struct cmd *c, const uint8_t *a, size_t n)
{
    memset(c, 0, sizeof *c);
    if (n < 4) return DC_SW_WRONG_LENGTH;
    c->cla = a[0];
    c->ins = a[1];
    c->p1 = a[2];
    c->p2 = a[3];
    if (n == 4) return 0; /* case 1 */
    if (n == 5) {         /* case 2S */
        c->le = a[4] ? a[4] : 256;
        return 0;
    }
    if (a[4] != 0) { /* case 3S / 4S */
        c->lc = a[4];
        c->data = a + 5;
        if (n == 5 + c->lc) return 0;
        if (n == 6 + c->lc) {
            c->le = a[5 + c->lc] ? a[5 + c->lc] : 256;
            return 0;
        }
        return DC_SW_WRONG_LENGTH;
    }
    if (n < 7) return DC_SW_WRONG_LENGTH;
    size_t x = (size_t)a[5] << 8 | a[6];
    if (n == 7) { /* case 2E */
        c->le = x ? x : 65536;
        return 0;
    }
    if (x == 0) return DC_SW_WRONG_LENGTH; /* Lc 0000 is not an encoding */
    c->lc = x;
    c->data = a + 7;
    if (n == 7 + x) return 0; /* case 3E */
    if (n == 9 + x) {         /* case 4E */
        size_t le = (size_t)a[7 + x] << 8 | a[8 + x];
        c->le = le ? le : 65536;
        return 0;
    }
    return DC_SW_WRONG_LENGTH;
}

/* ---- Card -------------------------------------------------------------- */

enum { CS_IDLE = 0, CS_CHAIN, CS_HOST, CS_OUT };

void dc_card_init(struct dc_card *c)
{
    memset(c, 0, sizeof *c);
    c->magic = DC_CARD_MAGIC;
}

static int card_sane(const struct dc_card *c)
{
    return c->magic == DC_CARD_MAGIC && c->state <= CS_OUT && c->in_len <= sizeof c->in &&
           c->out_len <= sizeof c->out && c->out_off <= c->out_len && c->le <= 65536;
}

static size_t put_sw(uint8_t *rsp, size_t at, unsigned sw)
{
    rsp[at] = (uint8_t)(sw >> 8);
    rsp[at + 1] = (uint8_t)sw;
    return at + 2;
}

/* The next chunk of the pending output, at most le bytes, with 61 XX while
 * more remains and 90 00 after the last byte. */
static size_t card_chunk(struct dc_card *c, uint8_t *rsp, size_t le)
{
    size_t rem = c->out_len - c->out_off, n = le < rem ? le : rem;
    memcpy(rsp, c->out + c->out_off, n);
    c->out_off += (uint32_t)n;
    rem -= n;
    if (rem == 0) {
        c->state = CS_IDLE;
        c->out_len = c->out_off = 0;
        return put_sw(rsp, n, DC_SW_OK);
    }
    c->state = CS_OUT;
    return put_sw(rsp, n, DC_SW_MORE | (rem > 255 ? 0 : (unsigned)rem));
}

/* Ends whatever was in progress and answers sw. */
static size_t card_sw(struct dc_card *c, uint8_t *rsp, unsigned sw)
{
    c->state = CS_IDLE;
    c->in_len = c->out_len = c->out_off = 0;
    return put_sw(rsp, 0, sw);
}

static size_t card_select(struct dc_card *c, const struct cmd *k, uint8_t *rsp)
{
    if (k->cla & DC_APDU_CLA_CHAIN) return card_sw(c, rsp, DC_SW_CHAIN_UNSUPPORTED);
    if (k->p1 != 0x04 || (k->p2 != 0x00 && k->p2 != 0x0C)) return card_sw(c, rsp, DC_SW_BAD_P1P2);
    if (k->lc == 0) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
    if (k->lc != DC_APDU_AID_BYTES || memcmp(k->data, dc_apdu_aid, DC_APDU_AID_BYTES) != 0) {
        c->selected = 0; /* another application: ours is no longer selected */
        return card_sw(c, rsp, DC_SW_NOT_FOUND);
    }
    c->selected = 1;
    c->state = CS_IDLE;
    c->in_len = c->out_len = c->out_off = 0;
    if (k->p2 == 0x0C || k->le == 0) return put_sw(rsp, 0, DC_SW_OK);
    size_t n = k->le < sizeof FCI ? k->le : sizeof FCI;
    memcpy(rsp, FCI, n);
    return put_sw(rsp, n, DC_SW_OK);
}

/* PAY or CONFIRM: gathers chained data; 0 with *event set when complete. */
static size_t card_message(struct dc_card *c, const struct cmd *k, uint8_t *rsp, unsigned *event)
{
    if (k->p1 != 0 || k->p2 != 0) return card_sw(c, rsp, DC_SW_BAD_P1P2);
    if (k->lc == 0) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
    if (c->state != CS_CHAIN) c->in_len = 0;
    if (k->lc > sizeof c->in - c->in_len) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
    memcpy(c->in + c->in_len, k->data, k->lc);
    c->in_len += (uint32_t)k->lc;
    c->ins = k->ins;
    c->p1 = k->p1;
    c->p2 = k->p2;
    if (k->cla & DC_APDU_CLA_CHAIN) {
        c->state = CS_CHAIN;
        return put_sw(rsp, 0, DC_SW_OK);
    }
    /* the whole message: its size and encoding, before the host sees it */
    if (k->ins == DC_APDU_INS_PAY) {
        struct dc_request r;
        if (c->in_len != DC_REQUEST_BYTES) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
        if (dc_request_decode(&r, c->in, c->in_len) != DC_OK) {
            return card_sw(c, rsp, DC_SW_BAD_DATA);
        }
        *event = DC_CARD_PAY;
    } else if (k->ins == DC_APDU_INS_REFUSE) {
        struct dc_refusal f;
        if (c->in_len != DC_REFUSAL_BYTES) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
        if (dc_refusal_decode(&f, c->in, c->in_len) != DC_OK) {
            return card_sw(c, rsp, DC_SW_BAD_DATA);
        }
        *event = DC_CARD_REFUSAL;
    } else {
        struct dc_receipt r;
        if (c->in_len != DC_RECEIPT_BYTES) return card_sw(c, rsp, DC_SW_WRONG_LENGTH);
        if (dc_receipt_decode(&r, c->in, c->in_len) != DC_OK) {
            return card_sw(c, rsp, DC_SW_BAD_DATA);
        }
        *event = DC_CARD_CONFIRM;
    }
    c->state = CS_HOST;
    c->le = (uint32_t)k->le;
    return 0;
}

enum dc_err dc_card_apdu(struct dc_card *c, const uint8_t *cmd, size_t len, uint8_t *rsp,
                         size_t cap, size_t *rsp_len, unsigned *event)
{
    if (!c || !rsp || !rsp_len || !event || (!cmd && len)) return DC_ERR_INVALID_ARGUMENT;
    *rsp_len = 0;
    *event = DC_CARD_NONE;
    if (!card_sane(c)) return DC_ERR_SESSION_CORRUPT;
    if (c->state == CS_HOST) return DC_ERR_SESSION_STATE; /* the host owes an answer */
    if (cap < DC_APDU_RSP_MAX) return DC_ERR_BUFFER_TOO_SMALL;
    struct cmd k;
    unsigned sw = parse(&k, cmd, len);
    if (sw) {
        *rsp_len = card_sw(c, rsp, sw);
        return DC_OK;
    }
    unsigned base = k.cla & ~DC_APDU_CLA_CHAIN;
    int inter = k.ins == DC_APDU_INS_SELECT || k.ins == DC_APDU_INS_GET_RESPONSE;
    int ours =
        k.ins == DC_APDU_INS_PAY || k.ins == DC_APDU_INS_CONFIRM || k.ins == DC_APDU_INS_REFUSE;
    if (!inter && !ours) {
        *rsp_len = card_sw(c, rsp, base == 0x00 || base == DC_APDU_CLA ? DC_SW_INS : DC_SW_CLA);
        return DC_OK;
    }
    if ((inter && base != 0x00) || (ours && base != DC_APDU_CLA)) {
        *rsp_len = card_sw(c, rsp, DC_SW_CLA);
        return DC_OK;
    }
    /* a chain admits only its own continuation */
    if (c->state == CS_CHAIN && (k.ins != c->ins || k.p1 != c->p1 || k.p2 != c->p2)) {
        *rsp_len = card_sw(c, rsp, DC_SW_CHAIN_LAST_EXPECTED);
        return DC_OK;
    }
    /* a new command abandons an unread response (ISO 7816-4 5.3.4) */
    if (c->state == CS_OUT && k.ins != DC_APDU_INS_GET_RESPONSE) {
        c->state = CS_IDLE;
        c->out_len = c->out_off = 0;
    }
    if (k.ins == DC_APDU_INS_SELECT) {
        *rsp_len = card_select(c, &k, rsp);
        return DC_OK;
    }
    if (!c->selected) {
        *rsp_len = card_sw(c, rsp, DC_SW_CONDITIONS);
        return DC_OK;
    }
    if (k.ins == DC_APDU_INS_GET_RESPONSE) {
        if (k.cla & DC_APDU_CLA_CHAIN) {
            *rsp_len = card_sw(c, rsp, DC_SW_CHAIN_UNSUPPORTED);
        } else if (k.p1 != 0 || k.p2 != 0) {
            *rsp_len = card_sw(c, rsp, DC_SW_BAD_P1P2);
        } else if (k.lc != 0) {
            *rsp_len = card_sw(c, rsp, DC_SW_WRONG_LENGTH);
        } else if (c->state != CS_OUT) {
            *rsp_len = card_sw(c, rsp, DC_SW_CONDITIONS);
        } else {
            *rsp_len = card_chunk(c, rsp, k.le);
        }
        return DC_OK;
    }
    *rsp_len = card_message(c, &k, rsp, event);
    return DC_OK;
}

const uint8_t *dc_card_message(const struct dc_card *c, size_t *len)
{
    if (!c || !card_sane(c) || c->state != CS_HOST) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = c->in_len;
    return c->in;
}

enum dc_err dc_card_answer(struct dc_card *c, const uint8_t *data, size_t len, uint8_t *rsp,
                           size_t cap, size_t *rsp_len)
{
    if (!c || !rsp || !rsp_len || (!data && len)) return DC_ERR_INVALID_ARGUMENT;
    *rsp_len = 0;
    if (!card_sane(c)) return DC_ERR_SESSION_CORRUPT;
    if (c->state != CS_HOST) return DC_ERR_SESSION_STATE;
    if (cap < DC_APDU_RSP_MAX) return DC_ERR_BUFFER_TOO_SMALL;
    if (c->ins == DC_APDU_INS_CONFIRM || c->ins == DC_APDU_INS_REFUSE) {
        if (len) return DC_ERR_INVALID_ARGUMENT; /* CONFIRM and REFUSE answer no data */
        *rsp_len = card_sw(c, rsp, DC_SW_OK);
        return DC_OK;
    }
    if (len == 0) return DC_ERR_INVALID_ARGUMENT;
    if (len > sizeof c->out) return DC_ERR_MSG_TOO_LARGE;
    memcpy(c->out, data, len);
    c->out_len = (uint32_t)len;
    c->out_off = 0;
    c->in_len = 0;
    *rsp_len = card_chunk(c, rsp, c->le);
    return DC_OK;
}

enum dc_err dc_card_refuse(struct dc_card *c, enum dc_err why, uint8_t *rsp, size_t cap,
                           size_t *rsp_len)
{
    if (!c || !rsp || !rsp_len) return DC_ERR_INVALID_ARGUMENT;
    *rsp_len = 0;
    if (!card_sane(c)) return DC_ERR_SESSION_CORRUPT;
    if (c->state != CS_HOST) return DC_ERR_SESSION_STATE;
    if (cap < 4) return DC_ERR_BUFFER_TOO_SMALL;
    unsigned code =
        why == DC_OK || (unsigned)why > 0xFFFFu ? (unsigned)DC_ERR_INTERNAL : (unsigned)why;
    card_sw(c, rsp, DC_SW_REFUSED);
    rsp[0] = (uint8_t)(code >> 8);
    rsp[1] = (uint8_t)code;
    *rsp_len = put_sw(rsp, 2, DC_SW_REFUSED);
    return DC_OK;
}

/* ---- Command chains ---------------------------------------------------- */

size_t dc_apdu_chain_count(size_t msg_len, unsigned seg)
{
    if (msg_len == 0 || (seg > DC_APDU_SHORT_MAX && seg != DC_APDU_EXTENDED)) return 0;
    if (seg == DC_APDU_EXTENDED) return msg_len <= DC_APDU_EXT_MAX ? 1 : 0;
    if (seg == 0) seg = DC_APDU_SHORT_MAX;
    return (msg_len + seg - 1) / seg;
}

enum dc_err dc_apdu_chain(uint8_t *out, size_t cap, size_t *out_len, uint8_t ins,
                          const uint8_t *msg, size_t msg_len, size_t index, unsigned seg)
{
    if (!out || !out_len || !msg) return DC_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    size_t count = dc_apdu_chain_count(msg_len, seg);
    if (index >= count) return DC_ERR_INVALID_ARGUMENT;
    if (seg == DC_APDU_EXTENDED) {
        /* case 4E: Lc 00 HH LL, Le HH LL = 0000 (up to 65536 bytes back) */
        if (cap < 9 + msg_len) return DC_ERR_BUFFER_TOO_SMALL;
        uint8_t h[7] = {DC_APDU_CLA, ins, 0, 0, 0, (uint8_t)(msg_len >> 8), (uint8_t)msg_len};
        memcpy(out, h, 7);
        memcpy(out + 7, msg, msg_len);
        out[7 + msg_len] = 0;
        out[8 + msg_len] = 0;
        *out_len = 9 + msg_len;
        return DC_OK;
    }
    if (seg == 0) seg = DC_APDU_SHORT_MAX;
    size_t off = index * seg, n = msg_len - off;
    int last = index + 1 == count;
    if (n > seg) n = seg;
    if (cap < 6 + n) return DC_ERR_BUFFER_TOO_SMALL;
    out[0] = (uint8_t)(DC_APDU_CLA | (last ? 0 : DC_APDU_CLA_CHAIN));
    out[1] = ins;
    out[2] = out[3] = 0;
    out[4] = (uint8_t)n;
    memcpy(out + 5, msg + off, n);
    *out_len = 5 + n;
    if (last) out[(*out_len)++] = 0; /* Le 00: up to 256 bytes back */
    return DC_OK;
}

/* ---- Reader ------------------------------------------------------------ */

enum { RS_SELECT = 1, RS_PAY, RS_GET, RS_HOST, RS_CONFIRM, RS_DONE, RS_FAILED, RS_REFUSE };

static int reader_sane(const struct dc_tap *r)
{
    return r->magic == DC_TAP_MAGIC && r->state >= RS_SELECT && r->state <= RS_REFUSE &&
           r->cmd_len <= sizeof r->cmd && dc_apdu_chain_count(1, r->segsize) == 1 &&
           r->pay_len <= sizeof r->pay && r->le_next <= 65536;
}

static void reader_fail(struct dc_tap *r, enum dc_err e)
{
    r->state = RS_FAILED;
    r->err = (int32_t)e;
    r->cmd_len = 0;
}

/* Builds the command of the current state. */
static void reader_build(struct dc_tap *r, const struct dc_session *s)
{
    size_t n = 0, ml = 0;
    const uint8_t *m;
    enum dc_err e = DC_OK;
    switch (r->state) {
    case RS_SELECT: {
        static const uint8_t sel[5] = {0x00, DC_APDU_INS_SELECT, 0x04, 0x00, DC_APDU_AID_BYTES};
        memcpy(r->cmd, sel, 5);
        memcpy(r->cmd + 5, dc_apdu_aid, DC_APDU_AID_BYTES);
        r->cmd[5 + DC_APDU_AID_BYTES] = 0x00;
        n = 6 + DC_APDU_AID_BYTES;
        break;
    }
    case RS_PAY:
    case RS_CONFIRM:
        m = r->state == RS_PAY ? dc_session_request(s, &ml) : dc_session_receipt(s, &ml);
        e = m ? dc_apdu_chain(r->cmd, sizeof r->cmd, &n,
                              r->state == RS_PAY ? DC_APDU_INS_PAY : DC_APDU_INS_CONFIRM, m, ml,
                              r->seg, r->segsize)
              : DC_ERR_SESSION_STATE;
        break;
    case RS_REFUSE:
        e = dc_apdu_chain(r->cmd, sizeof r->cmd, &n, DC_APDU_INS_REFUSE, r->refusal,
                          sizeof r->refusal, r->seg, r->segsize);
        break;
    case RS_GET:
        r->cmd[0] = 0x00;
        r->cmd[1] = DC_APDU_INS_GET_RESPONSE;
        r->cmd[2] = r->cmd[3] = 0;
        r->cmd[4] = (uint8_t)(r->le_next >= 256 ? 0 : r->le_next);
        n = 5;
        break;
    default:
        break;
    }
    if (e != DC_OK) {
        reader_fail(r, e);
        return;
    }
    r->cmd_len = (uint32_t)n;
}

void dc_tap_start(struct dc_tap *r, const struct dc_session *s, unsigned seg)
{
    memset(r, 0, sizeof *r);
    r->magic = DC_TAP_MAGIC;
    r->segsize = dc_apdu_chain_count(1, seg) == 1 ? seg : 0;
    r->state = RS_SELECT;
    if (!s || dc_session_check(s) != DC_OK || (dc_session_want(s) & DC_SESSION_FAILED)) {
        reader_fail(r, s && dc_session_check(s) == DC_OK ? dc_session_error(s)
                                                         : DC_ERR_SESSION_CORRUPT);
        return;
    }
    if (dc_session_want(s) & (DC_SESSION_NEED_VERIFY | DC_SESSION_NEED_PERSIST)) {
        /* restored mid-way (e.g. saved with the coins, before persisted):
         * the host finishes that first, then the tap starts with SELECT */
        r->state = RS_HOST;
        r->pre_select = 1;
        return;
    }
    reader_build(r, s);
}

unsigned dc_tap_want(const struct dc_tap *r, const struct dc_session *s)
{
    (void)s;
    if (!r || !reader_sane(r)) return DC_TAP_FAILED;
    switch (r->state) {
    case RS_FAILED:
        return DC_TAP_FAILED;
    case RS_DONE:
        return DC_TAP_DONE;
    case RS_HOST:
        return DC_TAP_HOST;
    default:
        return DC_TAP_SEND;
    }
}

const uint8_t *dc_tap_command(const struct dc_tap *r, size_t *len)
{
    if (!r || !reader_sane(r) || r->state == RS_FAILED || r->state == RS_DONE ||
        r->state == RS_HOST || r->cmd_len == 0) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = r->cmd_len;
    return r->cmd;
}

enum dc_err dc_tap_error(const struct dc_tap *r)
{
    if (!r || !reader_sane(r)) return DC_ERR_SESSION_CORRUPT;
    return r->state == RS_FAILED ? (enum dc_err)r->err : DC_OK;
}

unsigned dc_tap_sw(const struct dc_tap *r)
{
    return r ? r->sw : 0;
}

/* The reason our refusal states (checked by dc_tap_refuse). */
static enum dc_err refusal_reason(const struct dc_tap *r)
{
    struct dc_refusal f;
    if (dc_refusal_decode(&f, r->refusal, sizeof r->refusal) != DC_OK) return DC_ERR_INTERNAL;
    enum dc_err e;
    return dc_err_from_code(&e, f.reason) && e != DC_OK ? e : DC_ERR_INTERNAL;
}

/* The card refused (62 00 + code) or answered an ISO error. */
static void reader_sw_fail(struct dc_tap *r, const uint8_t *data, size_t dlen)
{
    enum dc_err e = DC_ERR_MSG_UNEXPECTED;
    if (r->sw == DC_SW_REFUSED && dlen == 2) {
        enum dc_err code;
        if (dc_err_from_code(&code, data[0] << 8 | data[1]) && code != DC_OK) e = code;
    }
    reader_fail(r, e);
}

/* The payment is whole: into the session as the frames a link would carry. */
static void reader_push_payment(struct dc_tap *r, struct dc_session *s)
{
    uint8_t sink[DC_FRAME_MAX];
    /* the session re-queues its request on reconnect: it left by PAY here */
    while (dc_session_pull(s, sink, sizeof sink) > 0) {
    }
    size_t count = dc_frame_count(r->pay_len, DC_FRAME_MAX);
    enum dc_err e = count ? DC_OK : DC_ERR_DECODE_TRUNCATED;
    for (size_t i = 0; e == DC_OK && i < count; i++) {
        size_t fl;
        e = dc_frame_encode(sink, sizeof sink, &fl, r->pay, r->pay_len, DC_FRAME_MAX, i);
        if (e == DC_OK && dc_session_push(s, sink, fl) != fl) e = dc_session_error(s);
        if (e == DC_OK && (dc_session_want(s) & DC_SESSION_FAILED)) e = dc_session_error(s);
    }
    if (e == DC_OK && !(dc_session_want(s) & (DC_SESSION_NEED_VERIFY | DC_SESSION_NEED_PERSIST))) {
        e = DC_ERR_MSG_UNEXPECTED; /* not a payment for this request */
    }
    if (e != DC_OK) {
        reader_fail(r, e);
        return;
    }
    r->state = RS_HOST;
    r->cmd_len = 0;
}

void dc_tap_response(struct dc_tap *r, struct dc_session *s, const uint8_t *rsp, size_t len)
{
    if (!r || !reader_sane(r) || !s) return;
    if (r->state == RS_FAILED || r->state == RS_DONE || r->state == RS_HOST) return;
    r->apdus++;
    r->bytes_out += r->cmd_len;
    r->bytes_in += (uint32_t)len;
    if (!rsp || len < 2) {
        reader_fail(r, DC_ERR_DECODE_TRUNCATED);
        return;
    }
    size_t dlen = len - 2;
    r->sw = (uint16_t)(rsp[dlen] << 8 | rsp[dlen + 1]);
    unsigned sw1 = r->sw >> 8;
    switch (r->state) {
    case RS_SELECT:
        if (r->sw != DC_SW_OK) break;
        r->seg = 0;
        r->pay_len = 0;
        r->state = dc_session_receipt(s, &(size_t){0}) ? RS_CONFIRM : RS_PAY;
        reader_build(r, s);
        return;
    case RS_PAY:
    case RS_CONFIRM:
    case RS_REFUSE:
    case RS_GET: {
        size_t ml = 0;
        if (r->state == RS_PAY) (void)dc_session_request(s, &ml);
        if (r->state == RS_CONFIRM) (void)dc_session_receipt(s, &ml);
        if (r->state == RS_REFUSE) ml = sizeof r->refusal;
        int last = r->state == RS_GET || r->seg + 1 >= dc_apdu_chain_count(ml, r->segsize);
        if (!last) {
            if (r->sw != DC_SW_OK || dlen != 0) break;
            r->seg++;
            reader_build(r, s);
            return;
        }
        if (r->state == RS_REFUSE) {
            /* the payer's wallet holds our refusal; the tap ends refused */
            if (r->sw != DC_SW_OK || dlen != 0) break;
            r->refused = 1;
            reader_fail(r, refusal_reason(r));
            return;
        }
        if (r->state == RS_CONFIRM) {
            if (r->sw != DC_SW_OK || dlen != 0) break;
            /* the receipt left by CONFIRM: the session's own copy is done */
            uint8_t sink[DC_FRAME_MAX];
            while (dc_session_pull(s, sink, sizeof sink) > 0) {
            }
            r->state = RS_DONE;
            r->cmd_len = 0;
            return;
        }
        if (r->sw != DC_SW_OK && sw1 != (DC_SW_MORE >> 8)) break;
        if (dlen > sizeof r->pay - r->pay_len) {
            reader_fail(r, DC_ERR_MSG_TOO_LARGE);
            return;
        }
        memcpy(r->pay + r->pay_len, rsp, dlen);
        r->pay_len += (uint32_t)dlen;
        if (r->sw == DC_SW_OK) {
            reader_push_payment(r, s);
            return;
        }
        unsigned more = r->sw & 0xFFu;
        r->le_next = more ? more : 256;
        r->state = RS_GET;
        reader_build(r, s);
        return;
    }
    default:
        return;
    }
    if (r->state == RS_REFUSE) {
        /* the card did not take the refusal (an older card, or its wallet
         * said no): the payment stays refused all the same */
        reader_fail(r, refusal_reason(r));
        return;
    }
    reader_sw_fail(r, rsp, dlen);
}

enum dc_err dc_tap_refuse(struct dc_tap *r, const struct dc_session *s, const uint8_t *refusal,
                          size_t len)
{
    if (!r || !s || !refusal) return DC_ERR_INVALID_ARGUMENT;
    if (!reader_sane(r)) return DC_ERR_SESSION_CORRUPT;
    /* only a payment the host verified and refused: never after a receipt */
    if (r->state != RS_HOST || r->pre_select || !(dc_session_want(s) & DC_SESSION_FAILED)) {
        return DC_ERR_SESSION_STATE;
    }
    struct dc_refusal f;
    enum dc_err e = dc_refusal_decode(&f, refusal, len);
    if (e != DC_OK) return e;
    if (f.reason == DC_OK) return DC_ERR_DECODE_VALUE;
    memcpy(r->refusal, refusal, DC_REFUSAL_BYTES);
    r->state = RS_REFUSE;
    r->seg = 0;
    reader_build(r, s);
    return r->state == RS_FAILED ? dc_tap_error(r) : DC_OK;
}

int dc_tap_refused(const struct dc_tap *r)
{
    return r && reader_sane(r) && r->refused;
}

void dc_tap_resume(struct dc_tap *r, const struct dc_session *s)
{
    if (!r || !reader_sane(r) || !s || r->state != RS_HOST) return;
    unsigned w = dc_session_want(s);
    if (w & DC_SESSION_FAILED) {
        reader_fail(r, dc_session_error(s));
        return;
    }
    if (w & (DC_SESSION_NEED_VERIFY | DC_SESSION_NEED_PERSIST)) return; /* not yet */
    if (r->pre_select) {
        r->pre_select = 0;
        r->state = RS_SELECT;
        reader_build(r, s);
        return;
    }
    if (!dc_session_receipt(s, &(size_t){0})) {
        reader_fail(r, DC_ERR_SESSION_STATE);
        return;
    }
    r->state = RS_CONFIRM;
    r->seg = 0;
    reader_build(r, s);
}

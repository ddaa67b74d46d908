/*
 * fuzz_proto.c - the offline payment decoders, payee-side verification and
 * the frame reassembler on arbitrary bytes. Byte 0 selects the target
 * (0 request, 1 payment, 2 receipt, 3 a stream of frames, 4 everything).
 * Properties: nothing reads out of bounds; a decoded message re-encodes to
 * exactly its input (one encoding per value); a payment that verifies
 * against the fixture request sums to its amount; a refused frame leaves the
 * reassembler unchanged and a completed message never exceeds its type's
 * size. Seeds: tests/unit/test_session.c with DC_WRITE_CORPUS=1.
 */
#include "ducat/proto.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct world W;
static int ready;
static uint8_t REQ[DC_REQUEST_BYTES];
static struct dc_reasm RA;
static uint8_t again[DC_PAYMENT_MAX_BYTES];
static struct dc_payment_result RES;

static void init(void)
{
    struct dc_request r;
    world_init(&W);
    memset(&r, 0, sizeof r);
    r.amount = 100;
    r.currency = CNY;
    r.payee = W.bob.cert;
    nonce_of(r.nonce, 0x55);
    r.time = T0 + 1000;
    if (dc_request_sign(REQ, &r, W.bob.sk) != DC_OK) abort();
}

static void try_request(const uint8_t *d, size_t n)
{
    struct dc_request r;
    if (dc_request_decode(&r, d, n) != DC_OK) return;
    dc_request_encode(again, &r);
    if (n != DC_REQUEST_BYTES || memcmp(again, d, n) != 0) abort();
    if (r.amount <= 0) abort();
    /* an accepted request is well signed */
    if (dc_request_verify(&r, &W.trust) == DC_OK && dc_request_check(&r) != DC_OK) abort();
}

static void try_receipt(const uint8_t *d, size_t n)
{
    struct dc_receipt r;
    if (dc_receipt_decode(&r, d, n) != DC_OK) return;
    dc_receipt_encode(again, &r);
    if (n != DC_RECEIPT_BYTES || memcmp(again, d, n) != 0) abort();
    if (dc_receipt_check(&r, W.bob.pk) == DC_OK && dc_receipt_check(&r, W.alice.pk) == DC_OK) {
        abort();
    }
}

static void try_payment(const uint8_t *d, size_t n)
{
    struct dc_payment p;
    size_t bad, len;
    enum dc_err e = dc_payment_decode(&p, &bad, d, n);
    if (e != DC_OK) {
        if (bad != DC_PAYMENT_WHOLE && bad >= DC_PAYMENT_COINS_MAX) abort();
        return;
    }
    if (bad != DC_PAYMENT_WHOLE) abort();
    if (dc_payment_encode(again, sizeof again, &len, &p) != DC_OK) abort();
    if (len != n || memcmp(again, d, n) != 0) abort();
    struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
    e = dc_payment_verify(&RES, &chk, REQ, sizeof REQ, d, n);
    if (e == DC_OK && RES.total != 100) abort();
    if (e != DC_OK && RES.coin != DC_PAYMENT_WHOLE && RES.coin >= p.n) abort();
}

static void try_frames(const uint8_t *d, size_t n)
{
    dc_reasm_init(&RA);
    for (size_t pos = 0; pos < n;) {
        size_t flen = n - pos;
        if (flen >= DC_FRAME_HEADER_BYTES && (size_t)DC_FRAME_HEADER_BYTES + d[pos + 5] < flen) {
            flen = (size_t)DC_FRAME_HEADER_BYTES + d[pos + 5];
        }
        struct dc_rx before = RA.rx;
        uint8_t tag = RA.tag;
        uint32_t mlen = RA.len;
        int ev;
        enum dc_err e = dc_reasm_push(&RA, &ev, d + pos, flen);
        if (e != DC_OK) {
            if (memcmp(&before, &RA.rx, sizeof before) != 0 || tag != RA.tag || mlen != RA.len) {
                abort();
            }
        } else if (ev == DC_RX_COMPLETE) {
            if (RA.len == 0 || RA.len > dc_msg_max_bytes(RA.tag)) abort();
            if (RA.tag == DC_MSG_REQUEST) try_request(RA.msg, RA.len);
            if (RA.tag == DC_MSG_PAYMENT) try_payment(RA.msg, RA.len);
            if (RA.tag == DC_MSG_RECEIPT) try_receipt(RA.msg, RA.len);
        }
        pos += flen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        init();
        ready = 1;
    }
    if (size < 1) return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0:
        try_request(d, n);
        break;
    case 1:
        try_payment(d, n);
        break;
    case 2:
        try_receipt(d, n);
        break;
    case 3:
        try_frames(d, n);
        break;
    default:
        try_request(d, n);
        try_payment(d, n);
        try_receipt(d, n);
        try_frames(d, n);
        break;
    }
    return 0;
}

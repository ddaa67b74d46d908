/*
 * fuzz_apdu.c - tap to pay on arbitrary bytes: the input is a sequence of
 * APDUs (len:u16 big-endian, bytes). Each goes to the card responder, whose
 * host answers PAY with a fixed payment and CONFIRM with success (refusing
 * every third); and the same bytes go to a reader (payee terminal) as the
 * card's responses. Properties: no out-of-bounds access; the card never
 * returns an error for reader input; every response ends with a status
 * word and fits its buffer; a response carries data only with 90 00, 61 XX
 * (and the FCI), or 62 00 + code; the reader never accepts a payment that
 * does not match its request. Seeds: tests/unit/test_apdu.c with
 * DC_WRITE_CORPUS=1.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/apdu.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct world W;
static int ready;
static struct dc_card CARD;
static struct dc_tap TAP;
static struct dc_session S;
static uint8_t RSP[DC_APDU_RSP_MAX];
static uint8_t PAY[3000];

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
    for (size_t i = 0; i < sizeof PAY; i++) PAY[i] = (uint8_t)(i * 7);
    if (dc_session_payee_start(&S, &r, W.bob.sk, 0) != DC_OK) abort();
    ready = 1;
}

static void check_rsp(size_t n)
{
    if (n < 2 || n > sizeof RSP) abort();
    unsigned sw = (unsigned)(RSP[n - 2] << 8 | RSP[n - 1]);
    if (n > 2 && sw != DC_SW_OK && (sw >> 8) != 0x61 && sw != DC_SW_REFUSED) abort();
    if (sw == DC_SW_REFUSED && n != 4) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) init();
    dc_card_init(&CARD);
    struct dc_session s = S;
    dc_tap_start(&TAP, &s, size && data[0] == 0 ? DC_APDU_EXTENDED : 0);
    size_t at = 0, k = 0;
    while (at + 2 <= size) {
        size_t len = (size_t)data[at] << 8 | data[at + 1];
        at += 2;
        if (len > size - at) len = size - at;
        const uint8_t *apdu = data + at;
        at += len;
        size_t out;
        unsigned ev;
        if (dc_card_apdu(&CARD, apdu, len, RSP, sizeof RSP, &out, &ev) != DC_OK) abort();
        if (ev == DC_CARD_NONE) {
            check_rsp(out);
        } else {
            size_t ml;
            const uint8_t *m = dc_card_message(&CARD, &ml);
            if (!m || ml != (ev == DC_CARD_PAY ? DC_REQUEST_BYTES : DC_RECEIPT_BYTES)) abort();
            enum dc_err e;
            if (++k % 3 == 0) {
                e = dc_card_refuse(&CARD, DC_ERR_INSUFFICIENT_FUNDS, RSP, sizeof RSP, &out);
            } else if (ev == DC_CARD_PAY) {
                e = dc_card_answer(&CARD, PAY, 1 + (len * 13) % sizeof PAY, RSP, sizeof RSP, &out);
            } else {
                e = dc_card_answer(&CARD, NULL, 0, RSP, sizeof RSP, &out);
            }
            if (e != DC_OK) abort();
            check_rsp(out);
        }
        /* the same bytes as a card's answer to the reader */
        if (dc_tap_want(&TAP, &s) & DC_TAP_SEND) dc_tap_response(&TAP, &s, apdu, len);
        if (dc_tap_want(&TAP, &s) & DC_TAP_HOST) {
            /* a random payment never verifies against the fixture request */
            struct dc_payment_check chk = {&W.trust, NULL, NULL, NULL};
            if (dc_session_payee_verify(&s, NULL, &chk, W.bob.sk, T0 + 2000) == DC_OK) abort();
            dc_tap_resume(&TAP, &s);
        }
    }
    return 0;
}

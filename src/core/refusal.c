/*
 * refusal.c - the payee's signed REFUSAL and the reclaim marker (see
 * include/ducat/refusal.h and docs/PROTOCOL.md, "Refused and
 * unacknowledged payments"). Pure: no I/O, no allocation.
 */
#include "ducat/refusal.h"

#include <string.h>

#include "ducat/codec.h"
#include "ducat/crypto.h"

_Static_assert(DC_REFUSAL_BYTES == 156, "refusal layout");

static void refusal_body(uint8_t out[static DC_REFUSAL_BODY_BYTES], const struct dc_refusal *r)
{
    struct dc_writer w;
    dc_writer_init(&w, out, DC_REFUSAL_BODY_BYTES);
    dc_write_u8(&w, DC_REFUSAL_TAG);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_bytes(&w, r->request_hash, DC_HASH_BYTES);
    dc_write_bytes(&w, r->payment_hash, DC_HASH_BYTES);
    dc_write_bytes(&w, r->nonce, DC_NONCE_BYTES);
    dc_write_u8(&w, (uint8_t)(r->reason & 0xff));
    dc_write_u8(&w, (uint8_t)(r->reason >> 8));
    dc_write_u64(&w, r->time);
}

void dc_refusal_sign(uint8_t out[static DC_REFUSAL_BYTES], struct dc_refusal *r,
                     const uint8_t payee_sk[static DC_SECKEY_BYTES])
{
    refusal_body(out, r);
    dc_sign(r->sig, out, DC_REFUSAL_BODY_BYTES, NULL, payee_sk);
    memcpy(out + DC_REFUSAL_BODY_BYTES, r->sig, DC_SIG_BYTES);
}

void dc_refusal_encode(uint8_t out[static DC_REFUSAL_BYTES], const struct dc_refusal *r)
{
    refusal_body(out, r);
    memcpy(out + DC_REFUSAL_BODY_BYTES, r->sig, DC_SIG_BYTES);
}

enum dc_err dc_refusal_decode(struct dc_refusal *out, const uint8_t *in, size_t len)
{
    struct dc_reader rd;
    struct dc_refusal q;
    dc_reader_init(&rd, in, len);
    if (dc_read_u8(&rd) != DC_REFUSAL_TAG) dc_reader_fail(&rd, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(&rd) != DC_WIRE_VERSION) dc_reader_fail(&rd, DC_ERR_DECODE_VERSION);
    dc_read_copy(&rd, q.request_hash, DC_HASH_BYTES);
    dc_read_copy(&rd, q.payment_hash, DC_HASH_BYTES);
    dc_read_copy(&rd, q.nonce, DC_NONCE_BYTES);
    uint8_t lo = dc_read_u8(&rd);
    uint8_t hi = dc_read_u8(&rd);
    q.reason = (uint16_t)(lo | (unsigned)hi << 8);
    q.time = dc_read_u64(&rd);
    dc_read_copy(&rd, q.sig, DC_SIG_BYTES);
    enum dc_err e = dc_reader_finish(&rd);
    if (e != DC_OK) {
        memset(out, 0, sizeof *out);
        return e;
    }
    *out = q;
    return DC_OK;
}

enum dc_err dc_refusal_check(const struct dc_refusal *r,
                             const uint8_t payee_pub[static DC_PUBKEY_BYTES])
{
    uint8_t body[DC_REFUSAL_BODY_BYTES];
    refusal_body(body, r);
    return dc_sign_check(r->sig, body, sizeof body, NULL, payee_pub) ? DC_OK : DC_ERR_BAD_SIGNATURE;
}

enum dc_err dc_refusal_payment_hash(uint8_t out[static DC_HASH_BYTES],
                                    const uint8_t request_hash[static DC_HASH_BYTES],
                                    const uint8_t *const *coin, const size_t *coin_len, size_t n)
{
    if (n == 0 || n > 255) return DC_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        if (coin_len[i] == 0 || coin_len[i] > 0xffff) return DC_ERR_INVALID_ARGUMENT;
    }
    /* the same bytes as dc_payment_encode, fed to the same labelled hash */
    struct dc_hash h;
    dc_hash_init(&h, "ducat/payment/v1");
    uint8_t head[2] = {0x41, DC_WIRE_VERSION};
    dc_hash_update(&h, head, sizeof head);
    dc_hash_update(&h, request_hash, DC_HASH_BYTES);
    uint8_t cnt = (uint8_t)n;
    dc_hash_update(&h, &cnt, 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t l[2] = {(uint8_t)(coin_len[i] & 0xff), (uint8_t)(coin_len[i] >> 8)};
        dc_hash_update(&h, l, sizeof l);
        dc_hash_update(&h, coin[i], coin_len[i]);
    }
    dc_hash_final(&h, out);
    return DC_OK;
}

void dc_reclaim_marker(uint8_t out[static DC_HASH_BYTES], const uint8_t state[static DC_HASH_BYTES])
{
    struct dc_hash h;
    dc_hash_init(&h, "ducat/reclaimed/v1");
    dc_hash_update(&h, state, DC_HASH_BYTES);
    dc_hash_final(&h, out);
}

/*
 * cert.c - issuer signing-key certificates, device certificates,
 * certification requests, and the trust context that holds checked keys.
 *
 * Layouts (docs/PROTOCOL.md):
 *   keycert  01 01 key_id:u32 pub:32 valid_from:u64 sign_until:u64 verify_until:u64 sig:64
 *   keyreq   03 01 (same fields)                                  sig:64 by the new key
 *   devcert  02 01 key_id:u32 pub:32 alias:8 expires_at:u64 offline_limit:i64 sig:64
 */
#include <string.h>

#include "core/internal.h"
#include "ducat/codec.h"
#include "ducat/coin.h"
#include "ducat/crypto.h"

#define KEYCERT_BODY (DC_KEYCERT_BYTES - DC_SIG_BYTES)
#define DEVCERT_BODY (DC_DEVCERT_BYTES - DC_SIG_BYTES)

static void keycert_body(uint8_t out[static KEYCERT_BODY], uint8_t type, const struct dc_keycert *c)
{
    struct dc_writer w;
    dc_writer_init(&w, out, KEYCERT_BODY);
    dc_write_u8(&w, type);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u32(&w, c->key_id);
    dc_write_bytes(&w, c->pub, DC_PUBKEY_BYTES);
    dc_write_u64(&w, c->valid_from);
    dc_write_u64(&w, c->sign_until);
    dc_write_u64(&w, c->verify_until);
}

void dc_keycert_encode(uint8_t out[static DC_KEYCERT_BYTES], const struct dc_keycert *c)
{
    keycert_body(out, DC_TYPE_KEYCERT, c);
    memcpy(out + KEYCERT_BODY, c->sig, DC_SIG_BYTES);
}

void dc_keycert_sign(uint8_t out[static DC_KEYCERT_BYTES], struct dc_keycert *c,
                     const uint8_t master_sk[static DC_SECKEY_BYTES])
{
    keycert_body(out, DC_TYPE_KEYCERT, c);
    dc_sign(c->sig, out, KEYCERT_BODY, NULL, master_sk);
    memcpy(out + KEYCERT_BODY, c->sig, DC_SIG_BYTES);
}

void dc_keyreq_sign(uint8_t out[static DC_KEYREQ_BYTES], struct dc_keycert *req,
                    const uint8_t new_sk[static DC_SECKEY_BYTES])
{
    keycert_body(out, DC_TYPE_KEYREQ, req);
    dc_sign(req->sig, out, KEYCERT_BODY, NULL, new_sk);
    memcpy(out + KEYCERT_BODY, req->sig, DC_SIG_BYTES);
}

static void keycert_read(struct dc_reader *r, struct dc_keycert *c, uint8_t type)
{
    if (dc_read_u8(r) != type) dc_reader_fail(r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    c->key_id = dc_read_u32(r);
    dc_read_copy(r, c->pub, DC_PUBKEY_BYTES);
    c->valid_from = dc_read_u64(r);
    c->sign_until = dc_read_u64(r);
    c->verify_until = dc_read_u64(r);
    dc_read_copy(r, c->sig, DC_SIG_BYTES);
    if (c->sign_until <= c->valid_from || c->verify_until < c->sign_until) {
        dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    }
}

static enum dc_err keycert_decode(struct dc_keycert *out, uint8_t type, const uint8_t *in,
                                  size_t len)
{
    struct dc_reader r;
    dc_reader_init(&r, in, len);
    keycert_read(&r, out, type);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) memset(out, 0, sizeof *out);
    return e;
}

enum dc_err dc_keycert_decode(struct dc_keycert *out, const uint8_t *in, size_t len)
{
    return keycert_decode(out, DC_TYPE_KEYCERT, in, len);
}

enum dc_err dc_keycert_check(const struct dc_keycert *c,
                             const uint8_t master_pub[static DC_PUBKEY_BYTES])
{
    uint8_t body[KEYCERT_BODY];
    keycert_body(body, DC_TYPE_KEYCERT, c);
    return dc_sign_check(c->sig, body, sizeof body, NULL, master_pub) ? DC_OK
                                                                      : DC_ERR_BAD_SIGNATURE;
}

enum dc_err dc_keyreq_decode_check(struct dc_keycert *out, const uint8_t *in, size_t len)
{
    enum dc_err e = keycert_decode(out, DC_TYPE_KEYREQ, in, len);
    if (e != DC_OK) return e;
    if (!dc_sign_check(out->sig, in, KEYCERT_BODY, NULL, out->pub)) {
        memset(out, 0, sizeof *out);
        return DC_ERR_BAD_SIGNATURE;
    }
    return DC_OK;
}

/* ---- Device certificates --------------------------------------------- */

static void devcert_body(uint8_t out[static DEVCERT_BODY], const struct dc_devcert *c)
{
    struct dc_writer w;
    dc_writer_init(&w, out, DEVCERT_BODY);
    dc_write_u8(&w, DC_TYPE_DEVCERT);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u32(&w, c->key_id);
    dc_write_bytes(&w, c->pub, DC_PUBKEY_BYTES);
    dc_write_bytes(&w, c->alias, DC_ALIAS_BYTES);
    dc_write_u64(&w, c->expires_at);
    dc_write_i64(&w, c->offline_limit);
}

void dc_devcert_encode(uint8_t out[static DC_DEVCERT_BYTES], const struct dc_devcert *c)
{
    devcert_body(out, c);
    memcpy(out + DEVCERT_BODY, c->sig, DC_SIG_BYTES);
}

void dc_devcert_sign(uint8_t out[static DC_DEVCERT_BYTES], struct dc_devcert *c,
                     const uint8_t signing_sk[static DC_SECKEY_BYTES])
{
    devcert_body(out, c);
    dc_sign(c->sig, out, DEVCERT_BODY, NULL, signing_sk);
    memcpy(out + DEVCERT_BODY, c->sig, DC_SIG_BYTES);
}

void dc_devcert_read(struct dc_reader *r, struct dc_devcert *c)
{
    if (dc_read_u8(r) != DC_TYPE_DEVCERT) dc_reader_fail(r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    c->key_id = dc_read_u32(r);
    dc_read_copy(r, c->pub, DC_PUBKEY_BYTES);
    dc_read_copy(r, c->alias, DC_ALIAS_BYTES);
    c->expires_at = dc_read_u64(r);
    c->offline_limit = dc_read_i64(r);
    dc_read_copy(r, c->sig, DC_SIG_BYTES);
    if (c->offline_limit < 0) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
}

enum dc_err dc_devcert_decode(struct dc_devcert *out, const uint8_t *in, size_t len)
{
    struct dc_reader r;
    dc_reader_init(&r, in, len);
    dc_devcert_read(&r, out);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) memset(out, 0, sizeof *out);
    return e;
}

int dc_devcert_sig_ok(const struct dc_devcert *c, const uint8_t signer_pub[static DC_PUBKEY_BYTES])
{
    uint8_t body[DEVCERT_BODY];
    devcert_body(body, c);
    return dc_sign_check(c->sig, body, sizeof body, NULL, signer_pub);
}

/* ---- Trust context ---------------------------------------------------- */

void dc_trust_init(struct dc_trust *t, const uint8_t master_pub[static DC_PUBKEY_BYTES],
                   uint32_t currency, uint64_t now)
{
    memset(t, 0, sizeof *t);
    memcpy(t->master_pub, master_pub, DC_PUBKEY_BYTES);
    t->currency = currency;
    t->now = now;
    t->base_unit = 1;
    t->max_hops = 32;
    t->max_split_parts = DC_SPLIT_PARTS_MAX;
    t->clock_skew_ms = 5u * 60u * 1000u;
    t->flags = DC_VERIFY_DEVICE_REVOCATION | DC_VERIFY_SIGNER_FRESH;
}

enum dc_err dc_trust_add_key(struct dc_trust *t, const struct dc_keycert *c, uint64_t revoked_at)
{
    enum dc_err e = dc_keycert_check(c, t->master_pub);
    if (e != DC_OK) return e;
    for (size_t i = 0; i < t->n_keys; i++) {
        if (t->keys[i].cert.key_id == c->key_id) {
            t->keys[i].cert = *c;
            t->keys[i].revoked_at = revoked_at;
            return DC_OK;
        }
    }
    if (t->n_keys >= DC_TRUST_KEYS_MAX) return DC_ERR_TRUST_FULL;
    t->keys[t->n_keys].cert = *c;
    t->keys[t->n_keys].revoked_at = revoked_at;
    t->n_keys++;
    return DC_OK;
}

const struct dc_trust_key *dc_trust_find_key(const struct dc_trust *t, uint32_t key_id)
{
    for (size_t i = 0; i < t->n_keys; i++) {
        if (t->keys[i].cert.key_id == key_id) return &t->keys[i];
    }
    return NULL;
}

int dc_trust_device_revoked(const struct dc_trust *t, const uint8_t pub[static DC_PUBKEY_BYTES])
{
    /* binary search: the list is sorted memcmp-ascending (struct dc_trust) */
    size_t lo = 0, hi = t->n_revoked_devices;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(t->revoked_devices[mid], pub, DC_PUBKEY_BYTES);
        if (c == 0) return 1;
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

/*
 * auth.c - the signed-request message of the API (see ducat/auth.h).
 */
#include "ducat/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ducat/crypto.h"

static const char ctx[8] = {'D', 'U', 'C', 'A', 'T', 'R', 'E', 'Q'};

enum dc_err dc_auth_message(uint8_t *out, size_t cap, size_t *out_len, const char *method,
                            const char *path, const uint8_t *body, size_t body_len,
                            uint64_t time_ms, const uint8_t nonce[static DC_NONCE_BYTES])
{
    size_t ml = strlen(method), pl = strlen(path);
    *out_len = 0;
    if (ml + pl > DC_AUTH_TARGET_MAX || memchr(method, '\n', ml) || memchr(path, '\n', pl)) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    uint8_t h[32];
    char hh[65], nh[2 * DC_NONCE_BYTES + 1], t[24];
    dc_hash_plain(h, body, body_len);
    dc_hex_encode(hh, h, sizeof h);
    dc_hex_encode(nh, nonce, DC_NONCE_BYTES);
    int tl = snprintf(t, sizeof t, "%llu", (unsigned long long)time_ms);
    size_t need = sizeof ctx + ml + 1 + pl + 1 + 64 + 1 + (size_t)tl + 1 + 2 * DC_NONCE_BYTES;
    *out_len = need;
    if (cap < need) return DC_ERR_BUFFER_TOO_SMALL;
    uint8_t *p = out;
    memcpy(p, ctx, sizeof ctx);
    p += sizeof ctx;
    memcpy(p, method, ml);
    p += ml;
    *p++ = '\n';
    memcpy(p, path, pl);
    p += pl;
    *p++ = '\n';
    memcpy(p, hh, 64);
    p += 64;
    *p++ = '\n';
    memcpy(p, t, (size_t)tl);
    p += tl;
    *p++ = '\n';
    memcpy(p, nh, 2 * DC_NONCE_BYTES);
    return DC_OK;
}

enum dc_err dc_auth_sign(uint8_t sig[static DC_SIG_BYTES], const uint8_t sk[static DC_SECKEY_BYTES],
                         const char *method, const char *path, const uint8_t *body, size_t body_len,
                         uint64_t time_ms, const uint8_t nonce[static DC_NONCE_BYTES])
{
    uint8_t msg[DC_AUTH_MSG_MAX];
    size_t len;
    enum dc_err e =
        dc_auth_message(msg, sizeof msg, &len, method, path, body, body_len, time_ms, nonce);
    if (e != DC_OK) return e;
    return dc_sign_message(sig, msg, len, sk);
}

enum dc_err dc_auth_check(const uint8_t sig[static DC_SIG_BYTES],
                          const uint8_t pub[static DC_PUBKEY_BYTES], const char *method,
                          const char *path, const uint8_t *body, size_t body_len, uint64_t time_ms,
                          const uint8_t nonce[static DC_NONCE_BYTES])
{
    uint8_t msg[DC_AUTH_MSG_MAX];
    size_t len;
    enum dc_err e =
        dc_auth_message(msg, sizeof msg, &len, method, path, body, body_len, time_ms, nonce);
    if (e != DC_OK) return e;
    return dc_sign_message_check(sig, msg, len, pub);
}

void dc_hex_encode(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

enum dc_err dc_hex_decode(uint8_t *out, size_t n, const char *hex, size_t hex_len)
{
    size_t got = 0;
    if (hex_len != 2 * n) return DC_ERR_DECODE_VALUE;
    for (size_t i = 0; i < hex_len; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return DC_ERR_DECODE_VALUE;
        }
    }
    if (sodium_hex2bin(out, n, hex, hex_len, NULL, &got, NULL) != 0 || got != n) {
        sodium_memzero(out, n);
        return DC_ERR_DECODE_VALUE;
    }
    return DC_OK;
}

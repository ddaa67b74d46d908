/*
 * ducat/auth.h - signed API requests (shared by the wallet and ducatd).
 *
 * Every account request to ducatd carries four headers:
 *   X-Ducat-Key        64 hex: the device public key
 *   X-Ducat-Time       decimal ms since the Unix epoch
 *   X-Ducat-Nonce      32 hex: 16 random bytes, never reused
 *   X-Ducat-Signature  128 hex: Ed25519 by the device key over the message
 * The message is
 *   "DUCATREQ" || method || "\n" || path-with-query || "\n" ||
 *   hex(BLAKE2b-256(body)) || "\n" || time || "\n" || nonce-hex
 * so a signature binds the method, the exact target, the body, the time and
 * a nonce: nothing can be replayed elsewhere, later or twice (the server
 * keeps seen nonces for its time window). THREAD SAFETY: pure functions.
 */
#ifndef DUCAT_AUTH_H
#define DUCAT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_AUTH_MSG_MAX 2400 /* method and path are bounded by DC_AUTH_TARGET_MAX */
#define DC_AUTH_TARGET_MAX 2048

/* Builds the signed message; DC_ERR_INVALID_ARGUMENT if method + path exceed
 * DC_AUTH_TARGET_MAX or contain a newline. */
DC_MUST_CHECK enum dc_err dc_auth_message(uint8_t *out, size_t cap, size_t *out_len,
                                          const char *method, const char *path, const uint8_t *body,
                                          size_t body_len, uint64_t time_ms,
                                          const uint8_t nonce[static DC_NONCE_BYTES]);

/* Signs a request: sig = Ed25519(sk, message). */
DC_MUST_CHECK enum dc_err dc_auth_sign(uint8_t sig[static DC_SIG_BYTES],
                                       const uint8_t sk[static DC_SECKEY_BYTES], const char *method,
                                       const char *path, const uint8_t *body, size_t body_len,
                                       uint64_t time_ms,
                                       const uint8_t nonce[static DC_NONCE_BYTES]);

/* Checks a request signature: DC_OK or DC_ERR_BAD_SIGNATURE. */
DC_MUST_CHECK enum dc_err dc_auth_check(const uint8_t sig[static DC_SIG_BYTES],
                                        const uint8_t pub[static DC_PUBKEY_BYTES],
                                        const char *method, const char *path, const uint8_t *body,
                                        size_t body_len, uint64_t time_ms,
                                        const uint8_t nonce[static DC_NONCE_BYTES]);

/* Lower-case hex helpers (constant-time encoding via libsodium). hex_decode
 * requires exactly 2*n hex digits. */
void dc_hex_encode(char *out, const uint8_t *in, size_t n); /* out: 2n+1 bytes */
DC_MUST_CHECK enum dc_err dc_hex_decode(uint8_t *out, size_t n, const char *hex, size_t hex_len);

#ifdef __cplusplus
}
#endif
#endif

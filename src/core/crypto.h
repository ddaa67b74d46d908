/*
 * crypto.h - the core's only door to libsodium's signatures and hashes.
 *
 * Every signature in Ducat is Ed25519 over
 *     "DUCATSIG" || body || [previous state hash]
 * where the body starts with its type tag and version byte, so no signature
 * can be replayed as another kind of message or another version. Every hash
 * is BLAKE2b-256 over a short ASCII label, a zero byte, and the input, so no
 * hash can be confused with another purpose's.
 */
#ifndef DUCAT_CORE_CRYPTO_H
#define DUCAT_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"

/* Signs body[0..len) (+ prev, 32 bytes, if not NULL). */
void dc_sign(uint8_t sig[static DC_SIG_BYTES], const uint8_t *body, size_t len, const uint8_t *prev,
             const uint8_t sk[static DC_SECKEY_BYTES]);
/* 1 if the signature is valid (libsodium rejects non-canonical encodings and
 * small-order keys), 0 otherwise. */
int dc_sign_check(const uint8_t sig[static DC_SIG_BYTES], const uint8_t *body, size_t len,
                  const uint8_t *prev, const uint8_t pk[static DC_PUBKEY_BYTES]);

/* Incremental labelled hash. */
struct dc_hash {
    _Alignas(64) uint8_t state[384]; /* libsodium's state; size checked in crypto.c */
};
void dc_hash_init(struct dc_hash *h, const char *label);
void dc_hash_update(struct dc_hash *h, const uint8_t *p, size_t len);
void dc_hash_final(struct dc_hash *h, uint8_t out[static DC_HASH_BYTES]);

#endif

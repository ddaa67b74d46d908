/*
 * crypto.h - the only door to libsodium's Ed25519 signatures in the tree, and
 * the core's only door to its hashes (crypto.c implements it; tests/layers.sh
 * fails the build on any other caller of crypto_sign_*).
 *
 * Every signature in Ducat is Ed25519 over
 *     "DUCATSIG" || body || [previous state hash]
 * where the body starts with its type tag and version byte, so no signature
 * can be replayed as another kind of message or another version. Every hash
 * is BLAKE2b-256 over a short ASCII label, a zero byte, and the input, so no
 * hash can be confused with another purpose's.
 */
#ifndef DUCAT_CRYPTO_H
#define DUCAT_CRYPTO_H

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

/* Signs msg[0..len) as it is, for messages that begin with their own 8-byte
 * domain label other than "DUCATSIG" (the API's signed request "DUCATREQ",
 * the deposit receipt "DUCATRCP"): a message without a label, or with the
 * record label, is refused (DC_ERR_INVALID_ARGUMENT, sig zeroed), so no
 * signature made here can pass as a coin record's. */
enum dc_err dc_sign_message(uint8_t sig[static DC_SIG_BYTES], const uint8_t *msg, size_t len,
                            const uint8_t sk[static DC_SECKEY_BYTES]);
/* DC_OK if sig is a valid signature of msg by pk under the same rules,
 * DC_ERR_BAD_SIGNATURE otherwise (also for an unlabelled message). */
enum dc_err dc_sign_message_check(const uint8_t sig[static DC_SIG_BYTES], const uint8_t *msg,
                                  size_t len, const uint8_t pk[static DC_PUBKEY_BYTES]);

/* Plain BLAKE2b-256 of p[0..len), no label: only for wire formats that
 * predate labels (the signed request's body hash, docs/API.md). */
void dc_hash_plain(uint8_t out[static DC_HASH_BYTES], const uint8_t *p, size_t len);

/* Incremental labelled hash. */
struct dc_hash {
    _Alignas(64) uint8_t state[384]; /* libsodium's state; size checked in crypto.c */
};
void dc_hash_init(struct dc_hash *h, const char *label);
/* The same hash with no label: for formats that put their own domain prefix
 * first (the armor checksum, "ducat-armor" with no terminating zero). */
void dc_hash_init_plain(struct dc_hash *h);
void dc_hash_update(struct dc_hash *h, const uint8_t *p, size_t len);
void dc_hash_final(struct dc_hash *h, uint8_t out[static DC_HASH_BYTES]);

#endif

/*
 * crypto.c - domain-separated Ed25519 and labelled BLAKE2b (see crypto.h).
 * The only file in the tree that calls crypto_sign_*, and the only file of
 * the core that calls crypto_generichash_* (tests/layers.sh checks both).
 */
#include "ducat/crypto.h"

#include <sodium.h>
#include <string.h>

#include "ducat/codec.h"

static const uint8_t sig_context[8] = {'D', 'U', 'C', 'A', 'T', 'S', 'I', 'G'};

/* Longest signed message: context, a genesis body, a previous state. */
#define MSG_MAX (sizeof sig_context + DC_GENESIS_BYTES + DC_HASH_BYTES)

static size_t build_msg(uint8_t msg[static MSG_MAX], const uint8_t *body, size_t len,
                        const uint8_t *prev)
{
    size_t n = 0;
    memcpy(msg, sig_context, sizeof sig_context);
    n += sizeof sig_context;
    memcpy(msg + n, body, len);
    n += len;
    if (prev) {
        memcpy(msg + n, prev, DC_HASH_BYTES);
        n += DC_HASH_BYTES;
    }
    return n;
}

void dc_sign(uint8_t sig[static DC_SIG_BYTES], const uint8_t *body, size_t len, const uint8_t *prev,
             const uint8_t sk[static DC_SECKEY_BYTES])
{
    uint8_t msg[MSG_MAX];
    /* Bodies are fixed-size structures of this module: a longer one is a bug. */
    if (len > DC_GENESIS_BYTES) {
        memset(sig, 0, DC_SIG_BYTES);
        return;
    }
    size_t n = build_msg(msg, body, len, prev);
    crypto_sign_ed25519_detached(sig, NULL, msg, n, sk);
}

int dc_sign_check(const uint8_t sig[static DC_SIG_BYTES], const uint8_t *body, size_t len,
                  const uint8_t *prev, const uint8_t pk[static DC_PUBKEY_BYTES])
{
    uint8_t msg[MSG_MAX];
    if (len > DC_GENESIS_BYTES) return 0;
    size_t n = build_msg(msg, body, len, prev);
    return crypto_sign_ed25519_verify_detached(sig, msg, n, pk) == 0;
}

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((struct dc_hash *)0)->state),
               "dc_hash too small for libsodium's state");

/* 1 if msg starts with an 8-byte label that is not the record label. */
static int labelled(const uint8_t *msg, size_t len)
{
    return len >= sizeof sig_context && memcmp(msg, sig_context, sizeof sig_context) != 0;
}

enum dc_err dc_sign_message(uint8_t sig[static DC_SIG_BYTES], const uint8_t *msg, size_t len,
                            const uint8_t sk[static DC_SECKEY_BYTES])
{
    if (!labelled(msg, len)) {
        memset(sig, 0, DC_SIG_BYTES);
        return DC_ERR_INVALID_ARGUMENT;
    }
    crypto_sign_ed25519_detached(sig, NULL, msg, len, sk);
    return DC_OK;
}

enum dc_err dc_sign_message_check(const uint8_t sig[static DC_SIG_BYTES], const uint8_t *msg,
                                  size_t len, const uint8_t pk[static DC_PUBKEY_BYTES])
{
    if (!labelled(msg, len)) return DC_ERR_BAD_SIGNATURE;
    return crypto_sign_ed25519_verify_detached(sig, msg, len, pk) == 0 ? DC_OK
                                                                       : DC_ERR_BAD_SIGNATURE;
}

void dc_hash_plain(uint8_t out[static DC_HASH_BYTES], const uint8_t *p, size_t len)
{
    crypto_generichash(out, DC_HASH_BYTES, p, len, NULL, 0);
}

void dc_hash_init(struct dc_hash *h, const char *label)
{
    /* h is an out-parameter: init writes the whole state before any read */
    // cppcheck-suppress ctuuninitvar
    crypto_generichash_state *s = (crypto_generichash_state *)(void *)h->state;
    crypto_generichash_init(s, NULL, 0, DC_HASH_BYTES);
    crypto_generichash_update(s, (const uint8_t *)label, strlen(label) + 1);
}

void dc_hash_update(struct dc_hash *h, const uint8_t *p, size_t len)
{
    crypto_generichash_update((crypto_generichash_state *)(void *)h->state, p, len);
}

void dc_hash_init_plain(struct dc_hash *h)
{
    crypto_generichash_init((crypto_generichash_state *)(void *)h->state, NULL, 0, DC_HASH_BYTES);
}

void dc_hash_final(struct dc_hash *h, uint8_t out[static DC_HASH_BYTES])
{
    crypto_generichash_final((crypto_generichash_state *)(void *)h->state, out, DC_HASH_BYTES);
}

void dc_keypair_from_seed(uint8_t pk[static DC_PUBKEY_BYTES], uint8_t sk[static DC_SECKEY_BYTES],
                          const uint8_t seed[static DC_SEED_BYTES])
{
    crypto_sign_ed25519_seed_keypair(pk, sk, seed);
}

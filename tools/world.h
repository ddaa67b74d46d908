/*
 * world.h - a deterministic little world for coins: a master key, a signing
 * key (id 1), and three devices (Alice, Bob, Carol), all derived from fixed
 * seeds, so the self-check, the vector generator, the tests, the fuzz targets
 * and the benchmarks produce the same bytes every run.
 *
 * It lives in tools/ because tools/ducat-selfcheck and tools/ducat-vectors
 * use it and tools may not include tests/ (docs/ARCHITECTURE.md); it uses
 * the public core API only. tests/fixture.h adds what only white-box tests
 * may do (sign arbitrary bodies through the core-private crypto.h).
 */
#ifndef DUCAT_TOOLS_WORLD_H
#define DUCAT_TOOLS_WORLD_H

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/coin.h"

#define T0 1790000000000ull /* 2026-09-21T14:13:20Z, ms */
#define DAY 86400000ull
#define CNY 156u

struct party {
    uint8_t pk[DC_PUBKEY_BYTES];
    uint8_t sk[DC_SECKEY_BYTES];
    struct dc_devcert cert;
    uint8_t cert_bytes[DC_DEVCERT_BYTES];
};

struct world {
    uint8_t master_pk[DC_PUBKEY_BYTES], master_sk[DC_SECKEY_BYTES];
    uint8_t key_pk[DC_PUBKEY_BYTES], key_sk[DC_SECKEY_BYTES];
    struct dc_keycert keycert;
    uint8_t keycert_bytes[DC_KEYCERT_BYTES];
    struct party alice, bob, carol;
    struct dc_trust trust;
};

static inline void seed_of(uint8_t seed[DC_SEED_BYTES], uint8_t tag)
{
    memset(seed, tag, DC_SEED_BYTES);
}

static inline void make_party(struct world *w, struct party *p, uint8_t tag, const char *alias)
{
    uint8_t seed[DC_SEED_BYTES];
    seed_of(seed, tag);
    dc_keypair_from_seed(p->pk, p->sk, seed);
    memset(&p->cert, 0, sizeof p->cert);
    p->cert.key_id = 1;
    memcpy(p->cert.pub, p->pk, DC_PUBKEY_BYTES);
    memset(p->cert.alias, 0, DC_ALIAS_BYTES);
    memcpy(p->cert.alias, alias, strlen(alias) < DC_ALIAS_BYTES ? strlen(alias) : DC_ALIAS_BYTES);
    p->cert.expires_at = T0 + 30 * DAY;
    p->cert.offline_limit = 100000;
    dc_devcert_sign(p->cert_bytes, &p->cert, w->key_sk);
}

static inline void world_init(struct world *w)
{
    uint8_t seed[DC_SEED_BYTES];
    if (sodium_init() < 0) abort();
    memset(w, 0, sizeof *w);
    seed_of(seed, 0x4d);
    dc_keypair_from_seed(w->master_pk, w->master_sk, seed);
    seed_of(seed, 0x53);
    dc_keypair_from_seed(w->key_pk, w->key_sk, seed);
    w->keycert.key_id = 1;
    memcpy(w->keycert.pub, w->key_pk, DC_PUBKEY_BYTES);
    w->keycert.valid_from = T0 - DAY;
    w->keycert.sign_until = T0 + 90 * DAY;
    w->keycert.verify_until = T0 + 365 * DAY;
    dc_keycert_sign(w->keycert_bytes, &w->keycert, w->master_sk);
    make_party(w, &w->alice, 0xA1, "alice");
    make_party(w, &w->bob, 0xB0, "bob");
    make_party(w, &w->carol, 0xCA, "carol");
    dc_trust_init(&w->trust, w->master_pk, CNY, T0 + DAY);
    if (dc_trust_add_key(&w->trust, &w->keycert, 0) != DC_OK) abort();
}

/* The genesis issue() signs: key id 1, a serial of serial_tag bytes, CNY,
 * issued at T0, expiring at T0 + 60 days. Tests change fields or sign it
 * with another key to build what the issuer would not. */
static inline void genesis_of(struct dc_genesis *g, int64_t value, const struct party *owner,
                              uint8_t serial_tag, uint8_t hop_limit)
{
    uint8_t rnd[DC_SERIAL_RANDOM_BYTES];
    memset(g, 0, sizeof *g);
    memset(rnd, serial_tag, sizeof rnd);
    g->key_id = 1;
    dc_serial_make(g->serial, T0, rnd);
    g->currency = CNY;
    g->value = value;
    g->issued_at = T0;
    g->expires_at = T0 + 60 * DAY;
    g->hop_limit = hop_limit;
    g->owner = owner->cert;
}

/* Issues a coin of `value` to `owner` into buf; returns its length. */
static inline size_t issue(struct world *w, uint8_t *buf, size_t cap, int64_t value,
                           const struct party *owner, uint8_t serial_tag, uint8_t hop_limit)
{
    struct dc_genesis g;
    genesis_of(&g, value, owner, serial_tag, hop_limit);
    size_t len = 0;
    if (dc_coin_issue(buf, cap, &len, &g, w->key_sk) != DC_OK) abort();
    return len;
}

static inline void nonce_of(uint8_t nonce[DC_NONCE_BYTES], uint8_t tag)
{
    memset(nonce, tag, DC_NONCE_BYTES);
}

#endif

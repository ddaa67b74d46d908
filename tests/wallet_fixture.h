/*
 * wallet_fixture.h - wallets of the fixture world (fixture.h) for the
 * wallet tests and bench_offline: the parameters a sync would give and a
 * wallet for a fixture party, trusting the world's signing key.
 *
 * Header-only like fixture.h. The helpers return enum dc_err instead of
 * failing themselves, so a test asserts (its case fails, the binary goes
 * on) and the bench exits with a message.
 */
#ifndef DUCAT_TEST_WALLET_FIXTURE_H
#define DUCAT_TEST_WALLET_FIXTURE_H

#include "ducat/wallet.h"
#include "fixture.h"

/* What a sync at T0 would give: the world's master key, CNY in units of 1,
 * 32 hops, 8 split parts, coins living 60 days. */
static inline void wallet_params_of(struct dc_wallet_params *p, const struct world *w)
{
    memset(p, 0, sizeof *p);
    memcpy(p->master_pub, w->master_pk, DC_PUBKEY_BYTES);
    p->currency = CNY;
    p->base_unit = 1;
    p->max_hops = 32;
    p->max_split_parts = 8;
    p->coin_lifetime_ms = 60 * DAY;
    p->synced_at = T0;
}

/* A wallet for a fixture party: made from the party's seed tag (so its
 * device key is the party's), trusting the world's keycert, with the
 * party's devcert. *out is NULL on failure. */
static inline enum dc_err wallet_of_party(struct dc_wallet **out, const struct world *w,
                                          const struct party *p, uint8_t tag)
{
    uint8_t seed[DC_SEED_BYTES];
    struct dc_wallet_params prm;
    *out = NULL;
    seed_of(seed, tag);
    enum dc_err e = dc_wallet_create(out, seed);
    sodium_memzero(seed, sizeof seed);
    if (e != DC_OK) return e;
    wallet_params_of(&prm, w);
    e = dc_wallet_set_trust(*out, &prm, w->keycert_bytes, 1, NULL, NULL, 0);
    if (e == DC_OK) e = dc_wallet_set_devcert(*out, p->cert_bytes);
    if (e != DC_OK) {
        dc_wallet_free(*out);
        *out = NULL;
    }
    return e;
}

#endif

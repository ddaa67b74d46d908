/*
 * fixture.h - tools/world.h (the deterministic world) plus what only
 * white-box tests do: sign hand-made record bodies with any key through the
 * core-private crypto.h, as an attacker or a buggy wallet would.
 */
#ifndef DUCAT_TEST_FIXTURE_H
#define DUCAT_TEST_FIXTURE_H

#include "ducat/codec.h"
#include "ducat/crypto.h"
#include "world.h"

/* Appends a hand-made record body signed by any key over the current state
 * of the coin in b (*len bytes, room for the record assumed), then part (a
 * SPLIT part index; -1 for none): how an attacker (or a buggy wallet) builds
 * what the API refuses. Fails only if b does not decode. */
static inline enum dc_err append_raw(uint8_t *b, size_t *len, const uint8_t *body, size_t body_len,
                                     const uint8_t *sk, int part)
{
    struct dc_coin c;
    uint8_t state[DC_HASH_BYTES];
    enum dc_err e = dc_coin_decode(&c, b, *len);
    if (e != DC_OK) return e;
    dc_coin_state(state, &c, c.n);
    memcpy(b + *len, body, body_len);
    dc_sign(b + *len + body_len, body, body_len, state, sk);
    *len += body_len + DC_SIG_BYTES;
    if (part >= 0) b[(*len)++] = (uint8_t)part;
    b[2]++;
    return DC_OK;
}

#endif

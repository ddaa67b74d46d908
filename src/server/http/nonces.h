/*
 * nonces.h - the nonce cache of signed requests (replay protection) and the
 * device -> account cache of authentication. One per server (struct
 * dc_ctx.nonces), made by dc_http_serve; every function is thread-safe.
 */
#ifndef DUCAT_SERVER_NONCES_H
#define DUCAT_SERVER_NONCES_H

#include <stdint.h>

#include "server/server.h"

/* A new, empty cache with a fresh random hash key; NULL if out of memory. */
struct dc_nonces *dc_nonces_new(void);
/* Frees the cache and every entry; NULL is a no-op. */
void dc_nonces_free(struct dc_nonces *n);
/* 1 if (pub, nonce) is new (and remembers it until `expires`), 0 if seen.
 * Frees a few entries expired at `now` on the way. */
int dc_nonce_fresh(struct dc_nonces *n, const uint8_t *pub, const uint8_t *nonce, uint64_t now,
                   uint64_t expires);
/* The account of a device key seen before, 0 if not remembered. */
int64_t dc_nonces_device_account(struct dc_nonces *n, const uint8_t *pub);
/* Remembers the account of a device key (registration binds it for good). */
void dc_nonces_device_remember(struct dc_nonces *n, const uint8_t *pub, int64_t account);

#endif
